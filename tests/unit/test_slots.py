"""The free-slot engine: ``free_slots`` offers exactly the starts ``check_slot`` accepts."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailflow.booking.model import BusyInterval, Closures, Interval, ServiceRules, Slot, StaffSchedule
from mailflow.booking.slots import SlotProblem, check_slot, external_conflict, free_days, free_slots
from mailflow.errors import slot_problem_text
from tests.unit.factories import no_closures, rules, schedule

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
MONDAY = date(2026, 6, 8)
NOW = datetime(2026, 6, 1, tzinfo=UTC)
GRID = timedelta(minutes=15)
EVERY_DAY_NINE_TO_FIVE = {weekday: [(time(9), time(17))] for weekday in range(7)}
QUARTER_HOURS_9_TO_1615 = [
    time(hour, minute) for hour in range(9, 17) for minute in (0, 15, 30, 45) if (hour, minute) <= (16, 15)
]


def at(day: date, hour: int, minute: int = 0, tz: str = BERLIN) -> datetime:
    """Local wall time ``hour:minute`` on ``day`` in ``tz``, as UTC."""
    return datetime.combine(day, time(hour, minute), ZoneInfo(tz)).astimezone(UTC)


def slots_on(
    day: date,
    staff: list[StaffSchedule] | None = None,
    *,
    service: ServiceRules | None = None,
    now: datetime = NOW,
    closures: Closures | None = None,
    **kwargs: Any,
) -> list[Slot]:
    """``free_slots`` for one day with the usual defaults."""
    return free_slots(
        service or rules(),
        staff or [schedule()],
        start_day=day,
        end_day=day,
        now=now,
        closures=closures or no_closures(),
        **kwargs,
    )


def local_times(slots: list[Slot], tz: str = BERLIN) -> list[time]:
    zone = ZoneInfo(tz)
    return [slot.start.astimezone(zone).time() for slot in slots]


def check(start: datetime, sched: StaffSchedule | None = None, **kwargs: Any) -> SlotProblem | None:
    """``check_slot`` with the usual defaults."""
    values: dict[str, Any] = {"now": NOW, "closures": no_closures()}
    values.update(kwargs)
    return check_slot(values.pop("service", rules()), sched or schedule(), start, **values)


# Examples


def test_simple_day_offers_every_quarter_hour_that_fits_the_working_period() -> None:
    """09:00-17:00 with a 45-minute service offers 09:00, 09:15, ... 16:15, each 45 minutes long."""
    slots = slots_on(MONDAY)
    assert local_times(slots) == QUARTER_HOURS_9_TO_1615
    assert all(slot.end - slot.start == timedelta(minutes=45) and slot.staff_id == 1 for slot in slots)
    assert slots[0].start == datetime(2026, 6, 8, 7, 0, tzinfo=UTC)
    assert all(slot.start.tzinfo is UTC for slot in slots)


def test_day_without_working_hours_has_no_slots() -> None:
    """Saturday is not in the Monday-to-Friday hours, so nothing is offered."""
    assert slots_on(MONDAY + timedelta(days=5)) == []


def test_buffers_block_neighbouring_starts() -> None:
    """A booking with 10-minute buffers keeps both its own and the buffered neighbours' spans free."""
    service = rules(buffer_before=timedelta(minutes=10), buffer_after=timedelta(minutes=10))
    existing = BusyInterval(at(MONDAY, 10, 50), at(MONDAY, 11, 55), booking_id=3)  # 11:00-11:45 + buffers
    starts = local_times(slots_on(MONDAY, [schedule(busy=[existing])], service=service))
    assert time(9, 45) in starts
    assert time(12, 15) in starts
    assert [t for t in starts if time(9, 45) < t < time(12, 15)] == []


def test_time_off_removes_the_slots_it_touches() -> None:
    """An afternoon off leaves only the morning starts."""
    off = Interval(at(MONDAY, 12), at(MONDAY, 17))
    starts = local_times(slots_on(MONDAY, [schedule(time_off=[off])]))
    assert starts == [t for t in QUARTER_HOURS_9_TO_1615 if t <= time(11, 15)]


def test_closure_day_has_no_slots_but_the_next_day_does() -> None:
    """A closed day in the business zone offers nothing; the day after is open as usual."""
    closures = Closures(BERLIN, frozenset({MONDAY}))
    assert slots_on(MONDAY, closures=closures) == []
    assert len(slots_on(MONDAY + timedelta(days=1), closures=closures)) == len(QUARTER_HOURS_9_TO_1615)


def test_min_notice_hides_starts_that_come_too_soon() -> None:
    """With two hours' notice at 10:07 the first start offered is 12:15."""
    now = at(MONDAY, 10, 7)
    starts = local_times(slots_on(MONDAY, service=rules(min_notice=timedelta(hours=2)), now=now))
    assert starts[0] == time(12, 15)


def test_past_starts_are_never_offered_even_without_notice() -> None:
    """Without minimum notice, starts before ``now`` are still left out."""
    starts = local_times(slots_on(MONDAY, now=at(MONDAY, 13, 1)))
    assert starts[0] == time(13, 15)


def test_horizon_hides_starts_beyond_it() -> None:
    """A one-week horizon from Monday 10:00 offers the next Monday up to 10:00 and nothing after."""
    service = rules(horizon=timedelta(days=7))
    starts = local_times(slots_on(MONDAY + timedelta(days=7), service=service, now=at(MONDAY, 10)))
    assert starts == [time(9), time(9, 15), time(9, 30), time(9, 45), time(10)]


def test_check_slot_without_grid_accepts_any_minute() -> None:
    """Staff (grid=None) may book 09:10."""
    assert check(at(MONDAY, 9, 10)) is None


def test_check_slot_with_grid_rejects_starts_off_the_grid() -> None:
    """Customers (15-minute grid) may book 09:15 but not 09:10."""
    assert check(at(MONDAY, 9, 15), grid=GRID) is None
    assert check(at(MONDAY, 9, 10), grid=GRID) is SlotProblem.NOT_ON_GRID


def test_grid_counts_from_the_start_of_each_working_period() -> None:
    """A period starting 13:10 has its grid at 13:10, 13:25, ... in both functions."""
    hours = {0: [(time(9), time(12)), (time(13, 10), time(17))]}
    sched = schedule(weekly_hours=hours)
    assert check(at(MONDAY, 13, 25), sched, grid=GRID) is None
    assert check(at(MONDAY, 13, 15), sched, grid=GRID) is SlotProblem.NOT_ON_GRID
    afternoon = [t for t in local_times(slots_on(MONDAY, [sched])) if t >= time(13)]
    assert afternoon[:3] == [time(13, 10), time(13, 25), time(13, 40)]


def test_appointment_may_not_straddle_two_touching_periods() -> None:
    """09:00-12:00 and 12:00-17:00 are two periods: 11:30 for 45 minutes fits neither."""
    sched = schedule(weekly_hours={0: [(time(12), time(17)), (time(9), time(12))]})
    assert check(at(MONDAY, 11, 30), sched) is SlotProblem.OUTSIDE_WORKING_HOURS
    assert time(11, 30) not in local_times(slots_on(MONDAY, [sched]))
    assert time(11, 15) in local_times(slots_on(MONDAY, [sched]))


def test_exclude_booking_id_frees_the_bookings_own_slot() -> None:
    """Rescheduling booking 7 may offer its own time; other bookings still block."""
    sched = schedule(
        busy=[
            BusyInterval(at(MONDAY, 10), at(MONDAY, 10, 45), booking_id=7),
            BusyInterval(at(MONDAY, 14), at(MONDAY, 14, 45), booking_id=8),
        ]
    )
    assert check(at(MONDAY, 10), sched) is SlotProblem.TAKEN
    assert check(at(MONDAY, 10), sched, exclude_booking_id=7) is None
    assert check(at(MONDAY, 14), sched, exclude_booking_id=7) is SlotProblem.TAKEN
    freed = local_times(slots_on(MONDAY, [sched], exclude_booking_id=7))
    assert time(10) in freed
    assert time(14) not in freed
    assert time(10) not in local_times(slots_on(MONDAY, [sched]))


def test_staff_in_another_zone_than_the_business_use_their_own_day_and_the_business_closures() -> None:
    """New York hours are New York wall time; a Berlin closed day ends at 18:00 in New York."""
    sched = schedule(tz=NEW_YORK, weekly_hours={weekday: [(time(9), time(20))] for weekday in range(7)})
    closures = Closures(BERLIN, frozenset({MONDAY}))
    sunday = MONDAY - timedelta(days=1)
    sunday_slots = slots_on(sunday, [sched], closures=closures)
    assert sunday_slots[0].start == datetime(2026, 6, 7, 13, 0, tzinfo=UTC)  # 09:00 EDT
    assert local_times(sunday_slots, NEW_YORK)[-1] == time(17, 15)  # ends 18:00 EDT = Monday 00:00 Berlin
    monday = local_times(slots_on(MONDAY, [sched], closures=closures), NEW_YORK)
    assert monday == [
        time(18),
        time(18, 15),
        time(18, 30),
        time(18, 45),
        time(19),
        time(19, 15),
    ]  # Tuesday in Berlin
    assert local_times(slots_on(MONDAY + timedelta(days=1), [sched], closures=closures), NEW_YORK)[
        -1
    ] == time(19, 15)
    assert check(at(sunday, 17, 30, NEW_YORK), sched, closures=closures) is SlotProblem.CLOSED


def test_slots_are_sorted_by_start_then_given_staff_order_without_duplicates() -> None:
    """Equal starts follow the given staff order; repeated staff and overlapping periods add nothing."""
    overlapping = {0: [(time(9), time(13)), (time(12), time(17))]}
    anna, ben = schedule(1, weekly_hours=overlapping), schedule(2)
    slots = slots_on(MONDAY, [ben, anna, ben])
    assert [slot.staff_id for slot in slots[:4]] == [2, 1, 2, 1]
    assert len(slots) == len(set(slots)) == 2 * len(QUARTER_HOURS_9_TO_1615)
    assert slots == sorted(slots, key=lambda slot: (slot.start, slot.staff_id != 2))


def test_unsorted_and_nested_busy_spans_are_all_respected() -> None:
    """A long busy span given last and containing a short one still blocks all its starts."""
    busy = [
        BusyInterval(at(MONDAY, 16), at(MONDAY, 17)),
        BusyInterval(at(MONDAY, 9, 30), at(MONDAY, 9, 45)),
        BusyInterval(at(MONDAY, 9, 15), at(MONDAY, 14)),
    ]
    starts = local_times(slots_on(MONDAY, [schedule(busy=busy)]))
    assert starts == [time(14), time(14, 15), time(14, 30), time(14, 45), time(15), time(15, 15)]


SCENARIOS: dict[SlotProblem, tuple[datetime, dict[str, Any]]] = {
    SlotProblem.IN_PAST: (at(MONDAY, 10), {"now": at(MONDAY, 10, 1)}),
    SlotProblem.TOO_SOON: (
        at(MONDAY, 10),
        {"now": at(MONDAY, 9), "service": rules(min_notice=timedelta(hours=2))},
    ),
    SlotProblem.BEYOND_HORIZON: (at(MONDAY, 10), {"service": rules(horizon=timedelta(days=3))}),
    SlotProblem.CLOSED: (at(MONDAY, 10), {"closures": Closures(BERLIN, frozenset({MONDAY}))}),
    SlotProblem.OUTSIDE_WORKING_HOURS: (at(MONDAY, 16, 30), {}),
    SlotProblem.NOT_ON_GRID: (at(MONDAY, 10, 5), {"grid": GRID}),
    SlotProblem.TIME_OFF: (
        at(MONDAY, 10),
        {"sched": schedule(time_off=[Interval(at(MONDAY, 10), at(MONDAY, 11))])},
    ),
    SlotProblem.TAKEN: (
        at(MONDAY, 10),
        {"sched": schedule(busy=[BusyInterval(at(MONDAY, 9), at(MONDAY, 10, 1))])},
    ),
    SlotProblem.EXTERNAL_BUSY: (
        at(MONDAY, 10),
        {"sched": schedule(external_busy=[Interval(at(MONDAY, 10, 20), at(MONDAY, 11))])},
    ),
}


def test_external_busy_blocks_customers_not_staff() -> None:
    """A staff member's own calendar blocks a customer's start, but staff may book it (and are warned)."""
    busy = schedule(external_busy=[Interval(at(MONDAY, 10), at(MONDAY, 11))])
    assert check(at(MONDAY, 10, 30), busy) is SlotProblem.EXTERNAL_BUSY
    assert check(at(MONDAY, 10, 30), busy, enforce_notice=False, honour_external=False) is None
    assert external_conflict(rules(), busy, at(MONDAY, 10, 30))
    assert not external_conflict(rules(), busy, at(MONDAY, 11))


def test_free_slots_lose_exactly_the_external_busy_times() -> None:
    """``free_slots`` drops the starts whose appointment overlaps an external busy time, and no others."""
    service = rules(duration=timedelta(minutes=30))
    plain = free_slots(
        service, [schedule()], start_day=MONDAY, end_day=MONDAY, now=NOW, closures=no_closures()
    )
    busy = schedule(external_busy=[Interval(at(MONDAY, 10), at(MONDAY, 11))])
    blocked = free_slots(service, [busy], start_day=MONDAY, end_day=MONDAY, now=NOW, closures=no_closures())
    lost = {slot.start for slot in plain} - {slot.start for slot in blocked}
    assert lost == {
        at(MONDAY, 9, 45),
        at(MONDAY, 10),
        at(MONDAY, 10, 15),
        at(MONDAY, 10, 30),
        at(MONDAY, 10, 45),
    }


def test_closed_day_after_the_start_day_is_seen_by_a_long_appointment() -> None:
    """A six-day appointment starting Monday runs into a closed Saturday, which is reported first."""
    closures = Closures(BERLIN, frozenset({MONDAY + timedelta(days=5)}))
    service = rules(duration=timedelta(days=6))
    assert check(at(MONDAY, 10), service=service, closures=closures) is SlotProblem.CLOSED
    assert check(at(MONDAY, 10), service=service) is SlotProblem.OUTSIDE_WORKING_HOURS


@pytest.mark.parametrize("problem", list(SlotProblem))
def test_each_problem_code_is_reachable_through_check_slot(problem: SlotProblem) -> None:
    """Every ``SlotProblem`` has a situation in which ``check_slot`` reports it."""
    start, situation = SCENARIOS[problem]
    kwargs = dict(situation)
    assert check(start, kwargs.pop("sched", None), **kwargs) is problem


def test_staff_are_not_held_to_notice_or_horizon() -> None:
    """With ``enforce_notice=False`` too-soon and too-far starts are fine, past ones still are not."""
    service = rules(min_notice=timedelta(days=1), horizon=timedelta(days=1))
    assert check(at(MONDAY, 10), service=service, enforce_notice=False) is None
    assert check(at(MONDAY, 10), service=service, now=at(MONDAY, 9), enforce_notice=False) is None
    assert (
        check(at(MONDAY, 10), service=service, now=at(MONDAY, 11), enforce_notice=False)
        is SlotProblem.IN_PAST
    )


def test_first_failing_rule_wins_in_the_documented_order() -> None:
    """A closed, off-hours, off-grid, taken start in the past reports the earliest rule broken."""
    busy = schedule(busy=[BusyInterval(at(MONDAY, 6), at(MONDAY, 23))])
    closed = Closures(BERLIN, frozenset({MONDAY}))
    start = at(MONDAY, 7, 5)  # before working hours and off the grid
    assert check(start, busy, closures=closed, grid=GRID, now=at(MONDAY, 8)) is SlotProblem.IN_PAST
    assert check(start, busy, closures=closed, grid=GRID) is SlotProblem.CLOSED
    assert check(start, busy, grid=GRID) is SlotProblem.OUTSIDE_WORKING_HOURS
    assert check(at(MONDAY, 9, 5), busy, grid=GRID) is SlotProblem.NOT_ON_GRID
    off = schedule(busy=busy.busy, time_off=[Interval(at(MONDAY, 9), at(MONDAY, 10))])
    assert check(at(MONDAY, 9), off, grid=GRID) is SlotProblem.TIME_OFF
    assert check(at(MONDAY, 10), off, grid=GRID) is SlotProblem.TAKEN


def test_every_problem_has_a_short_text() -> None:
    """The catalogs explain every code in one lowercase sentence fragment, in every language."""
    for locale in ("en", "de"):
        texts = [slot_problem_text(problem, locale) for problem in SlotProblem]
        assert all(text and text[0].islower() and not text.endswith(".") for text in texts)
        assert not any(text.startswith("slot.") for text in texts)


def test_aware_non_utc_start_is_judged_as_an_instant() -> None:
    """10:00+02:00 is the same start as 08:00Z."""
    berlin_ten = datetime.combine(MONDAY, time(10), ZoneInfo(BERLIN))
    assert check(berlin_ten, grid=GRID) is None
    assert check(berlin_ten + timedelta(minutes=5), grid=GRID) is SlotProblem.NOT_ON_GRID


@pytest.mark.parametrize(
    "call",
    [
        lambda: check(datetime(2026, 6, 8, 10, 0)),  # noqa: DTZ001 - the naive value under test
        lambda: check(at(MONDAY, 10), now=datetime(2026, 6, 1)),  # noqa: DTZ001
        lambda: slots_on(MONDAY, now=datetime(2026, 6, 1)),  # noqa: DTZ001
        lambda: slots_on(
            MONDAY,
            [schedule(busy=[BusyInterval(datetime(2026, 6, 8, 9), datetime(2026, 6, 8, 10))])],  # noqa: DTZ001
        ),
        lambda: slots_on(MONDAY, [schedule(time_off=[Interval(datetime(2026, 6, 8, 9), at(MONDAY, 10))])]),  # noqa: DTZ001
    ],
    ids=["start", "check now", "search now", "busy", "time off"],
)
def test_naive_datetimes_are_refused(call: Any) -> None:
    """Any naive datetime raises ``ValueError`` instead of being guessed."""
    with pytest.raises(ValueError, match="naive"):
        call()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: slots_on(MONDAY, grid=timedelta(0)), "grid"),
        (lambda: check(at(MONDAY, 10), grid=timedelta(minutes=-5)), "grid"),
        (lambda: slots_on(MONDAY, service=rules(duration=timedelta(0))), "duration"),
        (lambda: slots_on(MONDAY, service=rules(buffer_after=timedelta(minutes=-5))), "buffers"),
        (lambda: slots_on(MONDAY, [schedule(weekly_hours={0: [(time(17), time(9))]})]), "end after"),
        (
            lambda: free_slots(
                rules(),
                [schedule()],
                start_day=MONDAY,
                end_day=MONDAY - timedelta(days=1),
                now=NOW,
                closures=no_closures(),
            ),
            "before start_day",
        ),
    ],
    ids=[
        "zero grid",
        "negative grid",
        "zero duration",
        "negative buffer",
        "inverted period",
        "inverted days",
    ],
)
def test_malformed_arguments_are_refused(call: Any, message: str) -> None:
    """Meaningless grids, durations, buffers, periods and day ranges raise ``ValueError``."""
    with pytest.raises(ValueError, match=message):
        call()


# DST


def test_period_starting_in_the_spring_gap_starts_when_the_clock_resumes() -> None:
    """02:30 does not exist in Berlin on 2026-03-29: a period starting then starts at 03:30 CEST."""
    spring = date(2026, 3, 29)
    sched = schedule(weekly_hours={6: [(time(2, 30), time(5))]})
    slots = slots_on(spring, [sched], now=datetime(2026, 3, 1, tzinfo=UTC))
    assert slots[0].start == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert local_times(slots) == [time(3, 30), time(3, 45), time(4), time(4, 15)]


def test_period_starting_in_the_autumn_overlap_takes_its_first_occurrence() -> None:
    """02:30 happens twice in Berlin on 2026-10-25: a period starting then starts at 02:30 CEST."""
    autumn = date(2026, 10, 25)
    sched = schedule(weekly_hours={6: [(time(2, 30), time(4))]})
    slots = slots_on(autumn, [sched], now=datetime(2026, 10, 1, tzinfo=UTC))
    assert slots[0].start == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30+02:00
    assert slots[-1].end == datetime(2026, 10, 25, 3, 0, tzinfo=UTC)  # 04:00+01:00: 2.5 hours of real time
    assert (
        check(datetime(2026, 10, 25, 0, 30, tzinfo=UTC), sched, now=datetime(2026, 10, 1, tzinfo=UTC)) is None
    )


DST_CHANGES = [
    (BERLIN, date(2026, 3, 29), timedelta(hours=1), timedelta(hours=2)),
    (BERLIN, date(2026, 10, 25), timedelta(hours=2), timedelta(hours=1)),
    (NEW_YORK, date(2026, 3, 8), timedelta(hours=-5), timedelta(hours=-4)),
    (NEW_YORK, date(2026, 11, 1), timedelta(hours=-4), timedelta(hours=-5)),
]


@pytest.mark.parametrize(("tz", "change", "offset_before", "offset_after"), DST_CHANGES)
def test_local_slot_times_stay_put_across_a_dst_change(
    tz: str, change: date, offset_before: timedelta, offset_after: timedelta
) -> None:
    """The days before, of and after a DST change all offer 09:00..16:15 local, at the right UTC offsets."""
    sched = schedule(tz=tz, weekly_hours=EVERY_DAY_NINE_TO_FIVE)
    now = datetime.combine(change - timedelta(days=7), time(0), UTC)
    for day, offset in [
        (change - timedelta(days=1), offset_before),
        (change, offset_after),  # the clocks change at night, before 09:00
        (change + timedelta(days=1), offset_after),
    ]:
        slots = slots_on(day, [sched], now=now)
        assert local_times(slots, tz) == QUARTER_HOURS_9_TO_1615, day
        assert {slot.start.astimezone(ZoneInfo(tz)).utcoffset() for slot in slots} == {offset}, day
        assert slots[0].start == datetime.combine(day, time(9), UTC) - offset


@settings(max_examples=60, deadline=None)
@given(
    tz=st.sampled_from([BERLIN, NEW_YORK]),
    day=st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 12, 31)),
    start_hour=st.integers(min_value=5, max_value=12),
    length_hours=st.integers(min_value=1, max_value=9),
    duration_minutes=st.sampled_from([15, 30, 45, 50, 60, 90]),
    grid_minutes=st.sampled_from([5, 10, 15, 20, 30]),
)
def test_local_start_times_depend_only_on_the_weekday_hours(
    tz: str, day: date, start_hour: int, length_hours: int, duration_minutes: int, grid_minutes: int
) -> None:
    """Any day of 2026 with the same hours offers the same local start times, whatever the UTC offset."""
    sched = schedule(
        tz=tz, weekly_hours={day.weekday(): [(time(start_hour), time(start_hour + length_hours))]}
    )
    service = rules(duration=timedelta(minutes=duration_minutes), horizon=timedelta(days=800))
    grid = timedelta(minutes=grid_minutes)
    slots = slots_on(day, [sched], service=service, now=datetime(2025, 12, 1, tzinfo=UTC), grid=grid)
    first = start_hour * 60
    expected = [
        time(*divmod(minute, 60))
        for minute in range(first, first + length_hours * 60 - duration_minutes + 1, grid_minutes)
    ]
    assert local_times(slots, tz) == expected


# Properties over random calendars

ZONES = [BERLIN, NEW_YORK, "UTC", "Asia/Kathmandu", "Australia/Lord_Howe"]
WINDOW_FIRST_DAY = date(2026, 1, 1)


@st.composite
def periods(draw: st.DrawFn) -> list[tuple[time, time]]:
    """Zero to two working periods between 06:00 and 22:00 (clear of DST changes), possibly overlapping."""
    spans = []
    for _ in range(draw(st.sampled_from([0, 1, 1, 2]))):
        start = draw(st.integers(min_value=6 * 60, max_value=20 * 60))
        end = draw(st.integers(min_value=start + 15, max_value=22 * 60))
        spans.append((time(*divmod(start, 60)), time(*divmod(end, 60))))
    return spans


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A few days of one to two staff with bookings, time off, closures, notice and horizon."""
    start_day = draw(st.dates(min_value=WINDOW_FIRST_DAY, max_value=date(2026, 12, 25)))
    days = draw(st.integers(min_value=0, max_value=3))
    window_start = datetime.combine(start_day, time(0), UTC) - timedelta(days=1)
    window_minutes = (days + 3) * 24 * 60

    def instant() -> datetime:
        return window_start + timedelta(minutes=draw(st.integers(min_value=0, max_value=window_minutes)))

    service = ServiceRules(
        duration=timedelta(minutes=draw(st.sampled_from([15, 30, 45, 50, 90]))),
        buffer_before=timedelta(minutes=draw(st.sampled_from([0, 5, 10, 20]))),
        buffer_after=timedelta(minutes=draw(st.sampled_from([0, 5, 15]))),
        min_notice=timedelta(minutes=draw(st.sampled_from([0, 0, 60, 150, 24 * 60]))),
        horizon=timedelta(hours=draw(st.sampled_from([12, 48, 240, 240]))),
    )
    staff = []
    booking_ids = iter(range(1, 1000))
    for staff_id in range(1, draw(st.integers(min_value=1, max_value=2)) + 1):
        busy = []
        for _ in range(draw(st.integers(min_value=0, max_value=4 * (days + 1)))):
            start = instant()
            length = timedelta(minutes=draw(st.sampled_from([15, 30, 45, 90])))
            busy.append(
                BusyInterval(
                    start - service.buffer_before, start + length + service.buffer_after, next(booking_ids)
                )
            )
        time_off = []
        for _ in range(draw(st.integers(min_value=0, max_value=2))):
            start = instant()
            time_off.append(
                Interval(start, start + timedelta(minutes=draw(st.integers(min_value=1, max_value=600))))
            )
        hours = {weekday: draw(periods()) for weekday in range(7)}
        staff.append(StaffSchedule(staff_id, draw(st.sampled_from(ZONES)), hours, time_off, busy))
    all_ids = [b.booking_id for s in staff for b in s.busy]
    closed_days = draw(st.sets(st.integers(min_value=-1, max_value=days + 1), max_size=1))
    return {
        "rules": service,
        "staff": staff,
        "start_day": start_day,
        "end_day": start_day + timedelta(days=days),
        "now": window_start + timedelta(minutes=draw(st.integers(min_value=0, max_value=36 * 60))),
        "closures": Closures(
            draw(st.sampled_from(ZONES)), frozenset(start_day + timedelta(days=d) for d in closed_days)
        ),
        "grid": timedelta(minutes=draw(st.sampled_from([5, 10, 15, 20, 30]))),
        "exclude_booking_id": draw(st.sampled_from([None, *all_ids])),
    }


PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_no_free_slot_overlaps_a_booking_time_off_or_closed_day(scenario: dict[str, Any]) -> None:
    """Each slot's buffered span misses other bookings and time off; the slot misses closed days."""
    service: ServiceRules = scenario["rules"]
    by_id = {s.staff_id: s for s in scenario["staff"]}
    business = ZoneInfo(scenario["closures"].timezone)
    for slot in free_slots(**scenario):
        blocked = Interval(slot.start - service.buffer_before, slot.end + service.buffer_after)
        for busy in by_id[slot.staff_id].busy:
            if busy.booking_id != scenario["exclude_booking_id"]:
                assert not blocked.overlaps(Interval(busy.start, busy.end))
        assert not any(blocked.overlaps(off) for off in by_id[slot.staff_id].time_off)
        for closed in scenario["closures"].dates:
            day = Interval(
                datetime.combine(closed, time(0), business),
                datetime.combine(closed + timedelta(days=1), time(0), business),
            )
            assert not Interval(slot.start, slot.end).overlaps(day)
        assert scenario["now"] + service.min_notice <= slot.start <= scenario["now"] + service.horizon


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_every_free_slot_lies_inside_one_local_working_period_of_a_requested_day(
    scenario: dict[str, Any],
) -> None:
    """In the staff member's wall time each slot lies within one period of its weekday, on its grid."""
    by_id = {s.staff_id: s for s in scenario["staff"]}
    grid_minutes = scenario["grid"] // timedelta(minutes=1)
    for slot in free_slots(**scenario):
        sched = by_id[slot.staff_id]
        zone = ZoneInfo(sched.timezone)
        local_start, local_end = slot.start.astimezone(zone), slot.end.astimezone(zone)
        assert scenario["start_day"] <= local_start.date() <= scenario["end_day"]
        assert local_end.date() == local_start.date()
        assert any(
            period_start <= local_start.time()
            and local_end.time() <= period_end
            and (local_start.hour * 60 + local_start.minute - period_start.hour * 60 - period_start.minute)
            % grid_minutes
            == 0
            for period_start, period_end in sched.weekly_hours[local_start.weekday()]
        )


@PROPERTY_SETTINGS
@given(scenario=scenarios(), data=st.data())
def test_check_slot_accepts_exactly_the_starts_free_slots_offers(
    scenario: dict[str, Any], data: st.DataObject
) -> None:
    """Each offered slot passes ``check_slot``, and a random start passes it exactly when it is offered."""
    slots = free_slots(**scenario)
    common = {
        "now": scenario["now"],
        "closures": scenario["closures"],
        "grid": scenario["grid"],
        "exclude_booking_id": scenario["exclude_booking_id"],
    }
    by_id = {s.staff_id: s for s in scenario["staff"]}
    for slot in slots:
        assert slot.end - slot.start == scenario["rules"].duration
        assert check_slot(scenario["rules"], by_id[slot.staff_id], slot.start, **common) is None
    offered = {(slot.start, slot.staff_id) for slot in slots}
    for _ in range(20):
        sched = data.draw(st.sampled_from(scenario["staff"]))
        zone = ZoneInfo(sched.timezone)
        day = scenario["start_day"] + timedelta(
            days=data.draw(
                st.integers(min_value=0, max_value=(scenario["end_day"] - scenario["start_day"]).days)
            )
        )
        day_periods = sched.weekly_hours[day.weekday()]
        if day_periods and data.draw(st.booleans()):
            period_start = data.draw(st.sampled_from(day_periods))[0]
            steps = data.draw(st.integers(min_value=-2, max_value=70))
            start = datetime.combine(day, period_start, zone).astimezone(UTC) + steps * scenario["grid"]
        else:  # any minute of the day, mostly off the grid
            start = datetime.combine(day, time(0), zone).astimezone(UTC) + timedelta(
                minutes=data.draw(st.integers(min_value=0, max_value=24 * 60 - 1))
            )
        if start.astimezone(zone).date() != day:
            continue  # stepped off the requested days, where free_slots did not look
        verdict = check_slot(scenario["rules"], sched, start, **common)
        assert (verdict is None) == ((start, sched.staff_id) in offered), (start, verdict)


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_free_days_are_exactly_the_days_free_slots_offers(scenario: dict[str, Any]) -> None:
    """The month calendar's cheap search marks a day exactly when the full search has a slot that day."""
    by_id = {s.staff_id: s for s in scenario["staff"]}
    expected = {
        slot.start.astimezone(ZoneInfo(by_id[slot.staff_id].timezone)).date()
        for slot in free_slots(**scenario)
    }
    assert free_days(**scenario) == expected
