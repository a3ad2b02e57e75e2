"""The 30-day calendar of the booking and reschedule pages: free days, staff choice, a day's times."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from sqlmodel import Session

from mailflow import services as use_cases
from mailflow.outbound.formatting import babel_locale
from mailflow.store import queries
from mailflow.web.forms import parse_day

if TYPE_CHECKING:
    from mailflow.store.tables import Business, Service

__all__ = ["CALENDAR_DAYS", "calendar_context"]

CALENDAR_DAYS = 30


def calendar_context(
    session: Session,
    business: Business,
    service: Service,
    locale: str,
    base_path: str,
    *,
    now: datetime,
    grid: timedelta,
    params: Mapping[str, str],
    exclude_booking_id: int | None = None,
) -> dict[str, Any]:
    """The 30-day calendar, the staff choice and the chosen day's free slots.

    ``params`` are the page's query parameters (``from``, ``day``, ``staff``,
    ``slot``: a time to show selected),
    or after a failed POST the ones that bring the customer back to their choice.
    """
    zone = ZoneInfo(business.timezone)
    today = now.astimezone(zone).date()
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
    # The month needs only which days have a free time; the full list is for the chosen day.
    free = use_cases.find_free_days(session, business, service, day_from=first, day_to=last, **search)
    day = wanted_day if wanted_day in free else min(free, default=wanted_day or first)
    # "any staff member": each time once, with the person the booking is spread to.
    day_slots = use_cases.find_slots(
        session, business, service, day_from=day, day_to=day, spread=True, **search
    )
    loc = babel_locale(locale)

    def href(**changes: str) -> str:
        query = {"lang": locale, "staff": staff_choice, "from": first.isoformat(), "day": day.isoformat()}
        query.update(changes)
        return f"{base_path}?{urlencode(query)}"

    days = [
        {
            "date": d,
            "label": format_date(d, "d MMM", locale=loc),
            "weekday": format_date(d, "EEE", locale=loc),
            "free": d in free,
            "selected": d == day,
            "href": href(day=d.isoformat()),
        }
        for d in (first + timedelta(days=i) for i in range(CALENDAR_DAYS))
    ]
    previous = first - timedelta(days=CALENDAR_DAYS)
    values = [f"{slot.start.astimezone(UTC).isoformat()}|{slot.staff_email}" for slot in day_slots]
    # ``slot`` (a link of a ``reschedule_options`` email) selects that time if it is still free;
    # only the page's POST form changes anything.
    wanted_slot = params.get("slot", "")
    offered = [
        {
            "value": value,
            "time": format_time(slot.start.astimezone(zone), "short", locale=loc),
            "staff_name": slot.staff_name,
            "href": href(slot=value),
            "selected": value == wanted_slot,
        }
        for slot, value in zip(day_slots, values, strict=True)
    ]
    return {
        "days": days,
        "day": day.isoformat(),
        "day_label": format_date(day, "full", locale=loc),
        "from_day": first.isoformat(),
        "prev_href": href(**{"from": max(previous, today).isoformat(), "day": ""}) if first > today else None,
        "next_href": href(**{"from": (first + timedelta(days=CALENDAR_DAYS)).isoformat(), "day": ""}),
        "staff_options": [{"email": m.email, "name": m.name or m.email} for m in members],
        "staff_choice": staff_choice,
        "slots": offered,
        "slot_selected": wanted_slot in values,
        "slot_gone": bool(wanted_slot) and wanted_slot not in values,
    }
