"""Dates and times for people: Babel, in the recipient's locale and time zone, zone named."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.dates import (
    format_date,
    format_interval,
    format_skeleton,
    format_time,
    get_timezone_location,
    get_timezone_name,
)
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
    """A short zone name people know: the locale's own when it has one ("MEZ" in German, "GMT"
    and "BST" in British English), else the zone's abbreviation ("CET", "EST", "JST"), else the
    long name (a zone known only by its offset, "+04", is better named in words than as "GMT+4")."""
    # Once per zone, year, offset and abbreviation: every moment of such a period has one label.
    key = (moment.tzinfo, moment.year, moment.utcoffset(), moment.dst(), moment.tzname(), locale)
    label = _ZONE_LABELS.get(key)
    if label is None:
        if len(_ZONE_LABELS) >= 4096:
            _ZONE_LABELS.clear()
        label = _ZONE_LABELS[key] = _zone_label(moment, locale)
    return label


_ZONE_LABELS: dict[tuple[object, ...], str] = {}


def _zone_label(moment: datetime, locale: str) -> str:
    loc = babel_locale(locale)
    short = get_timezone_name(moment, width="short", locale=loc)
    if short.isalpha():
        return short
    abbreviation = moment.tzname() or ""
    if abbreviation.isalpha():
        return abbreviation
    return get_timezone_name(moment, width="long", locale=loc)


@lru_cache(maxsize=256)
def reading_locale(locale: str, timezone: str) -> Locale:
    """The Babel locale dates are written in for a reader of ``locale`` in ``timezone``.

    A locale with a region (``en-GB``, ``en_US``) is taken as it is. Bare English has no one
    style, so the reader's zone decides: in Europe the British one ("Thursday, 10 December 2026,
    10:00–10:30"), elsewhere the English of the zone's country when Babel has it (``en_AU``,
    ``en_CA``, ``en_US``: "10:00–10:30 AM"), else American English. Other bare languages keep
    their own style (German is German in Berlin and in New York).
    """
    loc = babel_locale(locale)
    if loc.territory or loc.language != "en":
        return loc
    if timezone.startswith("Europe/"):
        return babel_locale("en_GB")
    territory = get_global("zone_territories").get(timezone)
    return babel_locale(f"en_{territory}") if territory else loc


_SPACE_BEFORE_AM_PM = re.compile(r" (?=[AaPp]\.?[Mm]\b)")


def _clean(text: str) -> str:
    # CLDR's thin spaces around the dash read as a gap in most mail fonts; its narrow no-break
    # space before AM/PM is missing from older ones: a plain dash, a no-break space.
    text = text.replace("\u2009–\u2009", "–").replace("\u202f", "\u00a0")
    return _SPACE_BEFORE_AM_PM.sub("\u00a0", text)


def _hour_skeleton(loc: Locale) -> str:
    """``Hm`` where the locale writes 24-hour times, ``hm`` where it writes AM and PM."""
    pattern = loc.time_formats["short"].pattern
    return "hm" if "h" in pattern or "a" in pattern else "Hm"


# Babel takes 20-60 µs a call; an email writes its appointment's times and dates several ways,
# and a sweep writes thousands of emails about the same few days and times of day. What a text
# depends on (a time of day, a date, a zone's period) is the key of a cache of its own.
_A_DAY = date(2000, 1, 3)


def _bare_time(moment: datetime, loc: Locale) -> str:
    return _bare_time_at(moment.time(), loc)


@lru_cache(maxsize=2048)
def _bare_time_at(clock: time, loc: Locale) -> str:
    return _clean(format_skeleton(_hour_skeleton(loc), datetime.combine(_A_DAY, clock), locale=loc))


@lru_cache(maxsize=4096)
def _long_date(day: date, loc: Locale) -> str:
    return format_date(day, format="full", locale=loc)


@lru_cache(maxsize=4096)
def _short_day(day: date, loc: Locale) -> str:
    return format_skeleton("MMMEd", datetime.combine(day, time(12)), locale=loc)


@lru_cache(maxsize=4096)
def _weekday(day: date, loc: Locale) -> str:
    return format_date(day, "EEEE", locale=loc)


def clock_time(moment: datetime, loc: Locale, locale: str) -> str:
    """One time of day as the reader says it: "11:00", "11:00 AM", "11:00 Uhr"."""
    return gettext(locale, "clock_time", time=_bare_time(moment, loc))


def time_span(start: datetime, end: datetime, loc: Locale) -> str:
    """A range of times as written after a date: "10:00–10:30", "10:00–10:30 AM",
    "10:00–10:30 Uhr" (CLDR's interval formats; German names the hour once, at the end)."""
    if start != end and start.time() == end.time():  # a day or more apart (rare): written as it is
        return _clean(format_interval(start, end, _hour_skeleton(loc), tzinfo=start.tzinfo, locale=loc))
    return _time_span_at(start.time(), end.time(), loc)


@lru_cache(maxsize=4096)
def _time_span_at(start: time, end: time, loc: Locale) -> str:
    """The span's text depends on its times of day alone (the skeleton has no date fields)."""
    first, last = datetime.combine(_A_DAY, start), datetime.combine(_A_DAY, end)
    return _clean(format_interval(first, last, _hour_skeleton(loc), locale=loc))


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


def venue_time(
    start: datetime, shown_zone: str, venue_zone: str, locale: str, *, regional: bool = False
) -> str:
    """``start`` on the venue's clock, "4:00 PM in Berlin", for an in-person appointment shown in
    another zone; "" when both clocks read the same at ``start`` (same zone, or same offset)."""
    shown, venue = start.astimezone(_zone(shown_zone)), start.astimezone(_zone(venue_zone))
    if shown.utcoffset() == venue.utcoffset():
        return ""
    if regional:  # an email: the reader's regional style, as its other times (``format_when``)
        time_text = _bare_time(venue, reading_locale(locale, shown_zone))
    else:
        time_text = format_time(venue, format="short", tzinfo=venue.tzinfo, locale=babel_locale(locale))
    return gettext(locale, "venue_time", time=time_text, place=zone_place(venue_zone, locale))


def your_time(time_text: str, locale: str) -> str:
    """ "3:00 PM your time": a time on the customer's clock, said so where the venue's stands beside."""
    return gettext(locale, "your_time", time=time_text)


@dataclass(frozen=True, slots=True)
class When:
    """The pieces of an appointment's time, formatted for one reader."""

    when: str
    """Day, times and zone: "Wednesday, 9 December 2026, 10:00–10:30 (CET)"."""
    date: str
    time_range: str
    timezone_name: str
    """The short zone name ("MEZ", "GMT", "EST"): the same in every part of every email."""
    zone_label: str
    day_time: str
    """The short day and start for subjects: "Thu 10 Dec, 11:00", "Do., 10. Dez., 11:00 Uhr"."""
    spoken_range: str
    """The times as a sentence says them: "from 10:00 to 10:30", "von 10:00 bis 10:30 Uhr"."""


@lru_cache(maxsize=4096)  # pure, and the same appointment is formatted for every email about it
def format_when(
    start: datetime, end: datetime, locale: str, timezone: str, *, regional: bool = False
) -> When:
    """Format an appointment, e.g. ``Dienstag, 3. März 2026, 10:00–10:45 Uhr (MEZ)``.

    ``regional`` (emails): the style of ``reading_locale`` (British or American English by
    region) and CLDR's ranges ("10:00–10:45 Uhr", "10:00–10:45 AM"); without it (the pages,
    for now) the language's own style, each time written out ("10:00 AM–10:45 AM"). The zone
    is the short name of ``zone_label`` either way.
    """
    zone = _zone(timezone)
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    loc = reading_locale(locale, timezone) if regional else babel_locale(locale)
    day = _long_date(local_start.date(), loc)
    if regional:
        times = time_span(local_start, local_end, loc)
    else:
        times = (
            f"{format_time(local_start, format='short', tzinfo=zone, locale=loc)}"
            f"–{format_time(local_end, format='short', tzinfo=zone, locale=loc)}"
        )
    label = zone_label(local_start, str(loc))
    short_day = _short_day(local_start.date(), loc)
    spoken = gettext(locale, "time_span", start=_bare_time(local_start, loc), end=_bare_time(local_end, loc))
    return When(
        when=f"{day}, {times} ({label})",
        date=day,
        time_range=times,
        timezone_name=label,
        zone_label=label,
        day_time=f"{short_day}, {clock_time(local_start, loc, locale)}",
        spoken_range=spoken,
    )


def soon_day_time(start: datetime, now: datetime, locale: str, timezone: str) -> str:
    """When a reminder's appointment is, from ``now``: "today, 11:00", "tomorrow, 11:00",
    "Thursday, 11:00" within the week, else the short day ("Thu 17 Dec, 11:00")."""
    zone = _zone(timezone)
    local_start = start.astimezone(zone)
    days = (local_start.date() - now.astimezone(zone).date()).days
    loc = reading_locale(locale, timezone)
    time_text = clock_time(local_start, loc, locale)
    if days == 0:
        return gettext(locale, "today_at", time=time_text)
    if days == 1:
        return gettext(locale, "tomorrow_at", time=time_text)
    if 1 < days < 7:
        return f"{_weekday(local_start.date(), loc)}, {time_text}"
    return format_when(start, start, locale, timezone, regional=True).day_time


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


def tel_url(phone: str | None) -> str:
    """A ``tel:`` link for a phone number as people write it ("+49 30 1234567" -> "tel:+49301234567").

    RFC 3966 allows only digits (and a leading "+") in the number; "" when nothing is left.
    """
    digits = "".join(ch for ch in (phone or "") if ch.isdigit())
    if not digits:
        return ""
    return f"tel:{'+' if (phone or '').lstrip().startswith('+') else ''}{digits}"
