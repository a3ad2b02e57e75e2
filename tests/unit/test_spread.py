"""Spreading "any staff member" bookings: fewest that day first, then round-robin, only the free."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from mailflow.booking.model import BusyInterval, Slot
from mailflow.booking.slots import free_slots
from mailflow.booking.spread import StaffLoad, choose_staff, spread_slots
from tests.unit.factories import no_closures, rules, schedule

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = date(2026, 6, 8)
NOW = datetime(2026, 6, 1, tzinfo=UTC)
NINE_TO_FIVE = {weekday: [(time(9), time(17))] for weekday in range(7)}


def at(hour: int, minute: int = 0, day: date = MONDAY) -> datetime:
    return datetime.combine(day, time(hour, minute), BERLIN).astimezone(UTC)


def created(days_ago: int) -> datetime:
    return NOW - timedelta(days=days_ago)


def test_fewest_bookings_that_day_is_chosen() -> None:
    loads = {1: StaffLoad(1, {MONDAY: 3}), 2: StaffLoad(2, {MONDAY: 1}), 3: StaffLoad(3, {MONDAY: 2})}
    assert choose_staff([1, 2, 3], loads, MONDAY) == 2


def test_bookings_of_other_days_do_not_count() -> None:
    """Bob's busy Tuesday does not keep him from Monday's booking when Carla has more that Monday."""
    tuesday = MONDAY + timedelta(days=1)
    loads = {1: StaffLoad(1, {tuesday: 5}), 2: StaffLoad(2, {MONDAY: 1})}
    assert choose_staff([1, 2], loads, MONDAY) == 1


def test_equal_counts_go_to_the_one_booked_longest_ago() -> None:
    loads = {
        1: StaffLoad(1, {MONDAY: 1}, created(1)),
        2: StaffLoad(2, {MONDAY: 1}, created(9)),
        3: StaffLoad(3, {MONDAY: 1}, created(4)),
    }
    assert choose_staff([1, 2, 3], loads, MONDAY) == 2


def test_never_booked_comes_before_anyone_booked() -> None:
    loads = {1: StaffLoad(1, {}, created(100)), 2: StaffLoad(2, {}), 3: StaffLoad(3, {}, created(200))}
    assert choose_staff([1, 2, 3], loads, MONDAY) == 2
    assert choose_staff([1, 3, 4], loads, MONDAY) == 4  # no load known: never booked


def test_complete_ties_keep_the_order_given() -> None:
    assert choose_staff([7, 3, 5], {}, MONDAY) == 7


def test_no_candidate_is_an_error() -> None:
    with pytest.raises(ValueError, match="candidate"):
        choose_staff([], {}, MONDAY)


def test_equally_free_staff_take_turns() -> None:
    """Booking whoever is chosen, again and again, cycles through everyone before repeating."""
    loads = {staff_id: StaffLoad(staff_id, {}) for staff_id in (1, 2, 3)}
    chosen = []
    for turn in range(6):
        staff_id = choose_staff([1, 2, 3], loads, MONDAY)
        chosen.append(staff_id)
        old = loads[staff_id]
        count = old.per_day.get(MONDAY, 0) + 1
        loads[staff_id] = StaffLoad(staff_id, {MONDAY: count}, NOW + timedelta(minutes=turn))
    assert chosen == [1, 2, 3, 1, 2, 3]


def test_spread_slots_gives_each_start_once_to_the_chosen_person() -> None:
    slots = [Slot(at(10), at(10, 30), 1), Slot(at(10), at(10, 30), 2), Slot(at(9), at(9, 30), 1)]
    loads = {1: StaffLoad(1, {MONDAY: 2}), 2: StaffLoad(2, {MONDAY: 0})}
    assert spread_slots(slots, loads, BERLIN) == [Slot(at(9), at(9, 30), 1), Slot(at(10), at(10, 30), 2)]


def test_busy_or_unqualified_staff_are_never_chosen() -> None:
    """The least loaded people lose a start they are busy at, or a service they do not perform."""
    service = rules(duration=timedelta(minutes=30))
    busy_at_ten = schedule(1, weekly_hours=NINE_TO_FIVE, busy=[BusyInterval(at(10), at(10, 30), 99)])
    free_all_day = schedule(2, weekly_hours=NINE_TO_FIVE)
    # 3 has no bookings at all but does not perform the service: not among the schedules searched.
    loads = {1: StaffLoad(1, {}), 2: StaffLoad(2, {MONDAY: 4}), 3: StaffLoad(3, {})}
    staff = [busy_at_ten, free_all_day]
    found = free_slots(service, staff, start_day=MONDAY, end_day=MONDAY, now=NOW, closures=no_closures())
    spread = spread_slots(found, loads, BERLIN)
    by_start = {slot.start: slot.staff_id for slot in spread}
    assert by_start[at(10)] == 2
    assert by_start[at(9)] == 1
    assert 3 not in by_start.values()
    assert len(spread) == len(by_start)


def test_the_day_is_the_business_day() -> None:
    """A 00:30 Berlin start counts against that Berlin day, not the UTC day before."""
    tuesday = MONDAY + timedelta(days=1)
    start = at(0, 30, tuesday)
    assert start.date() == MONDAY  # 22:30Z on Monday
    slots = [Slot(start, start + timedelta(minutes=30), 1), Slot(start, start + timedelta(minutes=30), 2)]
    loads = {1: StaffLoad(1, {tuesday: 1}), 2: StaffLoad(2, {MONDAY: 1})}
    assert [slot.staff_id for slot in spread_slots(slots, loads, BERLIN)] == [2]
