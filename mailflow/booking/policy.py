"""The rule at the heart of mailflow: may the customer manage this booking?

``manage_allowed`` is the one implementation of DESIGN §1. Emails, the manage
page and reply commands all ask it; nothing re-implements it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from mailflow.booking.model import BookingState, BookingStatus, Origin, ServiceRules


class ManageReason(StrEnum):
    """Why the customer may or may not manage a booking (stable codes; their texts are in the catalogs)."""

    ALLOWED = "allowed"
    ORIGIN_STAFF_AND_SETTING_OFF = "origin_staff_and_setting_off"
    CANCELLED = "cancelled"
    STARTED = "started"
    PAST_CUTOFF = "past_cutoff"


@dataclass(frozen=True, slots=True)
class ManageDecision:
    """The decision and its reason; truthy exactly when allowed."""

    allowed: bool
    reason: ManageReason

    def __bool__(self) -> bool:
        return self.allowed


def manage_allowed(booking: BookingState, service: ServiceRules, now: datetime) -> ManageDecision:
    """Decide whether the customer may reschedule or cancel ``booking`` at ``now``.

    Allowed when the booking is confirmed, has not started, is not inside the
    service's change cut-off, and was either made by the customer
    (``self_service``) or belongs to a service with ``customer_can_manage`` on.
    Checks run in that order, so the reason names the first obstacle.

    Example: a staff-made booking of a service with the setting off gives
    ``ManageDecision(allowed=False, reason=ManageReason.ORIGIN_STAFF_AND_SETTING_OFF)``.
    """
    if booking.status != BookingStatus.CONFIRMED:
        return ManageDecision(False, ManageReason.CANCELLED)
    if now >= booking.start:
        return ManageDecision(False, ManageReason.STARTED)
    if booking.origin != Origin.SELF_SERVICE and not service.customer_can_manage:
        return ManageDecision(False, ManageReason.ORIGIN_STAFF_AND_SETTING_OFF)
    if now > booking.start - service.change_cutoff:
        return ManageDecision(False, ManageReason.PAST_CUTOFF)
    return ManageDecision(True, ManageReason.ALLOWED)
