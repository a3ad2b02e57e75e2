"""The formatting caches (by time of day, date and zone period) write what Babel writes uncached."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from babel.dates import format_date, format_interval, format_skeleton

from mailflow.outbound import formatting
from mailflow.outbound.formatting import _hour_skeleton, _zone, babel_locale, reading_locale

ZONES = ["Europe/Berlin", "Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"]
LOCALES = ["en", "de", "fr", "en-GB", "en_US"]


def _moments(count: int) -> list[tuple[datetime, datetime, str, str]]:
    """Appointments over two years (both sides of DST changes), lengths from none to two days."""
    rng = random.Random(20)
    out = []
    for _ in range(count):
        start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=15 * rng.randrange(0, 4 * 24 * 730))
        end = start + timedelta(minutes=rng.choice([0, 15, 45, 90, 600, 1440, 2880]))
        out.append((start, end, rng.choice(LOCALES), rng.choice(ZONES)))
    return out


@pytest.mark.parametrize(("start", "end", "locale", "timezone"), _moments(300))
def test_cached_texts_equal_babels(start: datetime, end: datetime, locale: str, timezone: str) -> None:
    zone = _zone(timezone)
    first, last = start.astimezone(zone), end.astimezone(zone)
    loc = reading_locale(locale, timezone)
    skeleton = _hour_skeleton(loc)
    assert formatting._bare_time(first, loc) == formatting._clean(
        format_skeleton(skeleton, first, tzinfo=zone, locale=loc)
    )
    assert formatting.time_span(first, last, loc) == formatting._clean(
        format_interval(first, last, skeleton, tzinfo=zone, locale=loc)
    )
    assert formatting._long_date(first.date(), loc) == format_date(first.date(), format="full", locale=loc)
    short_day = format_skeleton("MMMEd", first, tzinfo=zone, locale=loc)
    assert formatting._short_day(first.date(), loc) == short_day
    assert formatting.zone_label(first, str(babel_locale(locale))) == formatting._zone_label(
        first, str(babel_locale(locale))
    )
