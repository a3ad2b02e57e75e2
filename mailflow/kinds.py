"""The names mailflow stores and compares as strings, each set in one place.

``EmailKind``: every email mailflow sends (the template names, ``OutboxMessage.kind``,
``ReplyKey.kind``); ``WebhookEvent``: every event a webhook endpoint may hear of
(``WebhookDelivery.event_type``); ``InboundStatus``: where a received message is
(``InboundMessage.status``). Both are ``StrEnum``: a member equals its string, so
stored values, JSON and templates read the same as before. This module imports
nothing of mailflow: the core, the services and the adapters may all use it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = [
    "ACCOUNT_KINDS",
    "CALENDAR_LINK_KINDS",
    "CUSTOMER_KINDS",
    "STAFF_KINDS",
    "EmailKind",
    "InboundStatus",
    "WebhookEvent",
]


class EmailKind(StrEnum):
    """Every kind of email mailflow sends."""

    # to the customer
    CONFIRMATION = "confirmation"
    REMINDER = "reminder"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"
    RESCHEDULE_OPTIONS = "reschedule_options"
    ACTION_REFUSED = "action_refused"
    STAFF_REPLY = "staff_reply"
    # to staff and admins
    BOOKING_CREATED = "booking_created"
    BOOKING_RESCHEDULED = "booking_rescheduled"
    BOOKING_CANCELLED = "booking_cancelled"
    BOOKING_REASSIGNED = "booking_reassigned"
    CUSTOMER_MESSAGE = "customer_message"
    DELIVERY_FAILED = "delivery_failed"
    DAILY_AGENDA = "daily_agenda"
    REPLY_NOT_RELAYED = "reply_not_relayed"
    # account links (not templates an admin edits)
    ADMIN_INVITATION = "admin_invitation"
    ADMIN_PASSWORD_RESET = "admin_password_reset"  # noqa: S105 - an email kind, not a password
    # to the admins, no template either: mail that reached postmaster@<inbound domain>
    POSTMASTER = "postmaster"
    # to the admins, no template either: a webhook endpoint that kept failing was disabled
    WEBHOOK_DISABLED = "webhook_disabled"


CUSTOMER_KINDS: Final = (
    EmailKind.CONFIRMATION,
    EmailKind.REMINDER,
    EmailKind.RESCHEDULED,
    EmailKind.CANCELLED,
    EmailKind.RESCHEDULE_OPTIONS,
    EmailKind.ACTION_REFUSED,
    EmailKind.STAFF_REPLY,
)
CALENDAR_LINK_KINDS: Final = (EmailKind.CONFIRMATION, EmailKind.REMINDER, EmailKind.RESCHEDULED)
"""Customer kinds about a booking with a time: they carry "add to calendar" links (Google, Outlook, .ics)."""
STAFF_KINDS: Final = (
    EmailKind.BOOKING_CREATED,
    EmailKind.BOOKING_RESCHEDULED,
    EmailKind.BOOKING_CANCELLED,
    EmailKind.BOOKING_REASSIGNED,
    EmailKind.CUSTOMER_MESSAGE,
    EmailKind.DELIVERY_FAILED,
    EmailKind.DAILY_AGENDA,
    EmailKind.REPLY_NOT_RELAYED,
)
ACCOUNT_KINDS: Final = (EmailKind.ADMIN_INVITATION, EmailKind.ADMIN_PASSWORD_RESET)
OPERATOR_KINDS: Final = (EmailKind.POSTMASTER, EmailKind.WEBHOOK_DISABLED)


class InboundStatus(StrEnum):
    """Where a received message is: stored, taken by a worker, judged, or crashed (bytes kept)."""

    RECEIVED = "received"
    PROCESSING = "processing"
    DONE = "done"
    ERROR = "error"


class WebhookEvent(StrEnum):
    """Every event a webhook endpoint may subscribe to (the body's ``type``)."""

    BOOKING_CREATED = "booking.created"
    BOOKING_RESCHEDULED = "booking.rescheduled"
    BOOKING_REASSIGNED = "booking.reassigned"
    """The staff member changed, with or without a new time."""
    BOOKING_CANCELLED = "booking.cancelled"
    CUSTOMER_MESSAGE = "customer.message"
    EMAIL_DELIVERED = "email.delivered"
    EMAIL_FAILED = "email.failed"
    EMAIL_BOUNCED = "email.bounced"


WEBHOOK_TEST: Final = "webhook.test"
"""The type of the event "send a test event" sends (to that endpoint only, whatever it subscribed)."""
