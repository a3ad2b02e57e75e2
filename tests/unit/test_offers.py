"""The free times offered by email: spread over days and times of day, the current staff first."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from mailflow.booking.model import Slot
from mailflow.booking.offers import choose_offers
from mailflow.booking.spread import StaffLoad

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = date(2026, 6, 8)
CURRENT, OTHER, THIRD = 1, 2, 3


def slot(day: int, hour: int, minute: int = 0, staff: int = CURRENT) -> Slot:
    """A 30-minute slot on ``MONDAY + day`` at local ``hour:minute`` in Berlin."""
    start = datetime.combine(MONDAY + timedelta(days=day), time(hour, minute), BERLIN).astimezone(UTC)
    return Slot(start, start + timedelta(minutes=30), staff)


def grid(days: range, staff: tuple[int, ...] = (CURRENT,)) -> list[Slot]:
    """Every quarter hour from 9:00 to 17:00 on ``days``, for each of ``staff``."""
    return [
        slot(day, hour, minute, member)
        for day in days
        for hour in range(9, 17)
        for minute in (0, 15, 30, 45)
        for member in staff
    ]


def local(offer: Slot) -> tuple[date, time]:
    moment = offer.start.astimezone(BERLIN)
    return moment.date(), moment.time()


def test_offers_are_spread_over_days_not_one_morning() -> None:
    offers = choose_offers(grid(range(10)), CURRENT, time(10), BERLIN)
    days = [local(o)[0] for o in offers]
    assert len(offers) == 5
    assert len(set(days)) == 5  # one a day while days have room
    assert days == [MONDAY + timedelta(days=i) for i in range(5)]  # the next days, in order
    assert offers == sorted(offers, key=lambda o: o.start)


def test_offers_are_spread_over_times_of_day() -> None:
    offers = choose_offers(grid(range(10)), CURRENT, time(10), BERLIN)
    times = [local(o)[1] for o in offers]
    mornings = [t for t in times if t < time(12)]
    afternoons = [t for t in times if t >= time(12)]
    assert len(mornings) == 3  # the usual part of the day first: offers 1, 3 and 5
    assert len(afternoons) == 2


def test_usual_time_is_preferred() -> None:
    offers = choose_offers(grid(range(10)), CURRENT, time(10, 30), BERLIN)
    mornings = [local(o)[1] for o in offers if local(o)[1] < time(12)]
    assert mornings == [time(10, 30)] * 3
    # The afternoon ones are as near the usual time as the afternoon allows.
    assert {local(o)[1] for o in offers if local(o)[1] >= time(12)} == {time(12)}


def test_afternoon_customer_gets_afternoons_first() -> None:
    offers = choose_offers(grid(range(10)), CURRENT, time(15), BERLIN)
    times = [local(o)[1] for o in offers]
    assert times.count(time(15)) == 3
    assert times.count(time(11, 45)) == 2


def test_current_staff_member_is_preferred() -> None:
    free = grid(range(10), staff=(OTHER, CURRENT, THIRD))
    offers = choose_offers(free, CURRENT, time(10), BERLIN)
    assert {o.staff_id for o in offers} == {CURRENT}


def test_current_staff_preferred_over_nearer_time() -> None:
    free = [slot(0, 10, staff=OTHER), slot(0, 11, staff=CURRENT)]
    assert [o.staff_id for o in choose_offers(free, CURRENT, time(10), BERLIN, count=1)] == [CURRENT]


def test_others_are_spread_by_the_any_staff_rule() -> None:
    # The current staff member is not free at all: each start goes to whom "any staff" gives it.
    free = grid(range(3), staff=(OTHER, THIRD))
    loads = {
        OTHER: StaffLoad(OTHER, {MONDAY + timedelta(days=d): 5 for d in range(3)}),
        THIRD: StaffLoad(THIRD, {}),
    }
    offers = choose_offers(free, CURRENT, time(10), BERLIN, loads=loads)
    assert offers and {o.staff_id for o in offers} == {THIRD}


def test_at_most_two_a_day_when_days_are_few() -> None:
    offers = choose_offers(grid(range(2)), CURRENT, time(10), BERLIN)
    days = [local(o)[0] for o in offers]
    assert len(offers) == 4
    assert days.count(MONDAY) == 2 and days.count(MONDAY + timedelta(days=1)) == 2
    # A day's second offer is in the other part of the day.
    for day in set(days):
        parts = {local(o)[1] < time(12) for o in offers if local(o)[0] == day}
        assert parts == {True, False}


def test_fewer_free_slots_than_wanted() -> None:
    free = [slot(0, 9), slot(3, 14), slot(5, 16, staff=OTHER)]
    offers = choose_offers(free, CURRENT, time(10), BERLIN)
    assert offers == sorted(free, key=lambda o: o.start)
    assert choose_offers([], CURRENT, time(10), BERLIN) == []
    assert choose_offers(free, CURRENT, time(10), BERLIN, count=0) == []


def test_one_offer_per_start() -> None:
    free = [slot(0, 9, staff=OTHER), slot(0, 9, staff=THIRD)]
    assert len(choose_offers(free, CURRENT, time(9), BERLIN)) == 1


def test_deterministic_whatever_the_input_order() -> None:
    free = grid(range(7), staff=(CURRENT, OTHER))
    first = choose_offers(free, CURRENT, time(9, 15), BERLIN)
    assert choose_offers(list(reversed(free)), CURRENT, time(9, 15), BERLIN) == first
