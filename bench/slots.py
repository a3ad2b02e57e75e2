"""Benchmark of ``free_slots``: 30 days x 3 staff against 5,000 existing bookings.

Run with ``python bench/slots.py``. Three staff in Europe/Berlin work Monday to
Friday 09:00-17:00; the service takes 45 minutes with 5-minute buffers on both
sides. Bookings fill about half of every working day, for as many weekdays
before and after the queried 30 days as it takes to reach 5,000; the busy
lists are shuffled, since ``free_slots`` must not rely on the caller's order.
The second figure includes building the ``StaffSchedule`` busy lists from raw
``(booking_id, staff_id, start, end)`` rows, as the store layer does.
"""

from __future__ import annotations

import random
import statistics
import time as clock
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from mailflow.booking import BusyInterval, Closures, ServiceRules, Slot, StaffSchedule, free_slots

BOOKINGS = 5_000
STAFF_IDS = (1, 2, 3)
ZONE = "Europe/Berlin"
WINDOW_START = date(2026, 3, 2)  # a Monday; the window crosses the change to summer time on 2026-03-29
WINDOW_DAYS = 30
DAYS_BEFORE_WINDOW = 420  # so most bookings lie in the past, the rest after the window
BOOKINGS_PER_STAFF_DAY = 4  # out of eight hourly starts 09:00..16:00
RULES = ServiceRules(
    duration=timedelta(minutes=45),
    buffer_before=timedelta(minutes=5),
    buffer_after=timedelta(minutes=5),
    min_notice=timedelta(hours=2),
    horizon=timedelta(days=90),
)
NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
CLOSURES = Closures(ZONE, frozenset({date(2026, 3, 20)}))
WEEKLY_HOURS = {weekday: [(time(9), time(17))] for weekday in range(5)}

RawBooking = tuple[int, int, datetime, datetime]  # booking_id, staff_id, start, end


def raw_bookings(seed: int = 2026) -> list[RawBooking]:
    """5,000 bookings around the window, non-overlapping per staff, in random order."""
    rng = random.Random(seed)
    zone = ZoneInfo(ZONE)
    rows: list[RawBooking] = []
    day = WINDOW_START - timedelta(days=DAYS_BEFORE_WINDOW)
    while len(rows) < BOOKINGS:
        if day.weekday() < 5:
            for staff_id in STAFF_IDS:
                for hour in sorted(rng.sample(range(9, 17), BOOKINGS_PER_STAFF_DAY)):
                    start = datetime.combine(day, time(hour), zone).astimezone(UTC)
                    rows.append((len(rows) + 1, staff_id, start, start + RULES.duration))
        day += timedelta(days=1)
    rows = rows[:BOOKINGS]
    rng.shuffle(rows)
    return rows


def schedules_from_rows(rows: Sequence[RawBooking]) -> list[StaffSchedule]:
    """What the store layer does: group rows per staff and add the service buffers."""
    busy: dict[int, list[BusyInterval]] = {staff_id: [] for staff_id in STAFF_IDS}
    for booking_id, staff_id, start, end in rows:
        busy[staff_id].append(BusyInterval(start - RULES.buffer_before, end + RULES.buffer_after, booking_id))
    return [StaffSchedule(staff_id, ZONE, WEEKLY_HOURS, busy=busy[staff_id]) for staff_id in STAFF_IDS]


def search(staff: Sequence[StaffSchedule]) -> list[Slot]:
    return free_slots(
        RULES,
        staff,
        start_day=WINDOW_START,
        end_day=WINDOW_START + timedelta(days=WINDOW_DAYS - 1),
        now=NOW,
        closures=CLOSURES,
    )


def report(title: str, run: Callable[[], list[Slot]], *, warmup: int = 20, runs: int = 200) -> None:
    """Print the median and 95th percentile of ``runs`` timed calls, and how many slots came back."""
    for _ in range(warmup):
        run()
    timings = []
    slots: list[Slot] = []
    for _ in range(runs):
        began = clock.perf_counter()
        slots = run()
        timings.append((clock.perf_counter() - began) * 1000)
    median, p95 = statistics.median(timings), statistics.quantiles(timings, n=20)[-1]
    print(f"{title}: median {median:.1f} ms, p95 {p95:.1f} ms ({len(slots)} slots)")


def main() -> None:
    rows = raw_bookings()
    staff = schedules_from_rows(rows)
    window_end = WINDOW_START + timedelta(days=WINDOW_DAYS)
    in_window = sum(
        1 for schedule in staff for b in schedule.busy if WINDOW_START <= b.start.date() < window_end
    )
    label = f"{WINDOW_DAYS} days x {len(staff)} staff, {len(rows)} bookings ({in_window} in the window)"
    report(f"free_slots {label}", lambda: search(staff))
    report(f"rows -> StaffSchedule + free_slots, {label}", lambda: search(schedules_from_rows(rows)))


if __name__ == "__main__":
    main()
