"""Domain values of the booking core: plain, frozen, free of any I/O.

The store converts its rows into these values and back; the core reasons only
about them. Every datetime here is timezone-aware UTC, every ``timedelta`` a
whole number of minutes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum


class Origin(StrEnum):
    """Who made the booking."""

    SELF_SERVICE = "self_service"
    STAFF = "staff"


class BookingStatus(StrEnum):
    """Lifecycle of a booking; only confirmed bookings occupy the calendar."""

    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


class ActorKind(StrEnum):
    """Who performs an action; customers are held to the policy, staff are not."""

    CUSTOMER_LINK = "customer_link"
    """The customer through their manage link (reschedule, cancel, message)."""
    CUSTOMER_SELF_SERVICE = "customer_self_service"
    """The customer on the self-service booking page (``/book``): a new booking."""
    CUSTOMER_REPLY = "customer_reply"
    STAFF = "staff"
    SYSTEM = "system"

    @property
    def is_customer(self) -> bool:
        return self in (ActorKind.CUSTOMER_LINK, ActorKind.CUSTOMER_SELF_SERVICE, ActorKind.CUSTOMER_REPLY)


@dataclass(frozen=True, slots=True)
class Actor:
    """The one performing an action, with a label for audit and staff emails."""

    kind: ActorKind
    label: str = ""


@dataclass(frozen=True, slots=True)
class Interval:
    """A half-open span of time ``[start, end)`` in aware UTC."""

    start: datetime
    end: datetime

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True, slots=True)
class BusyInterval:
    """Time a staff member is already taken, buffers included, by one booking."""

    start: datetime
    end: datetime
    booking_id: int | None = None


# Weekday (0 = Monday ... 6 = Sunday) -> working periods in the staff's local time.
WeeklyHours = Mapping[int, Sequence[tuple[time, time]]]


@dataclass(frozen=True, slots=True)
class StaffSchedule:
    """Everything the slot search needs to know about one staff member."""

    staff_id: int
    timezone: str
    weekly_hours: WeeklyHours
    time_off: Sequence[Interval] = ()
    busy: Sequence[BusyInterval] = ()
    external_busy: Sequence[Interval] = ()
    """Busy times of the staff member's own calendars (Google, Outlook, CalDAV): they block
    customers' slots; staff may still book over them (with a warning)."""


@dataclass(frozen=True, slots=True)
class ServiceRules:
    """The parts of a service that decide timing and the manage policy."""

    duration: timedelta
    buffer_before: timedelta = timedelta(0)
    buffer_after: timedelta = timedelta(0)
    customer_can_manage: bool = False
    change_cutoff: timedelta = timedelta(0)
    min_notice: timedelta = timedelta(0)
    horizon: timedelta = timedelta(days=90)


@dataclass(frozen=True, slots=True)
class Closures:
    """Whole days, in the business's time zone, on which nothing can be booked."""

    timezone: str
    dates: frozenset[date] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class Slot:
    """A free start time with one staff member."""

    start: datetime
    end: datetime
    staff_id: int


@dataclass(frozen=True, slots=True)
class BookingState:
    """The core's view of one booking: what the policy and the actions need."""

    ref: str
    service_id: int
    staff_id: int
    customer_id: int
    origin: Origin
    status: BookingStatus
    start: datetime
    end: datetime
    sequence: int = 0
    version: int = 1
    cancel_reason: str | None = None
    booking_id: int | None = None

    def blocked(self, rules: ServiceRules) -> Interval:
        """The span this booking takes from its staff member, buffers included."""
        return Interval(self.start - rules.buffer_before, self.end + rules.buffer_after)
