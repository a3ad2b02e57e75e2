"""Dates and times for people: Babel, in the recipient's locale and time zone, zone named."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time, get_timezone_location, get_timezone_name
from babel.numbers import format_decimal

from mailflow.i18n import gettext

FALLBACK_LOCALE = "en"


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=64)
def babel_locale(locale: str) -> Locale:
    """Babel's locale for ``locale`` (``de``, ``en_GB``, ``pt-BR``), English when unknown."""
    try:
        return Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale.parse(FALLBACK_LOCALE)


def zone_label(moment: datetime, locale: str) -> str:
    """A short zone name people know ("MEZ", "EST", "CET"), else the long one."""
    loc = babel_locale(locale)
    short = get_timezone_name(moment, width="short", locale=loc)
    if short.isalpha():
        return short
    return get_timezone_name(moment, width="long", locale=loc)


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def display_zone(wanted: str | None, fallback: str) -> str:
    """``wanted`` when it is an IANA zone name this system knows (``Europe/London``), else
    ``fallback``: the one zone every time on a customer page is shown in."""
    return wanted if wanted and wanted in _known_zones() else fallback


def in_person(location: str | None) -> bool:
    """Whether an appointment at ``location`` (a service's) is at the venue: every service is,
    unless its location is an http(s) address (a video call, so online)."""
    return not (location or "").strip().lower().startswith(("http://", "https://"))


def zone_place(timezone: str, locale: str) -> str:
    """The city of a zone as people say it ("Berlin", "Londres"; ``UTC`` stays ``UTC``)."""
    return str(get_timezone_location(_zone(timezone), locale=babel_locale(locale), return_city=True))


def venue_time(start: datetime, shown_zone: str, venue_zone: str, locale: str) -> str:
    """``start`` on the venue's clock, "4:00 PM in Berlin", for an in-person appointment shown in
    another zone; "" when both clocks read the same at ``start`` (same zone, or same offset)."""
    shown, venue = start.astimezone(_zone(shown_zone)), start.astimezone(_zone(venue_zone))
    if shown.utcoffset() == venue.utcoffset():
        return ""
    time_text = format_time(venue, format="short", tzinfo=venue.tzinfo, locale=babel_locale(locale))
    return gettext(locale, "venue_time", time=time_text, place=zone_place(venue_zone, locale))


def your_time(time_text: str, locale: str) -> str:
    """ "3:00 PM your time": a time on the customer's clock, said so where the venue's stands beside."""
    return gettext(locale, "your_time", time=time_text)


@dataclass(frozen=True, slots=True)
class When:
    """The pieces of an appointment's time, formatted for one reader."""

    when: str
    date: str
    time_range: str
    timezone_name: str
    zone_label: str


@lru_cache(maxsize=4096)  # pure, and the same appointment is formatted for every email about it
def format_when(start: datetime, end: datetime, locale: str, timezone: str) -> When:
    """Format an appointment, e.g. ``Dienstag, 3. März 2026, 10:00–10:45 (MEZ)``."""
    zone = _zone(timezone)
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    loc = babel_locale(locale)
    day = format_date(local_start.date(), format="full", locale=loc)
    times = (
        f"{format_time(local_start, format='short', tzinfo=zone, locale=loc)}"
        f"–{format_time(local_end, format='short', tzinfo=zone, locale=loc)}"
    )
    label = zone_label(local_start, locale)
    return When(
        when=f"{day}, {times} ({label})",
        date=day,
        time_range=times,
        timezone_name=get_timezone_name(local_start, width="long", locale=loc),
        zone_label=label,
    )


@lru_cache(maxsize=256)
def format_duration(duration: timedelta, locale: str) -> str:
    """``45 min`` / ``1 h 30 min`` (units are the same in English, German and French)."""
    minutes = int(duration.total_seconds() // 60)
    hours, rest = divmod(minutes, 60)
    loc = babel_locale(locale)
    if hours and rest:
        return f"{format_decimal(hours, locale=loc)} h {format_decimal(rest, locale=loc)} min"
    if hours:
        return f"{format_decimal(hours, locale=loc)} h"
    return f"{format_decimal(rest, locale=loc)} min"
