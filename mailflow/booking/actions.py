"""Booking actions: create, reschedule, cancel. Pure: state in, event out.

Each action validates against the rules it is given and returns the event
describing the change; the caller (``mailflow.services``) loads that state and
persists the result in one transaction. Customers are held to the manage
policy, the customer slot grid, minimum notice, horizon and the staff member's
external busy times (their own calendars); staff are held only
to the calendar (working hours, time off, closures, other bookings, not in the
past).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from mailflow.booking.events import BookingCancelled, BookingCreated, BookingRescheduled
from mailflow.booking.localtime import to_utc
from mailflow.booking.model import (
    Actor,
    BookingState,
    BookingStatus,
    Closures,
    Origin,
    ServiceRules,
    StaffSchedule,
)
from mailflow.booking.policy import ManageReason, manage_allowed
from mailflow.booking.slots import SlotProblem, check_slot
from mailflow.errors import N_, BookingConflict, InvalidInput, PolicyRefused, SlotUnavailable


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(
            N_("{name} must include a time zone offset, e.g. 2026-03-03T10:00:00+01:00"), name=name
        )


def _check_calendar(
    rules: ServiceRules,
    schedule: StaffSchedule,
    start: datetime,
    *,
    actor: Actor,
    now: datetime,
    closures: Closures,
    grid: timedelta,
    exclude_booking_id: int | None = None,
) -> None:
    customer = actor.kind.is_customer
    problem = check_slot(
        rules,
        schedule,
        start,
        now=now,
        closures=closures,
        grid=grid if customer else None,
        enforce_notice=customer,
        exclude_booking_id=exclude_booking_id,
        honour_external=customer,
    )
    if problem is SlotProblem.TAKEN:
        raise BookingConflict(when=start.isoformat())
    if problem is not None:
        raise SlotUnavailable(problem.value, when=start.isoformat())


def _require_policy(booking: BookingState, rules: ServiceRules, actor: Actor, now: datetime) -> None:
    if booking.status != BookingStatus.CONFIRMED:
        raise PolicyRefused(ManageReason.CANCELLED.value, ref=booking.ref, already_cancelled=True)
    if actor.kind.is_customer:
        decision = manage_allowed(booking, rules, now)
        if not decision:
            raise PolicyRefused(decision.reason.value, ref=booking.ref)


def create(
    *,
    ref: str,
    service_id: int,
    customer_id: int,
    rules: ServiceRules,
    schedule: StaffSchedule,
    start: datetime,
    origin: Origin,
    actor: Actor,
    now: datetime,
    closures: Closures,
    grid: timedelta,
) -> BookingCreated:
    """Book ``start`` with the staff member of ``schedule``.

    Raises ``SlotUnavailable`` (with a stable ``problem`` code) when the time
    cannot be booked by this actor.
    """
    _require_aware(start, "start")
    _check_calendar(rules, schedule, start, actor=actor, now=now, closures=closures, grid=grid)
    start = to_utc(start)  # the end counts elapsed time, whatever the clocks do meanwhile
    booking = BookingState(
        ref=ref,
        service_id=service_id,
        staff_id=schedule.staff_id,
        customer_id=customer_id,
        origin=origin,
        status=BookingStatus.CONFIRMED,
        start=start,
        end=start + rules.duration,
    )
    return BookingCreated(booking=booking, actor=actor, at=now)


def reschedule(
    booking: BookingState,
    *,
    rules: ServiceRules,
    schedule: StaffSchedule,
    start: datetime,
    actor: Actor,
    now: datetime,
    closures: Closures,
    grid: timedelta,
) -> BookingRescheduled:
    """Move ``booking`` to ``start`` with the staff member of ``schedule``.

    The booking keeps its reference and calendar UID; its ``sequence`` and
    ``version`` rise. Raises ``PolicyRefused`` for a customer the policy does
    not allow, ``SlotUnavailable`` when the new time cannot be booked and
    ``InvalidInput`` when nothing would change.
    """
    _require_aware(start, "start")
    _require_policy(booking, rules, actor, now)
    if start == booking.start and schedule.staff_id == booking.staff_id:
        raise InvalidInput(
            N_("booking {ref} is already at {start} with that staff member"),
            ref=booking.ref,
            start=start.isoformat(),
        )
    _check_calendar(
        rules,
        schedule,
        start,
        actor=actor,
        now=now,
        closures=closures,
        grid=grid,
        exclude_booking_id=booking.booking_id,
    )
    start = to_utc(start)  # the end counts elapsed time, whatever the clocks do meanwhile
    new = replace(
        booking,
        staff_id=schedule.staff_id,
        start=start,
        end=start + rules.duration,
        sequence=booking.sequence + 1,
        version=booking.version + 1,
    )
    return BookingRescheduled(old=booking, new=new, actor=actor, at=now)


def cancel(
    booking: BookingState,
    *,
    rules: ServiceRules,
    actor: Actor,
    now: datetime,
    reason: str | None = None,
) -> BookingCancelled:
    """Cancel ``booking``; the slot is free again at once.

    Raises ``PolicyRefused`` when the booking is already cancelled, or the
    actor is a customer the policy does not allow.
    """
    _require_policy(booking, rules, actor, now)
    new = replace(
        booking,
        status=BookingStatus.CANCELLED,
        cancel_reason=(reason or "").strip() or None,
        sequence=booking.sequence + 1,
        version=booking.version + 1,
    )
    return BookingCancelled(old=booking, booking=new, actor=actor, at=now)
