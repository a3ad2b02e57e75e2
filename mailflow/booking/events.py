"""Domain events: what a booking action did, for the notifier, audit and callers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mailflow.booking.model import Actor, BookingState


@dataclass(frozen=True, slots=True)
class BookingCreated:
    booking: BookingState
    actor: Actor
    at: datetime


@dataclass(frozen=True, slots=True)
class BookingRescheduled:
    old: BookingState
    new: BookingState
    actor: Actor
    at: datetime

    @property
    def booking(self) -> BookingState:
        return self.new

    @property
    def staff_changed(self) -> bool:
        return self.old.staff_id != self.new.staff_id


@dataclass(frozen=True, slots=True)
class BookingCancelled:
    old: BookingState
    booking: BookingState
    actor: Actor
    at: datetime

    @property
    def reason(self) -> str | None:
        return self.booking.cancel_reason


DomainEvent = BookingCreated | BookingRescheduled | BookingCancelled
