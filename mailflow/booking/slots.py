"""The free-slot engine: which start times a staff member can take. Pure, no I/O.

``free_slots`` lists the bookable starts over a range of days; ``check_slot``
judges one start and names the first problem. Both run every candidate through
the same predicate (``_first_problem``), so a start is in ``free_slots`` exactly
when ``check_slot`` (with the same grid and notice) finds nothing wrong with it.

Semantics
---------
Time
    Every datetime given or returned is timezone-aware; naive ones raise
    ``ValueError``. Aware non-UTC values are accepted and converted; every
    returned datetime is in ``datetime.UTC``.
Days and working hours
    A calendar day is read in each staff member's own zone
    (``StaffSchedule.timezone``, an IANA name). ``weekly_hours`` maps a weekday
    (0 = Monday ... 6 = Sunday) to local wall-clock ``(start, end)`` periods;
    each local day's periods are converted to UTC once, through ``zoneinfo``,
    so 09:00 in Berlin is 07:00Z in winter and 08:00Z in summer. A period must
    not cross midnight (``start < end``, else ``ValueError``).
DST gaps and overlaps
    A wall time is read with ``fold=0`` and normalised by its conversion to
    UTC: a time that does not exist (spring-forward gap) moves forward by the
    gap (02:30 in Berlin on 2026-03-29 becomes 03:30 CEST); an ambiguous time
    (fall-back) takes its first, summer-time occurrence. A period that comes
    out empty after this (both ends in or around one gap) has no slots.
Grid
    Candidate starts lie on the grid counted from each period's start:
    09:00-17:00 with 15 minutes gives 09:00, 09:15, ... The grid is counted in
    elapsed time from the period start, which equals wall-clock steps unless a
    DST change falls inside the period. ``check_slot`` with ``grid=None``
    accepts any start (staff may book 09:10).
Rules, checked in this order; the first that fails is the verdict
    ``IN_PAST``: ``start < now`` (always).
    ``TOO_SOON``: ``start < now + min_notice`` (with notice enforced).
    ``BEYOND_HORIZON``: ``start > now + horizon`` (with notice enforced).
    ``CLOSED``: ``[start, end)`` overlaps a closed day ``[d 00:00, d+1 00:00)``
    read in ``Closures.timezone``.
    ``OUTSIDE_WORKING_HOURS``: ``[start, end)`` is not inside one single working
    period of its local day (touching or overlapping periods are not merged).
    ``NOT_ON_GRID``: the start is not on the grid of any period that holds it.
    ``TIME_OFF``: the blocked span ``[start - buffer_before, end + buffer_after)``
    overlaps ``time_off``.
    ``TAKEN``: the blocked span overlaps ``busy`` (other bookings' blocked spans,
    buffers included), ignoring entries whose ``booking_id`` is
    ``exclude_booking_id``.
    ``EXTERNAL_BUSY``: the blocked span overlaps ``external_busy`` (the staff
    member's own calendars); only where external busy times are honoured
    (always in ``free_slots``; in ``check_slot`` unless ``honour_external=False``,
    as for staff, who book over them with a warning).
    ``free_slots`` always enforces notice and horizon.

Intervals are sorted once per call (the caller's order is not trusted) and
queried by bisection over a running maximum of their ends, so overlapping
entries are handled and each candidate costs O(log n).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from mailflow.booking.model import Closures, ServiceRules, Slot, StaffSchedule, WeeklyHours

__all__ = ["SlotProblem", "check_slot", "external_conflict", "free_days", "free_slots"]

_ONE_DAY = timedelta(days=1)
_NO_TIME = timedelta(0)

Span = tuple[datetime, datetime]


class SlotProblem(StrEnum):
    """Why a start time cannot be booked; the values are stable codes (their texts are in the catalogs)."""

    IN_PAST = "in_past"
    TOO_SOON = "too_soon"
    BEYOND_HORIZON = "beyond_horizon"
    NOT_ON_GRID = "not_on_grid"
    OUTSIDE_WORKING_HOURS = "outside_working_hours"
    TIME_OFF = "time_off"
    CLOSED = "closed"
    TAKEN = "taken"
    EXTERNAL_BUSY = "external_busy"


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value.astimezone(UTC)


def _wall_to_utc(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """``wall`` on ``day`` in ``zone`` as UTC, read with ``fold=0`` (see the module docstring)."""
    local = datetime(
        day.year, day.month, day.day, wall.hour, wall.minute, wall.second, wall.microsecond, zone
    )
    return local.astimezone(UTC)


def _reach(first_day: date, last_day: date, rules: ServiceRules) -> Span:
    """A UTC span holding every blocked span a search of local days ``first_day``..``last_day`` can test.

    Two days of margin cover any zone's offset and DST gap, and the duration covers an appointment
    that ``check_slot`` has yet to find too long for its day; spans outside are dropped before sorting.
    """
    start = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC) - 2 * _ONE_DAY
    end = datetime(last_day.year, last_day.month, last_day.day, tzinfo=UTC) + 3 * _ONE_DAY
    return start - rules.buffer_before, end + rules.duration + rules.buffer_after


class _Spans:
    """Half-open spans, sorted once, answering "does ``[start, end)`` overlap any?" in O(log n)."""

    __slots__ = ("_max_ends", "_starts")

    def __init__(self, spans: Iterable[Span], reach: Span) -> None:
        reach_start, reach_end = reach
        ordered = sorted(span for span in spans if span[1] > reach_start and span[0] < reach_end)
        self._starts = [start for start, _ in ordered]
        self._max_ends: list[datetime] = []
        for _, end in ordered:
            # Running maximum: spans may overlap or nest, so the last one started need not end last.
            self._max_ends.append(
                end if not self._max_ends or end > self._max_ends[-1] else self._max_ends[-1]
            )

    def overlaps(self, start: datetime, end: datetime) -> bool:
        started_before_end = bisect_left(self._starts, end)
        return started_before_end > 0 and self._max_ends[started_before_end - 1] > start


@dataclass(frozen=True, slots=True)
class _Limits:
    """What holds for every candidate of one call, whoever the staff member."""

    rules: ServiceRules
    now: datetime
    # ``now + min_notice`` and ``now + horizon``; None when notice is not enforced (staff).
    earliest: datetime | None
    latest: datetime | None
    closed: _Spans

    @classmethod
    def build(
        cls, rules: ServiceRules, now: datetime, closures: Closures, reach: Span, *, enforce_notice: bool
    ) -> _Limits:
        if rules.duration <= _NO_TIME:
            raise ValueError(f"the service duration must be positive, got {rules.duration}")
        if rules.buffer_before < _NO_TIME or rules.buffer_after < _NO_TIME:
            raise ValueError("service buffers must not be negative")
        zone = ZoneInfo(closures.timezone)
        closed = _Spans(
            (
                (_wall_to_utc(day, time(0), zone), _wall_to_utc(day + _ONE_DAY, time(0), zone))
                for day in closures.dates
            ),
            reach,
        )
        now = _utc(now, "now")
        if not enforce_notice:
            return cls(rules, now, None, None, closed)
        return cls(rules, now, now + rules.min_notice, now + rules.horizon, closed)


@dataclass(frozen=True, slots=True)
class _Calendar:
    """One staff member's working hours and sorted time off and bookings."""

    staff_id: int
    zone: ZoneInfo
    weekly_hours: WeeklyHours
    time_off: _Spans
    busy: _Spans
    external: _Spans | None
    """None where external busy times are not honoured (staff booking over them)."""

    @classmethod
    def build(
        cls,
        schedule: StaffSchedule,
        reach: Span,
        exclude_booking_id: int | None,
        *,
        honour_external: bool = True,
    ) -> _Calendar:
        time_off = _Spans(
            ((_utc(o.start, "time off"), _utc(o.end, "time off")) for o in schedule.time_off), reach
        )
        external = (
            _Spans(
                ((_utc(o.start, "busy start"), _utc(o.end, "busy end")) for o in schedule.external_busy),
                reach,
            )
            if honour_external
            else None
        )
        busy = _Spans(
            (
                (_utc(b.start, "busy start"), _utc(b.end, "busy end"))
                for b in schedule.busy
                if exclude_booking_id is None or b.booking_id != exclude_booking_id
            ),
            reach,
        )
        return cls(
            schedule.staff_id, ZoneInfo(schedule.timezone), schedule.weekly_hours, time_off, busy, external
        )

    def periods(self, day: date) -> list[Span]:
        """The working periods of local ``day`` in UTC, sorted, empty ones dropped."""
        spans = []
        for start, end in self.weekly_hours.get(day.weekday(), ()):
            if not start < end:
                raise ValueError(
                    f"working period {start}-{end} of staff {self.staff_id} must end after it starts"
                )
            utc_start, utc_end = _wall_to_utc(day, start, self.zone), _wall_to_utc(day, end, self.zone)
            if utc_start < utc_end:
                spans.append((utc_start, utc_end))
        spans.sort()
        return spans


def _first_problem(
    start: datetime, limits: _Limits, calendar: _Calendar, periods: Sequence[Span], grid: timedelta | None
) -> SlotProblem | None:
    """The one availability predicate: the first rule ``start`` breaks, in the documented order."""
    rules = limits.rules
    if start < limits.now:
        return SlotProblem.IN_PAST
    if limits.earliest is not None and start < limits.earliest:
        return SlotProblem.TOO_SOON
    if limits.latest is not None and start > limits.latest:
        return SlotProblem.BEYOND_HORIZON
    end = start + rules.duration
    if limits.closed.overlaps(start, end):
        return SlotProblem.CLOSED
    holding = [
        period_start for period_start, period_end in periods if period_start <= start and end <= period_end
    ]
    if not holding:
        return SlotProblem.OUTSIDE_WORKING_HOURS
    if grid is not None and all((start - period_start) % grid for period_start in holding):
        return SlotProblem.NOT_ON_GRID
    blocked_start, blocked_end = start - rules.buffer_before, end + rules.buffer_after
    if calendar.time_off.overlaps(blocked_start, blocked_end):
        return SlotProblem.TIME_OFF
    if calendar.busy.overlaps(blocked_start, blocked_end):
        return SlotProblem.TAKEN
    if calendar.external is not None and calendar.external.overlaps(blocked_start, blocked_end):
        return SlotProblem.EXTERNAL_BUSY
    return None


def _require_grid(grid: timedelta) -> None:
    if grid <= _NO_TIME:
        raise ValueError(f"the slot grid must be positive, got {grid}")


def free_slots(
    rules: ServiceRules,
    staff: Sequence[StaffSchedule],
    *,
    start_day: date,
    end_day: date,
    now: datetime,
    closures: Closures,
    grid: timedelta = timedelta(minutes=15),
    exclude_booking_id: int | None = None,
) -> list[Slot]:
    """Every bookable start for a customer on local days ``start_day``..``end_day``.

    Args:
        rules: duration, buffers, minimum notice and horizon of the service.
        staff: the staff members to search, each with their own zone, hours,
            time off and busy spans; their order breaks ties between equal starts.
        start_day: first calendar day (inclusive), read in each staff member's zone.
        end_day: last calendar day (inclusive).
        now: the current time, aware; notice and horizon count from it.
        closures: whole days the business is closed, in its own zone.
        grid: step between candidate starts, counted from each working period's start.
        exclude_booking_id: a booking whose busy span is ignored, so that
            rescheduling it may offer its own time again.

    Returns:
        ``Slot(start, end, staff_id)`` in UTC, sorted by start and then by the
        order of ``staff``, without duplicates. Notice and horizon are always
        enforced, so no slot lies in the past.

    Raises:
        ValueError: a naive datetime, ``end_day`` before ``start_day``, a
            non-positive grid or duration, a negative buffer, or a working
            period that does not end after it starts.
        zoneinfo.ZoneInfoNotFoundError: an unknown time zone name.

    Example:
        >>> from datetime import UTC, date, datetime, time, timedelta
        >>> from mailflow.booking.model import Closures, ServiceRules, StaffSchedule
        >>> anna = StaffSchedule(1, "Europe/Berlin", {0: [(time(9), time(10))]})
        >>> slots = free_slots(
        ...     ServiceRules(duration=timedelta(minutes=30)), [anna],
        ...     start_day=date(2026, 7, 6), end_day=date(2026, 7, 6),
        ...     now=datetime(2026, 7, 1, tzinfo=UTC), closures=Closures("Europe/Berlin"),
        ... )
        >>> [slot.start.strftime("%H:%M") for slot in slots]  # UTC; 09:00 Berlin is 07:00Z in July
        ['07:00', '07:15', '07:30']
    """
    _require_grid(grid)
    if end_day < start_day:
        raise ValueError(f"end_day {end_day} is before start_day {start_day}")
    reach = _reach(start_day, end_day, rules)
    limits = _Limits.build(rules, now, closures, reach, enforce_notice=True)
    days = [start_day + timedelta(days=offset) for offset in range((end_day - start_day).days + 1)]
    found: list[tuple[datetime, int, int]] = []
    for order, schedule in enumerate(staff):
        calendar = _Calendar.build(schedule, reach, exclude_booking_id)
        for day in days:
            for period in calendar.periods(day):
                period_start, period_end = period
                candidate, last = period_start, period_end - rules.duration
                while candidate <= last:
                    # On the grid of ``period`` by construction, so the predicate need not check it.
                    if _first_problem(candidate, limits, calendar, (period,), None) is None:
                        found.append((candidate, order, calendar.staff_id))
                    candidate += grid
    found.sort(key=lambda item: item[:2])
    slots: list[Slot] = []
    seen: set[tuple[datetime, int]] = set()
    for start, _, staff_id in found:
        if (start, staff_id) not in seen:
            seen.add((start, staff_id))
            slots.append(Slot(start, start + rules.duration, staff_id))
    return slots


def free_days(
    rules: ServiceRules,
    staff: Sequence[StaffSchedule],
    *,
    start_day: date,
    end_day: date,
    now: datetime,
    closures: Closures,
    grid: timedelta = timedelta(minutes=15),
    exclude_booking_id: int | None = None,
) -> set[date]:
    """The days of ``start_day``..``end_day`` on which ``free_slots`` would offer anything.

    The same search and predicate as ``free_slots``, stopping at the first free
    start of each day: a calendar of a month costs a fraction of listing it.
    Days are read in each staff member's zone, as in ``free_slots``.
    """
    _require_grid(grid)
    if end_day < start_day:
        raise ValueError(f"end_day {end_day} is before start_day {start_day}")
    reach = _reach(start_day, end_day, rules)
    limits = _Limits.build(rules, now, closures, reach, enforce_notice=True)
    days = [start_day + timedelta(days=offset) for offset in range((end_day - start_day).days + 1)]
    found: set[date] = set()
    for schedule in staff:
        calendar = _Calendar.build(schedule, reach, exclude_booking_id)
        for day in days:
            if day in found:
                continue
            for period_start, period_end in calendar.periods(day):
                candidate, last = period_start, period_end - rules.duration
                period = (period_start, period_end)
                while candidate <= last:
                    if _first_problem(candidate, limits, calendar, (period,), None) is None:
                        found.add(day)
                        break
                    candidate += grid
                if day in found:
                    break
    return found


def check_slot(
    rules: ServiceRules,
    schedule: StaffSchedule,
    start: datetime,
    *,
    now: datetime,
    closures: Closures,
    grid: timedelta | None = None,
    enforce_notice: bool = True,
    exclude_booking_id: int | None = None,
    honour_external: bool = True,
) -> SlotProblem | None:
    """The first reason ``start`` cannot be booked with ``schedule``, or ``None`` if it can.

    Args:
        rules: duration, buffers, minimum notice and horizon of the service.
        schedule: the staff member's zone, hours, time off and busy spans.
        start: the wanted start, aware (any offset; judged as an instant).
        now: the current time, aware.
        closures: whole days the business is closed, in its own zone.
        grid: if given, ``start`` must lie on this grid counted from the start
            of its working period (customers); ``None`` accepts any start (staff).
        enforce_notice: hold ``start`` to minimum notice and horizon (customers).
        exclude_booking_id: a booking whose busy span is ignored (rescheduling it).
        honour_external: whether the schedule's ``external_busy`` blocks (customers);
            staff book over it and are warned (``external_conflict``).

    Returns:
        The first failing ``SlotProblem`` in the order IN_PAST, TOO_SOON,
        BEYOND_HORIZON, CLOSED, OUTSIDE_WORKING_HOURS, NOT_ON_GRID, TIME_OFF,
        TAKEN, EXTERNAL_BUSY; ``None`` when the slot is free. With ``grid`` and notice given,
        ``None`` exactly for the starts ``free_slots`` offers.

    Raises:
        ValueError: a naive datetime, a non-positive grid or duration, a
            negative buffer, or a working period that does not end after it starts.
        zoneinfo.ZoneInfoNotFoundError: an unknown time zone name.

    Example:
        >>> from datetime import UTC, datetime, time, timedelta
        >>> from mailflow.booking.model import Closures, ServiceRules, StaffSchedule
        >>> anna = StaffSchedule(1, "Europe/Berlin", {0: [(time(9), time(17))]})
        >>> check_slot(
        ...     ServiceRules(duration=timedelta(minutes=30)), anna, datetime(2026, 7, 6, 5, 0, tzinfo=UTC),
        ...     now=datetime(2026, 7, 1, tzinfo=UTC), closures=Closures("Europe/Berlin"),
        ... )
        <SlotProblem.OUTSIDE_WORKING_HOURS: 'outside_working_hours'>
    """
    if grid is not None:
        _require_grid(grid)
    start = _utc(start, "start")
    zone = ZoneInfo(schedule.timezone)
    local_day = start.astimezone(zone).date()
    # The day before too: a DST gap just before midnight can push a period's end past it.
    first_day = local_day - _ONE_DAY
    reach = _reach(first_day, local_day, rules)
    limits = _Limits.build(rules, now, closures, reach, enforce_notice=enforce_notice)
    calendar = _Calendar.build(schedule, reach, exclude_booking_id, honour_external=honour_external)
    periods = calendar.periods(first_day) + calendar.periods(local_day)
    return _first_problem(start, limits, calendar, periods, grid)


def external_conflict(rules: ServiceRules, schedule: StaffSchedule, start: datetime) -> bool:
    """Whether an appointment at ``start`` (buffers included) overlaps the staff member's
    external busy times: what staff, who may book over them, are warned about."""
    start = _utc(start, "start")
    blocked_start = start - rules.buffer_before
    blocked_end = start + rules.duration + rules.buffer_after
    return any(
        _utc(b.start, "busy start") < blocked_end and blocked_start < _utc(b.end, "busy end")
        for b in schedule.external_busy
    )
