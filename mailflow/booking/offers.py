"""Which free times to offer a customer who asks to move a booking by email. Pure, no I/O.

Rule:

1. one start, one person: the current staff member when free then, otherwise
   the person the "any staff" rule (``spread_slots``) gives that start to;
2. one offer on each of the first days with a free time, in day order; then a
   second on those days if still short, and never more than ``per_day`` a day
   (fewer offers rather than a whole morning of one day);
3. the offers alternate between the customer's usual part of the day and the
   other one (before or after noon, local time in ``zone``), so a customer who
   cannot come in the morning still finds an afternoon; a second offer on a day
   takes the part of the day the first did not;
4. within that: the current staff member first, then the time nearest the
   customer's usual time of day, then the earlier start.

The same facts always give the same offers, sorted by start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, tzinfo

from mailflow.booking.model import Slot
from mailflow.booking.spread import StaffLoad, spread_slots

__all__ = ["NOON", "choose_offers"]

NOON = time(12)


def _minutes(moment: time) -> int:
    return moment.hour * 60 + moment.minute


def _one_per_start(
    slots: Iterable[Slot], current_staff: int, loads: Mapping[int, StaffLoad], zone: tzinfo
) -> list[Slot]:
    """Each start once: the current staff member where free, else the "any staff" choice."""
    by_start: dict[datetime, list[Slot]] = {}
    for slot in slots:
        by_start.setdefault(slot.start, []).append(slot)
    chosen: list[Slot] = []
    others: list[Slot] = []
    for free in by_start.values():
        own = next((s for s in free if s.staff_id == current_staff), None)
        if own is not None:
            chosen.append(own)
        else:
            others.extend(free)
    chosen.extend(spread_slots(others, loads, zone))
    return sorted(chosen, key=lambda s: s.start)


def choose_offers(
    free_slots: Iterable[Slot],
    current_staff: int,
    usual_time: time,
    zone: tzinfo,
    *,
    count: int = 5,
    per_day: int = 2,
    loads: Mapping[int, StaffLoad] | None = None,
) -> list[Slot]:
    """Up to ``count`` of ``free_slots`` to offer, by the rule of this module, sorted by start.

    ``free_slots`` may list several staff at one start; ``usual_time`` is the
    customer's usual local time of day (the booking's own is a fair proxy);
    ``zone`` is the business's; ``loads`` feed the "any staff" rule.

    Example:
        >>> from datetime import UTC, datetime, timedelta
        >>> def slot(day: int, hour: int, staff: int = 1) -> Slot:
        ...     start = datetime(2026, 7, day, hour, tzinfo=UTC)
        ...     return Slot(start, start + timedelta(minutes=30), staff)
        >>> free = [slot(d, h) for d in (6, 7) for h in (9, 10, 15)]
        >>> [(s.start.day, s.start.hour) for s in choose_offers(free, 1, time(10), UTC, count=3)]
        [(6, 10), (6, 15), (7, 15)]
    """
    candidates = _one_per_start(free_slots, current_staff, loads or {}, zone)
    if count <= 0 or not candidates:
        return []
    usual = _minutes(usual_time)
    usual_morning = usual_time < NOON
    by_day: dict[date, list[Slot]] = {}
    for slot in candidates:
        by_day.setdefault(slot.start.astimezone(zone).date(), []).append(slot)

    def rank(slot: Slot, morning: bool) -> tuple[bool, bool, int, datetime]:
        local = slot.start.astimezone(zone).time()
        return (
            (local < NOON) != morning,  # the wanted part of the day first
            slot.staff_id != current_staff,
            abs(_minutes(local) - usual),
            slot.start,
        )

    taken: list[Slot] = []
    picked: dict[date, list[Slot]] = {}
    for _ in range(per_day):
        for day in sorted(by_day):
            left = [s for s in by_day[day] if s not in picked.get(day, [])]
            if len(taken) == count or not left:
                continue
            before = picked.get(day)
            if before:  # a further offer that day: the part of the day not offered yet
                morning = before[-1].start.astimezone(zone).time() >= NOON
            else:  # the first offers alternate: usual part, other part, usual part, ...
                morning = usual_morning == (len(taken) % 2 == 0)
            best = min(left, key=lambda s: rank(s, morning))
            picked.setdefault(day, []).append(best)
            taken.append(best)
    return sorted(taken, key=lambda s: s.start)
