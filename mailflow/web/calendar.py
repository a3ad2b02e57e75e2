"""The 30-day calendar of the booking and reschedule pages: free days, staff choice, a day's times.

Everything is shown in one zone, the page's (``zone``: the customer's, or the one chosen with
``tz=``), named on the page. The days are that zone's days too: a slot belongs to the day its
start falls on in the shown zone, so "Tuesday 15:00" is on Tuesday's tile wherever the venue is.
For an in-person service in a zone whose clock differs, each time also gives the venue's.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from sqlmodel import Session

from mailflow import services as use_cases
from mailflow.outbound.formatting import babel_locale, in_person, venue_time, your_time, zone_place
from mailflow.store import queries
from mailflow.web.forms import parse_day

if TYPE_CHECKING:
    from mailflow.services.free_slots import OfferedSlot
    from mailflow.store.tables import Business, Service

__all__ = ["CALENDAR_DAYS", "COMMON_ZONES", "calendar_context", "zone_choices"]

CALENDAR_DAYS = 30
COMMON_ZONES = (
    "Europe/Berlin",
    "Europe/Vienna",
    "Europe/Zurich",
    "Europe/London",
    "Europe/Paris",
    "Europe/Madrid",
    "Europe/Rome",
    "Europe/Amsterdam",
    "Europe/Warsaw",
    "Europe/Stockholm",
    "Europe/Athens",
    "Europe/Istanbul",
    "Europe/Kyiv",
    "Europe/Moscow",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Toronto",
    "America/Sao_Paulo",
    "America/Mexico_City",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
    "Africa/Johannesburg",
    "UTC",
)


def zone_choices(business_zone: str, chosen: str) -> list[str]:
    """The zones a page offers: the business's, the common ones, and ``chosen`` when it is another."""
    zones = list(dict.fromkeys([business_zone, *COMMON_ZONES]))
    if chosen not in zones:
        zones.insert(0, chosen)
    return zones


def calendar_context(
    session: Session,
    business: Business,
    service: Service,
    locale: str,
    base_path: str,
    *,
    zone: str,
    now: datetime,
    grid: timedelta,
    params: Mapping[str, str],
    exclude_booking_id: int | None = None,
) -> dict[str, Any]:
    """The 30-day calendar, the staff choice and the chosen day's free slots, in ``zone``.

    ``params`` are the page's query parameters (``from``, ``day``, ``staff``,
    ``slot``: a time to show selected), or after a failed POST the ones that bring
    the customer back to their choice; ``zone`` is a known zone name (see
    ``display_zone``), carried in every link as ``tz``.
    """
    shown = ZoneInfo(zone)
    today = now.astimezone(shown).date()
    first = max(parse_day(params.get("from")) or today, today)
    wanted_day = parse_day(params.get("day"))
    if wanted_day is not None and not first <= wanted_day < first + timedelta(days=CALENDAR_DAYS):
        first = max(wanted_day, today)
    last = first + timedelta(days=CALENDAR_DAYS - 1)
    members = list(queries.staff_for_service(session, service))
    staff_choice = params.get("staff", "any")
    if staff_choice != "any" and staff_choice not in {m.email for m in members}:
        staff_choice = "any"
    search: dict[str, Any] = {
        "now": now,
        "grid": grid,
        "staff_email": None if staff_choice == "any" else staff_choice,
        "exclude_booking_id": exclude_booking_id,
    }
    free = _free_days(session, business, service, zone, first, last, search)
    day = wanted_day if wanted_day in free else min(free, default=wanted_day or first)
    day_slots = _starts(session, business, service, zone, day, day, search, spread=True)
    loc = babel_locale(locale)
    at_venue = in_person(service.location)

    def href(**changes: str) -> str:
        query = {
            "lang": locale,
            "tz": zone,
            "staff": staff_choice,
            "from": first.isoformat(),
            "day": day.isoformat(),
        }
        query.update(changes)
        return f"{base_path}?{urlencode(query)}"

    days = [
        {
            "date": d,
            "number": format_date(d, "d", locale=loc),
            "month": format_date(d, "MMM", locale=loc) if d == first or d.day == 1 else "",
            "label": format_date(d, "EEEE d MMMM", locale=loc),
            "free": d in free,
            "selected": d == day,
            "href": href(day=d.isoformat()),
        }
        for d in (first + timedelta(days=i) for i in range(CALENDAR_DAYS))
    ]
    week_start = loc.first_week_day  # 0 = Monday
    monday = date(2024, 1, 1)  # a Monday: the names of the week's days from it
    weekdays = [
        format_date(monday + timedelta(days=(week_start + i) % 7), "EEE", locale=loc) for i in range(7)
    ]
    previous = first - timedelta(days=CALENDAR_DAYS)
    values = [f"{slot.start.astimezone(UTC).isoformat()}|{slot.staff_email}" for slot in day_slots]
    # ``slot`` (a link of a ``reschedule_options`` email) selects that time if it is still free;
    # only the page's POST form changes anything.
    wanted_slot = params.get("slot", "")
    offered = []
    for slot, value in zip(day_slots, values, strict=True):
        time_text = format_time(slot.start.astimezone(shown), "short", locale=loc)
        venue = venue_time(slot.start, zone, business.timezone, locale) if at_venue else ""
        offered.append(
            {
                "value": value,
                "time": your_time(time_text, locale) if venue else time_text,
                "venue": venue,
                "staff_name": slot.staff_name,
                "href": href(slot=value),
                "selected": value == wanted_slot,
            }
        )
    return {
        "days": days,
        "weekdays": weekdays,
        "first_offset": (first.weekday() - week_start) % 7,
        "day": day.isoformat(),
        "day_label": format_date(day, "full", locale=loc),
        "from_day": first.isoformat(),
        "prev_href": href(**{"from": max(previous, today).isoformat(), "day": ""}) if first > today else None,
        "next_href": href(**{"from": (first + timedelta(days=CALENDAR_DAYS)).isoformat(), "day": ""}),
        "staff_options": [{"email": m.email, "name": m.name or m.email} for m in members],
        "staff_choice": staff_choice,
        "zone": zone,
        "zone_place": zone_place(zone, locale),
        "zones": zone_choices(business.timezone, zone),
        "slots": offered,
        "slot_selected": wanted_slot in values,
        "slot_gone": bool(wanted_slot) and wanted_slot not in values,
    }


def _free_days(
    session: Session,
    business: Business,
    service: Service,
    zone: str,
    first: date,
    last: date,
    search: dict[str, Any],
) -> set[date]:
    """The days ``first``..``last`` of ``zone`` with a free start. In the business's own zone the
    core's day search answers (it stops at a day's first free start); in another, a day of
    ``zone`` overlaps two of the business's, so the starts themselves are read."""
    if zone == business.timezone:
        return use_cases.find_free_days(session, business, service, day_from=first, day_to=last, **search)
    shown = ZoneInfo(zone)
    starts = _starts(session, business, service, zone, first, last, search, spread=False)
    return {slot.start.astimezone(shown).date() for slot in starts}


def _starts(
    session: Session,
    business: Business,
    service: Service,
    zone: str,
    first: date,
    last: date,
    search: dict[str, Any],
    *,
    spread: bool,
) -> list[OfferedSlot]:
    """The free starts on the days ``first``..``last`` of ``zone`` (``spread``: "any staff member"
    gives each time once, with the person the booking is spread to). The search covers the
    business's days one either side when the zones differ, and keeps the starts on ``zone``'s."""
    if zone == business.timezone:
        return use_cases.find_slots(
            session, business, service, day_from=first, day_to=last, spread=spread, **search
        )
    shown = ZoneInfo(zone)
    around = use_cases.find_slots(
        session,
        business,
        service,
        day_from=first - timedelta(days=1),
        day_to=last + timedelta(days=1),
        spread=spread,
        **search,
    )
    return [slot for slot in around if first <= slot.start.astimezone(shown).date() <= last]
