"""Time off: a staff member's absences (holidays, appointments), entered, listed and removed.

Times are the staff member's local times (their time zone, by default the
business's). Entering time off over confirmed bookings is never silent: it
returns the bookings it affects, so staff can move them (the bookings
themselves stay as they are).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import col, select

from mailflow.booking.model import Actor
from mailflow.errors import InvalidInput, NotFound
from mailflow.i18n import N_
from mailflow.services.bookings import in_calendar
from mailflow.services.common import LIMITS, audit, check_text
from mailflow.services.staff import Changed, affected_bookings, aware
from mailflow.store import queries
from mailflow.store.engine import read_session, write_session
from mailflow.store.tables import MAX_INTEGER, Staff, StaffTimeOff, pk


@dataclass(frozen=True, slots=True)
class TimeOffView:
    id: int
    staff: str
    start: datetime
    end: datetime
    reason: str
    timezone: str

    def to_json(self) -> dict[str, Any]:
        zone = ZoneInfo(self.timezone)
        return {
            "id": self.id,
            "staff": self.staff,
            "start": self.start.astimezone(zone).isoformat(),
            "end": self.end.astimezone(zone).isoformat(),
            "reason": self.reason,
        }


def _time_off_view(member: Staff, row: StaffTimeOff) -> TimeOffView:
    return TimeOffView(pk(row), member.email, row.start, row.end, row.note, member.timezone)


def add_time_off(
    engine: Engine,
    business: str | None,
    email: str,
    *,
    start: datetime,
    end: datetime,
    reason: str = "",
    actor: Actor,
    now: datetime,
) -> Changed[TimeOffView]:
    """Block ``[start, end)`` for a staff member (times without an offset are in their zone).

    Returns the confirmed bookings inside it as ``affected``. Raises ``InvalidInput`` for a
    reversed range or one overlapping time off already entered.
    """
    with write_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        member = queries.staff_by_email(session, biz, email)
        for value, field in ((start, "from"), (end, "to")):
            if not in_calendar(value.date()):  # its own date: no conversion can overflow
                raise InvalidInput(N_("choose times from 1970 to 8999"), field=field)
        first, last = aware(start, member.timezone, "from"), aware(end, member.timezone, "to")
        if last <= first:
            raise InvalidInput(N_("the time off ends before it starts"), field="to")
        clash = session.exec(
            select(StaffTimeOff).where(
                StaffTimeOff.staff_id == member.id,
                col(StaffTimeOff.start) < last,
                col(StaffTimeOff.end) > first,
            )
        ).first()
        if clash is not None:
            raise InvalidInput(
                N_("overlaps time off already entered (id {id}): remove or change that first"),
                id=clash.id,
                field="from",
            )
        row = StaffTimeOff(
            staff_id=pk(member), start=first, end=last, note=check_text(reason, "reason", LIMITS["label"])
        )
        session.add(row)
        session.flush()
        view = _time_off_view(member, row)
        audit(
            session,
            business_id=pk(biz),
            action="staff.time_off_added",
            actor=actor,
            at=now,
            after=view.to_json(),
        )
        return Changed(view, affected_bookings(session, biz, first, last, pk(member)))


def list_time_off(engine: Engine, business: str | None, email: str) -> list[TimeOffView]:
    """A staff member's time off, by start."""
    with read_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        member = queries.staff_by_email(session, biz, email)
        rows = session.exec(
            select(StaffTimeOff).where(StaffTimeOff.staff_id == member.id).order_by(col(StaffTimeOff.start))
        )
        return [_time_off_view(member, row) for row in rows]


def remove_time_off(
    engine: Engine,
    business: str | None,
    time_off_id: int,
    *,
    actor: Actor,
    now: datetime,
    staff: str | None = None,
) -> TimeOffView:
    """Remove one period of time off (of ``staff`` when given). ``NotFound`` for another business's."""
    with write_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        row = session.get(StaffTimeOff, time_off_id) if 0 < time_off_id <= MAX_INTEGER else None
        member = session.get(Staff, row.staff_id) if row is not None else None
        if row is None or member is None or member.business_id != biz.id:
            raise NotFound(N_("time off"), str(time_off_id))
        if staff is not None and member.email != staff.strip().lower():
            raise NotFound(N_("time off"), str(time_off_id))
        view = _time_off_view(member, row)
        session.delete(row)
        audit(
            session,
            business_id=pk(biz),
            action="staff.time_off_removed",
            actor=actor,
            at=now,
            before=view.to_json(),
        )
        return view
