"""What the web forms and query strings carry, parsed once for every page (customer and admin).

A day is ``2026-03-03``, a time ``09:30``; a slot is ``<aware ISO start>|<staff email>``, as the
booking and reschedule pages offer it. Malformed values are "no day" or
``InvalidInput``, never a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from mailflow import services as use_cases
from mailflow.booking.localtime import resolve_local
from mailflow.errors import InvalidInput
from mailflow.i18n import N_

__all__ = ["local_time", "params_for_slot", "parse_day", "parse_slot"]


def parse_day(value: str | None) -> date | None:
    """``2026-03-03`` -> that date; None for no date, a malformed one or one outside the calendar."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    return day if use_cases.in_calendar(day) else None


def local_time(day_text: str, time_text: str, zone: str) -> datetime:
    """A wall-clock date and time in ``zone`` as an aware datetime; ``InvalidInput`` if malformed."""
    day = parse_day(day_text.strip())
    try:
        wall = time.fromisoformat(time_text.strip()) if time_text.strip() else None
    except ValueError:
        wall = None
    if day is None or wall is None:
        raise InvalidInput(N_("give the date (YYYY-MM-DD) and the time (HH:MM)"))
    return resolve_local(datetime.combine(day, wall.replace(second=0, microsecond=0)), zone, field="time")


def parse_slot(value: str) -> tuple[datetime, str]:
    """``2026-03-03T09:00:00+00:00|bob@contoso.example`` -> (aware start, staff email)."""
    start_text, _, staff = value.partition("|")
    try:
        start = datetime.fromisoformat(start_text)
    except ValueError:
        raise InvalidInput(N_("choose a time from the list")) from None
    if start.tzinfo is None or not staff or not use_cases.in_calendar(start.date()):
        raise InvalidInput(N_("choose a time from the list"))
    return start, staff


def params_for_slot(query: Mapping[str, str], slot: str, timezone: str) -> dict[str, str]:
    """Query parameters that show the day and staff member of a posted ``slot`` again."""
    params = {key: value for key, value in query.items() if key != "slot"}
    try:
        start, staff = parse_slot(slot)
    except InvalidInput:
        return params
    params["day"] = start.astimezone(ZoneInfo(timezone)).date().isoformat()
    params["staff"] = params.get("staff") or staff
    return params
