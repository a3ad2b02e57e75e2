"""Who takes an "any staff member" booking: spread over the eligible staff. Pure, no I/O.

Rule, in order:

1. fewest bookings on that local day (of the business) first;
2. then round-robin: the one whose latest booking was *created* longest ago
   (someone never booked comes first), so equals take turns in the order
   they were last given work;
3. then the order the candidates are given in (by staff id from the store),
   so the answer is always the same for the same facts.

Only candidates free at the start are passed in: someone who does not
perform the service or is busy then is never a candidate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from mailflow.booking.model import Slot

__all__ = ["StaffLoad", "choose_staff", "spread_slots"]


@dataclass(frozen=True, slots=True)
class StaffLoad:
    """What the choice knows of one staff member.

    ``per_day`` counts confirmed bookings by local day; ``last_created`` is
    when their latest booking was created (aware), ``None`` if never.
    """

    staff_id: int
    per_day: Mapping[date, int]
    last_created: datetime | None = None


def choose_staff(candidates: Sequence[int], loads: Mapping[int, StaffLoad], day: date) -> int:
    """The one of ``candidates`` (staff ids free at one start on ``day``) who takes the booking.

    Raises ``ValueError`` when there is no candidate. A candidate without a
    load counts as never booked.

    Example:
        >>> from datetime import UTC, date, datetime
        >>> day = date(2026, 7, 6)
        >>> loads = {1: StaffLoad(1, {day: 2}), 2: StaffLoad(2, {day: 1}), 3: StaffLoad(3, {day: 1})}
        >>> choose_staff([1, 2, 3], loads, day)  # 2 and 3 have one booking; neither booked before
        2
    """
    if not candidates:
        raise ValueError("choose_staff needs at least one candidate")

    def key(item: tuple[int, int]) -> tuple[int, bool, datetime | int, int]:
        order, staff_id = item
        load = loads.get(staff_id)
        count = load.per_day.get(day, 0) if load is not None else 0
        last = load.last_created if load is not None else None
        # Never booked sorts before any time; the order given breaks what remains.
        return (count, last is not None, last if last is not None else 0, order)

    return min(enumerate(candidates), key=key)[1]


def spread_slots(slots: Iterable[Slot], loads: Mapping[int, StaffLoad], zone: tzinfo) -> list[Slot]:
    """``slots`` (several staff per start) as one slot per start, the staff chosen by ``choose_staff``.

    ``zone`` is the business's: it says which local day a start counts for.
    The result is sorted by start; the candidates keep the order of ``slots``.
    """
    by_start: dict[datetime, list[Slot]] = {}
    for slot in slots:
        by_start.setdefault(slot.start, []).append(slot)
    spread: list[Slot] = []
    for start in sorted(by_start):
        free = by_start[start]
        chosen = choose_staff([s.staff_id for s in free], loads, start.astimezone(zone).date())
        spread.append(next(s for s in free if s.staff_id == chosen))
    return spread
