"""Free slots: the start times and days the booking pages, the CLI and the inbound answers offer.

A read model over the core's ``free_slots``/``free_days``: it loads the staff's
schedules, the closures and the service's rules for a range of local days and
asks the core; nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event, inspect
from sqlalchemy.orm import SessionTransaction, UOWTransaction
from sqlmodel import Session

from mailflow import booking as core
from mailflow.booking.model import Interval, StaffSchedule
from mailflow.services.bookings import FIRST_DAY, LAST_DAY
from mailflow.store import queries
from mailflow.store.tables import (
    Booking,
    Business,
    BusinessClosure,
    ExternalCalendar,
    Service,
    ServiceStaff,
    Staff,
    StaffTimeOff,
    pk,
)


@dataclass(frozen=True, slots=True)
class OfferedSlot:
    """A free start time with the staff member's email and name (and id, for the choice)."""

    start: datetime
    end: datetime
    staff_email: str
    staff_name: str
    staff_id: int


_SEARCHES = "mailflow_searches"  # session.info: a _Remembered, while remember_searches is on
_STAFF_ROWS = (Booking, StaffTimeOff, ExternalCalendar)
"""Rows of one staff member's schedule: a change to one makes that member's schedules stale."""
_SEARCH_ROWS = (BusinessClosure, Staff, ServiceStaff, Service, Business)
"""Rows every search reads (who performs a service, its rules, the closures): a change to one
makes everything remembered stale."""


@dataclass
class _Remembered:
    """What a session's slot searches read: who is searched, with the rules and closures, per
    (service, staff member asked for, days); each staff member's schedule per window."""

    searches: dict[tuple[Any, ...], tuple[list[Staff], dict[str, Any], Interval]] = field(
        default_factory=dict
    )
    schedules: dict[tuple[int, datetime, datetime], StaffSchedule] = field(default_factory=dict)

    def schedule_of(self, session: Session, member: Staff, window: Interval) -> StaffSchedule:
        """``queries.schedule_of``, read once per staff member and window."""
        at = (pk(member), window.start, window.end)
        if at not in self.schedules:
            self.schedules[at] = queries.schedule_of(session, member, window)
        return self.schedules[at]

    def forget(self, staff_ids: set[int] | None = None) -> None:
        """Forget the schedules of ``staff_ids``, or everything (None)."""
        if staff_ids is None:
            self.searches.clear()
            self.schedules.clear()
            return
        for key in [key for key in self.schedules if key[0] in staff_ids]:
            del self.schedules[key]


def remember_searches(session: Session) -> None:
    """Within ``session``, a slot search over the same service, staff member and days reads the
    store once (the inbound batch's offers all search the days from today on).

    What a flush changes is forgotten as it happens, so a later search sees the store as a
    fresh read would: a booking, time off or calendar row forgets its staff member's schedules
    (a booking cancelled or moved by an earlier reply of the batch), a closure, staff, service
    or business row forgets everything, and so does a savepoint of the session rolling back.
    The use cases change those rows through the ORM; a Core statement writing them in such a
    session would have to forget them itself.
    """
    session.info[_SEARCHES] = _Remembered()
    event.listen(session, "after_flush", _forget_changed)
    event.listen(session, "after_soft_rollback", _forget_rolled_back)


def _forget_changed(session: Session, _flush: UOWTransaction) -> None:
    # Still the flush's own lists and attribute histories here (SQLAlchemy resets them after).
    remembered: _Remembered = session.info[_SEARCHES]
    staff_ids: set[int] = set()
    for row in (*session.new, *session.dirty, *session.deleted):
        if isinstance(row, _SEARCH_ROWS):
            remembered.forget()
            return
        if isinstance(row, _STAFF_ROWS):
            history = inspect(row).attrs.staff_id.history  # a moved booking's former staff member too
            staff_ids.update(value for value in (row.staff_id, *history.deleted) if value is not None)
    if staff_ids:
        remembered.forget(staff_ids)


def _forget_rolled_back(session: Session, _transaction: SessionTransaction) -> None:
    # A savepoint rolled back (a refused change of the batch): a search made since may have read
    # what it undid.
    remembered: _Remembered = session.info[_SEARCHES]
    remembered.forget()


def _search(
    session: Session,
    business: Business,
    service: Service,
    day_from: date,
    day_to: date,
    staff_email: str | None,
) -> tuple[list[Staff], dict[str, Any]]:
    """The staff to search and the core's arguments for a slot search over local days
    (remembered within a session that ``remember_searches``)."""
    remembered: _Remembered | None = session.info.get(_SEARCHES)
    if remembered is not None:
        # A fresh search's first query would flush pending changes (autoflush): so does a
        # remembered one, and the flush forgets what they make stale.
        session.flush()
    key = (service.id, staff_email, day_from, day_to)
    found = remembered.searches.get(key) if remembered is not None else None
    if found is None:
        found = _read_search(session, business, service, day_from, day_to, staff_email)
        if remembered is not None:
            remembered.searches[key] = found
    members, arguments, window = found
    schedule_of = queries.schedule_of if remembered is None else remembered.schedule_of
    return members, {**arguments, "staff": [schedule_of(session, member, window) for member in members]}


def _read_search(
    session: Session,
    business: Business,
    service: Service,
    day_from: date,
    day_to: date,
    staff_email: str | None,
) -> tuple[list[Staff], dict[str, Any], Interval]:
    """Who a search looks at, the core's other arguments, and the window of their schedules."""
    members = list(queries.staff_for_service(session, service))
    if staff_email is not None:
        members = [m for m in members if m.email == staff_email.strip().lower()]
    if day_to < FIRST_DAY or day_from > LAST_DAY:
        members = []  # no free time outside the calendar
    day_from, day_to = max(day_from, FIRST_DAY), min(day_to, LAST_DAY)
    window = queries.day_window(day_from, day_to, business.timezone)
    arguments: dict[str, Any] = {
        "rules": queries.rules_of(service),
        "closures": queries.closures_of(session, business, window),
        "start_day": day_from,
        "end_day": day_to,
    }
    return members, arguments, window


def find_slots(
    session: Session,
    business: Business,
    service: Service,
    *,
    day_from: date,
    day_to: date,
    now: datetime,
    grid: timedelta,
    staff_email: str | None = None,
    exclude_booking_id: int | None = None,
    spread: bool = False,
) -> list[OfferedSlot]:
    """Free start times of ``service`` on local days ``day_from``..``day_to`` (business zone).

    ``staff_email`` restricts to one staff member (who must perform the
    service); ``exclude_booking_id`` frees the slot of a booking being moved.
    Without a staff member every free person is listed at each start, unless
    ``spread``: then each start once, with the person ``core.choose_staff``
    gives it to ("any staff member": fewest bookings that day, then round-robin).
    """
    members, arguments = _search(session, business, service, day_from, day_to, staff_email)
    if not members:
        return []
    slots = core.free_slots(**arguments, now=now, grid=grid, exclude_booking_id=exclude_booking_id)
    zone = ZoneInfo(business.timezone)
    if spread and staff_email is None:
        days = queries.local_days(day_from, day_to, business.timezone)
        ids = [pk(member) for member in members]
        loads = queries.staff_loads(session, ids, days, business.timezone, exclude_booking_id)
        slots = core.spread_slots(slots, loads, zone)
    staff = {pk(member): member for member in members}
    return FreeChunk(_by_local_day(slots, zone, day_from, day_to), staff).offered()


@dataclass(frozen=True, slots=True)
class FreeChunk:
    """The free starts of a few local days (the business's), by day, each day's in order of
    start and then staff id, with the staff they are with."""

    by_day: dict[date, list[core.Slot]]
    staff: dict[int, Staff]

    def offered(self) -> list[OfferedSlot]:
        """The starts with their staff member's email and name, as ``find_slots`` lists them."""
        return [_offered_slot(slot, self.staff) for slots in self.by_day.values() for slot in slots]


def slots_by_chunk(
    session: Session,
    business: Business,
    service: Service,
    *,
    day_from: date,
    day_to: date,
    chunk_days: int,
    first_chunks: int,
    now: datetime,
    grid: timedelta,
    exclude_booking_id: int | None = None,
) -> Iterator[FreeChunk]:
    """``find_slots`` over ``day_from``..``day_to``, ``chunk_days`` local days at a time, for a
    caller that stops once it has found enough.

    The schedules are loaded twice at most: for the first ``first_chunks`` chunks, where most
    searches end, and for the rest of the range only when the caller asks for more. (Loading
    them for every chunk cost a round of queries each; loading the whole range at once read
    three weeks of bookings for a search that looked at a week.) The chunks hold the core's
    slots: a caller that keeps a few of them makes ``OfferedSlot`` of those only.
    """
    zone = ZoneInfo(business.timezone)
    day, last = max(day_from, FIRST_DAY), min(day_to, LAST_DAY)
    head_last = min(day + timedelta(days=chunk_days * first_chunks - 1), last)
    for load_from, load_to in ((day, head_last), (head_last + timedelta(days=1), last)):
        if load_from > load_to:
            return
        members, arguments = _search(session, business, service, load_from, load_to, None)
        if not members:
            return
        staff = {pk(member): member for member in members}
        while day <= load_to:
            chunk_end = min(day + timedelta(days=chunk_days - 1), load_to)
            chunk = {**arguments, "start_day": day, "end_day": chunk_end}
            slots = core.free_slots(**chunk, now=now, grid=grid, exclude_booking_id=exclude_booking_id)
            yield FreeChunk(_by_local_day(slots, zone, day, chunk_end), staff)
            day = chunk_end + timedelta(days=1)


def _by_local_day(
    slots: Sequence[core.Slot], zone: ZoneInfo, day_from: date, day_to: date
) -> dict[date, list[core.Slot]]:
    """``slots`` on local days ``day_from``..``day_to`` in ``zone``, by day (in day order, as the
    core lists its slots by start)."""
    by_day: dict[date, list[core.Slot]] = {}
    for slot in slots:
        day = slot.start.astimezone(zone).date()
        if day_from <= day <= day_to:
            by_day.setdefault(day, []).append(slot)
    return by_day


def _offered_slot(slot: core.Slot, staff: Mapping[int, Staff]) -> OfferedSlot:
    member = staff[slot.staff_id]
    return OfferedSlot(slot.start, slot.end, member.email, member.name or member.email, slot.staff_id)


def choose_offered(
    session: Session,
    business: Business,
    found: Mapping[date, Sequence[core.Slot]],
    staff: Mapping[int, Staff],
    *,
    current_staff_id: int,
    usual_time: time,
    count: int,
    exclude_booking_id: int | None = None,
) -> list[OfferedSlot]:
    """``count`` of ``found`` (free times by local day, several staff per start) to offer by
    email, with their staff member's email and name from ``staff``.

    The choice is the core's ``choose_offers``: spread over days and times of
    day, the current staff member and the usual time first; where the offer is
    someone else, the "any staff" rule picks who, with the staff's loads.
    """
    free = [slot for slots in found.values() for slot in slots]
    if not free:
        return []
    zone = ZoneInfo(business.timezone)
    ids = sorted({slot.staff_id for slot in free})
    span = queries.local_days(min(found), max(found), business.timezone)
    loads = queries.staff_loads(session, ids, span, business.timezone, exclude_booking_id)
    # Staff in id order at each start, so the "any staff" tie-break is the store's order.
    free.sort(key=lambda slot: (slot.start, slot.staff_id))
    chosen = core.choose_offers(free, current_staff_id, usual_time, zone, count=count, loads=loads)
    return [_offered_slot(slot, staff) for slot in chosen]


def find_free_days(
    session: Session,
    business: Business,
    service: Service,
    *,
    day_from: date,
    day_to: date,
    now: datetime,
    grid: timedelta,
    staff_email: str | None = None,
    exclude_booking_id: int | None = None,
) -> set[date]:
    """The days of ``day_from``..``day_to`` with at least one free start (for a month calendar)."""
    members, arguments = _search(session, business, service, day_from, day_to, staff_email)
    if not members:
        return set()
    return core.free_days(**arguments, now=now, grid=grid, exclude_booking_id=exclude_booking_id)
