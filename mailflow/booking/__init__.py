"""The booking core: policy, free slots, actions and their events. No I/O.

Nothing in here imports an adapter (store, web, mail); time is passed in.
"""

from mailflow.booking.actions import cancel, create, reschedule
from mailflow.booking.events import BookingCancelled, BookingCreated, BookingRescheduled, DomainEvent
from mailflow.booking.model import (
    Actor,
    ActorKind,
    BookingState,
    BookingStatus,
    BusyInterval,
    Closures,
    Interval,
    Origin,
    ServiceRules,
    Slot,
    StaffSchedule,
)
from mailflow.booking.offers import choose_offers
from mailflow.booking.policy import ManageDecision, ManageReason, manage_allowed
from mailflow.booking.slots import SlotProblem, check_slot, external_conflict, free_days, free_slots
from mailflow.booking.spread import StaffLoad, choose_staff, spread_slots

__all__ = [
    "Actor",
    "ActorKind",
    "BookingCancelled",
    "BookingCreated",
    "BookingRescheduled",
    "BookingState",
    "BookingStatus",
    "BusyInterval",
    "Closures",
    "DomainEvent",
    "Interval",
    "ManageDecision",
    "ManageReason",
    "Origin",
    "ServiceRules",
    "Slot",
    "SlotProblem",
    "StaffLoad",
    "StaffSchedule",
    "cancel",
    "check_slot",
    "choose_offers",
    "choose_staff",
    "create",
    "external_conflict",
    "free_days",
    "free_slots",
    "manage_allowed",
    "reschedule",
    "spread_slots",
]
