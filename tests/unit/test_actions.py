"""Booking actions: customers are held to the policy and the calendar, staff to the calendar only."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mailflow.booking import (
    Actor,
    ActorKind,
    BookingStatus,
    BusyInterval,
    Origin,
    cancel,
    create,
    reschedule,
)
from mailflow.errors import InvalidInput, PolicyRefused, SlotUnavailable
from tests.unit.factories import START, booking, no_closures, rules, schedule

CUSTOMER = Actor(ActorKind.CUSTOMER_LINK, "ada@example.com")
STAFF = Actor(ActorKind.STAFF, "bob@contoso.example")
NOW = START - timedelta(days=2)
GRID = timedelta(minutes=15)


def _create(start=START, actor=STAFF, sched=None, **kw):  # type: ignore[no-untyped-def]
    return create(
        ref="BK-NEW234",
        service_id=1,
        customer_id=1,
        rules=kw.pop("service_rules", rules()),
        schedule=sched or schedule(),
        start=start,
        origin=Origin.STAFF if actor is STAFF else Origin.SELF_SERVICE,
        actor=actor,
        now=kw.pop("now", NOW),
        closures=no_closures(),
        grid=GRID,
    )


def test_create_returns_a_confirmed_booking_with_the_service_duration() -> None:
    """Creating books the service's duration and reports who did it."""
    event = _create()
    assert event.booking.status is BookingStatus.CONFIRMED
    assert event.booking.end - event.booking.start == timedelta(minutes=45)
    assert event.booking.sequence == 0
    assert event.actor is STAFF


def test_staff_may_book_off_grid_but_customers_may_not() -> None:
    """10:10 is fine for staff; customers get the not-on-grid problem."""
    off_grid = START + timedelta(minutes=10)
    assert _create(off_grid).booking.start == off_grid
    with pytest.raises(SlotUnavailable) as caught:
        _create(off_grid, actor=CUSTOMER)
    assert caught.value.problem == "not_on_grid"


def test_staff_are_not_held_to_minimum_notice() -> None:
    """Minimum notice protects the business from customers, not from its own staff."""
    tight = rules(min_notice=timedelta(hours=4))
    now = START - timedelta(hours=1)
    assert _create(now=now, service_rules=tight).booking.start == START
    with pytest.raises(SlotUnavailable) as caught:
        _create(actor=CUSTOMER, now=now, service_rules=tight)
    assert caught.value.problem == "too_soon"


def test_create_refuses_a_taken_slot_for_everyone() -> None:
    """An overlapping confirmed booking makes the slot unavailable, even for staff."""
    taken = schedule(busy=[BusyInterval(START + timedelta(minutes=30), START + timedelta(minutes=75), 3)])
    with pytest.raises(SlotUnavailable) as caught:
        _create(sched=taken)
    assert caught.value.problem == "taken"


def test_create_refuses_naive_times() -> None:
    """A start without a zone is ambiguous and refused with a hint."""
    with pytest.raises(InvalidInput, match="offset"):
        _create(START.replace(tzinfo=None))


def test_customer_reschedule_of_staff_booking_with_setting_off_is_refused() -> None:
    """The policy decides, and its reason travels with the error."""
    with pytest.raises(PolicyRefused) as caught:
        reschedule(
            booking(origin=Origin.STAFF),
            rules=rules(),
            schedule=schedule(),
            start=START + timedelta(hours=1),
            actor=CUSTOMER,
            now=NOW,
            closures=no_closures(),
            grid=GRID,
        )
    assert caught.value.reason == "origin_staff_and_setting_off"


def test_staff_reschedule_ignores_the_policy_and_raises_sequence() -> None:
    """Staff move a staff-made booking; the sequence and version rise, the ref stays."""
    old = booking(origin=Origin.STAFF)
    event = reschedule(
        old,
        rules=rules(),
        schedule=schedule(staff_id=2),
        start=START + timedelta(hours=1),
        actor=STAFF,
        now=START - timedelta(minutes=5),
        closures=no_closures(),
        grid=GRID,
    )
    assert event.new.ref == old.ref
    assert (event.new.sequence, event.new.version) == (old.sequence + 1, old.version + 1)
    assert event.staff_changed
    assert event.new.end - event.new.start == timedelta(minutes=45)


def test_reschedule_may_overlap_the_bookings_own_old_slot() -> None:
    """Moving by 15 minutes is possible although the old slot is still in the busy list."""
    old = booking()
    own = schedule(busy=[BusyInterval(old.start, old.end, old.booking_id)])
    event = reschedule(
        old,
        rules=rules(),
        schedule=own,
        start=old.start + timedelta(minutes=15),
        actor=CUSTOMER,
        now=NOW,
        closures=no_closures(),
        grid=GRID,
    )
    assert event.new.start == old.start + timedelta(minutes=15)


def test_reschedule_to_the_same_time_and_staff_is_rejected() -> None:
    """A move that changes nothing is an input error, not a new sequence number."""
    with pytest.raises(InvalidInput):
        reschedule(
            booking(),
            rules=rules(),
            schedule=schedule(),
            start=START,
            actor=STAFF,
            now=NOW,
            closures=no_closures(),
            grid=GRID,
        )


def test_cancel_records_the_reason_and_raises_sequence() -> None:
    """Cancelling keeps the trimmed reason and bumps the calendar sequence."""
    event = cancel(booking(), rules=rules(), actor=CUSTOMER, now=NOW, reason="  ill  ")
    assert event.booking.status is BookingStatus.CANCELLED
    assert event.reason == "ill"
    assert event.booking.sequence == 1


def test_customer_cancel_past_cutoff_is_refused_but_staff_may() -> None:
    """Inside the cut-off only staff can still cancel."""
    cutoff = rules(change_cutoff=timedelta(hours=24))
    late = START - timedelta(hours=2)
    with pytest.raises(PolicyRefused) as caught:
        cancel(booking(), rules=cutoff, actor=CUSTOMER, now=late)
    assert caught.value.reason == "past_cutoff"
    assert cancel(booking(), rules=cutoff, actor=STAFF, now=late).booking.status is BookingStatus.CANCELLED


def test_cancelled_booking_cannot_be_cancelled_or_moved_again() -> None:
    """Even staff get a clear refusal for a booking that is already cancelled."""
    gone = booking(status=BookingStatus.CANCELLED)
    with pytest.raises(PolicyRefused, match="already cancelled"):
        cancel(gone, rules=rules(), actor=STAFF, now=NOW)
    with pytest.raises(PolicyRefused):
        reschedule(
            gone,
            rules=rules(),
            schedule=schedule(),
            start=START + timedelta(hours=1),
            actor=STAFF,
            now=NOW,
            closures=no_closures(),
            grid=GRID,
        )
