"""Local times across daylight saving, in the core: refused when not one instant, counted in elapsed time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from mailflow.booking import Actor, ActorKind, Origin, create, free_slots, reschedule
from mailflow.booking.localtime import AMBIGUOUS, NONEXISTENT, LocalTimeInvalid, resolve_local
from mailflow.errors import InvalidInput
from tests.unit.factories import booking, no_closures, rules, schedule

BERLIN = ZoneInfo("Europe/Berlin")
STAFF = Actor(ActorKind.STAFF, "bob@contoso.example")
NOW = datetime(2027, 1, 1, tzinfo=UTC)
SUNDAYS = {6: [(time(0), time(6))]}


def wall(text: str) -> datetime:
    """A wall-clock reading without an offset."""
    return datetime.fromisoformat(text)


def test_a_wall_time_in_the_spring_gap_is_refused_as_nonexistent() -> None:
    """02:30 on 2027-03-28 in Berlin does not exist; the refusal is an InvalidInput at the field."""
    with pytest.raises(LocalTimeInvalid) as caught:
        resolve_local(wall("2027-03-28T02:30"), "Europe/Berlin", field="start")
    assert caught.value.problem == NONEXISTENT and caught.value.field == "start"
    assert isinstance(caught.value, InvalidInput)
    assert "clocks go forward" in str(caught.value) and "03:30" in str(caught.value)


def test_a_repeated_wall_time_is_refused_with_both_readings() -> None:
    """02:30 on 2027-10-31 happens twice: both instants are offered, the summer one first."""
    with pytest.raises(LocalTimeInvalid) as caught:
        resolve_local(wall("2027-10-31T02:30"), "Europe/Berlin")
    first, second = caught.value.choices
    assert caught.value.problem == AMBIGUOUS
    assert second.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=1)
    assert "+02:00" in str(caught.value) and "+01:00" in str(caught.value)


@pytest.mark.parametrize("text", ["2027-03-28T01:59", "2027-03-28T03:00", "2027-10-31T03:00"])
def test_ordinary_wall_times_and_aware_values_pass(text: str) -> None:
    """Times next to the changes are one instant each; a value with an offset is taken as given."""
    resolved = resolve_local(wall(text), "Europe/Berlin")
    assert resolved.astimezone(BERLIN).replace(tzinfo=None) == wall(text)
    aware = datetime(2027, 10, 31, 2, 30, tzinfo=UTC)
    assert resolve_local(aware, "Europe/Berlin") is aware


def test_a_zone_aware_start_ends_after_the_duration_in_elapsed_time() -> None:
    """02:30 summer time + 30 minutes on the autumn night is 02:00 winter time: 30 minutes, not 90."""
    start = datetime(2027, 10, 31, 2, 30, tzinfo=BERLIN)  # fold=0: the first, +02:00
    event = create(
        ref="BK-DST2345", service_id=1, customer_id=1, rules=rules(duration=timedelta(minutes=30)),
        schedule=schedule(weekly_hours=SUNDAYS), start=start, origin=Origin.STAFF, actor=STAFF,
        now=NOW, closures=no_closures(), grid=timedelta(minutes=15),
    )  # fmt: skip
    assert event.booking.start.tzinfo is UTC
    assert event.booking.end - event.booking.start == timedelta(minutes=30)
    assert event.booking.end == datetime(2027, 10, 31, 1, 0, tzinfo=UTC)


def test_a_move_across_the_spring_change_keeps_the_duration() -> None:
    """Moved to 01:45 on the spring night, a 60-minute booking ends at 03:45 summer time."""
    old = booking(start=datetime(2027, 3, 21, 0, 0, tzinfo=UTC), end=datetime(2027, 3, 21, 1, 0, tzinfo=UTC))
    event = reschedule(
        old, rules=rules(duration=timedelta(minutes=60)), schedule=schedule(weekly_hours=SUNDAYS),
        start=datetime(2027, 3, 28, 1, 45, tzinfo=BERLIN), actor=STAFF, now=NOW,
        closures=no_closures(), grid=timedelta(minutes=15),
    )  # fmt: skip
    assert event.new.end - event.new.start == timedelta(minutes=60)
    assert event.new.end.astimezone(BERLIN).strftime("%H:%M%z") == "03:45+0200"


@pytest.mark.parametrize(("day", "real_hours"), [(date(2027, 3, 28), 5), (date(2027, 10, 31), 7)])
def test_slots_of_a_day_with_a_clock_change_are_every_real_start_once(day: date, real_hours: int) -> None:
    """00:00-06:00 across a change: starts every 15 elapsed minutes over the real hours, none twice."""
    slots = free_slots(
        rules(duration=timedelta(minutes=30), horizon=timedelta(days=400)), [schedule(weekly_hours=SUNDAYS)],
        start_day=day, end_day=day, now=NOW, closures=no_closures(),
    )  # fmt: skip
    starts = [slot.start for slot in slots]
    midnight = datetime.combine(day, time(0), BERLIN).astimezone(UTC)
    assert starts == [midnight + timedelta(minutes=15 * n) for n in range(real_hours * 4 - 1)]
    assert all(slot.end - slot.start == timedelta(minutes=30) for slot in slots)
