"""Webhook events planned with the change they report, in its transaction (DESIGN §11).

Every door that changes a booking goes through ``services.bookings``, which calls
``plan_booking_event`` beside the notifier; customer messages (manage page, reply),
the dispatcher's outcomes and recorded bounces call the other planners. Each
writes one delivery row per enabled endpoint that subscribed to the event, so
the worker sends exactly what committed. The body:

    {"type": "booking.created", "timestamp": "<ISO 8601>",
     "data": {"booking": <booking JSON of DESIGN §10>, "actor": "staff", ...}}

``data.previous`` is the booking before a reschedule or reassignment; customer
messages add ``data.message``, email events ``data.email``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from mailflow.booking.events import BookingCancelled, BookingCreated, BookingRescheduled, DomainEvent
from mailflow.booking.model import Actor, ActorKind
from mailflow.kinds import WebhookEvent
from mailflow.outbound.webhook_queue import body, enqueue_delivery, subscribed
from mailflow.services.booking_view import view_of
from mailflow.store.tables import Booking, Staff

if TYPE_CHECKING:
    from mailflow.outbound.outbox import ClaimedMessage

log = logging.getLogger("mailflow.webhooks")

__all__ = [
    "API_ACTOR_PREFIX",
    "actor_name",
    "plan_booking_event",
    "plan_customer_message",
    "plan_email_event",
    "plan_email_outcome",
]

API_ACTOR_PREFIX = "API key "
"""How the label of an API key's actor starts (``services.api_keys.ApiCaller.actor_label``)."""


def actor_name(actor: Actor) -> str:
    """Who acted, as webhooks name it: a customer door, ``staff``, ``api`` or ``system``."""
    if actor.kind is ActorKind.STAFF and actor.label.startswith(API_ACTOR_PREFIX):
        return "api"
    return actor.kind.value


def booking_event_type(event: DomainEvent) -> WebhookEvent:
    """The webhook event of a domain event (a change of staff is a reassignment, moved or not)."""
    if isinstance(event, BookingCreated):
        return WebhookEvent.BOOKING_CREATED
    if isinstance(event, BookingRescheduled):
        return WebhookEvent.BOOKING_REASSIGNED if event.staff_changed else WebhookEvent.BOOKING_RESCHEDULED
    assert isinstance(event, BookingCancelled)
    return WebhookEvent.BOOKING_CANCELLED


def _plan(
    session: Session,
    booking: Booking,
    event_type: str,
    at: datetime,
    data: dict[str, Any],
    endpoints: list[int],
) -> int:
    payload = body(event_type, at, {"booking": view_of(session, booking).to_json(), **data})
    for endpoint_id in endpoints:
        enqueue_delivery(
            session,
            endpoint_id=endpoint_id,
            business_id=booking.business_id,
            booking_id=booking.id,
            event_type=event_type,
            payload=payload,
            now=at,
        )
    return len(endpoints)


def plan_booking_event(session: Session, row: Booking, event: DomainEvent) -> int:
    """Queue the deliveries of a booking change in its transaction; how many."""
    event_type = booking_event_type(event)
    endpoints = subscribed(session, row.business_id, event_type)
    if not endpoints:
        return 0
    data: dict[str, Any] = {"actor": actor_name(event.actor)}
    if isinstance(event, BookingRescheduled):
        old = event.old
        before = replace(
            view_of(session, row),
            status=old.status.value,
            staff=session.get_one(Staff, old.staff_id).email,
            start=old.start,
            end=old.end,
            sequence=old.sequence,
        )
        data["previous"] = before.to_json()
    return _plan(session, row, event_type, event.at, data, endpoints)


def plan_customer_message(
    session: Session, booking: Booking, actor: Actor, message: dict[str, Any], now: datetime
) -> int:
    """Queue ``customer.message`` for a customer's message (manage page or reply) forwarded to staff."""
    event_type = WebhookEvent.CUSTOMER_MESSAGE
    endpoints = subscribed(session, booking.business_id, event_type)
    if not endpoints:
        return 0
    shown = {key: message.get(key) for key in ("from_name", "from_email", "subject", "text", "verified")}
    return _plan(session, booking, event_type, now, {"actor": actor_name(actor), "message": shown}, endpoints)


def plan_email_event(
    session: Session,
    *,
    business_id: int,
    booking_id: int | None,
    event_type: WebhookEvent,
    email: dict[str, Any],
    now: datetime,
) -> int:
    """Queue ``email.delivered``, ``email.failed`` or ``email.bounced`` for an email of a booking
    (emails of no booking, such as the daily agenda, raise no event)."""
    if booking_id is None:
        return 0
    endpoints = subscribed(session, business_id, event_type)
    if not endpoints:
        return 0
    booking = session.get_one(Booking, booking_id)
    return _plan(session, booking, event_type, now, {"actor": "system", "email": email}, endpoints)


def plan_email_outcome(
    session: Session, message: ClaimedMessage, delivered: bool, detail: str, now: datetime
) -> None:
    """The dispatcher's hook: an email the relay accepted (``email.delivered``) or that failed for
    good (``email.failed``), in the transaction that records it.

    Never raises: the email has gone, and a failure here must not undo recording it (it would be
    sent again). The event is lost instead, and logged.
    """
    event_type = WebhookEvent.EMAIL_DELIVERED if delivered else WebhookEvent.EMAIL_FAILED
    if message.booking_id is None or not subscribed(session, message.business_id, event_type):
        return  # the common case costs no savepoint
    try:
        with session.begin_nested():  # a failed insert leaves the dispatcher's transaction usable
            _plan_email_outcome(session, message, delivered, detail, now)
    except Exception:
        log.exception("outbox %d: its webhook event could not be queued", message.id)


def _plan_email_outcome(
    session: Session, message: ClaimedMessage, delivered: bool, detail: str, now: datetime
) -> None:
    email: dict[str, Any] = {
        "kind": message.kind,
        "recipient": message.recipient,
        "message_id": message.message_id,
    }
    if not delivered:
        email["error"] = detail
    plan_email_event(
        session,
        business_id=message.business_id,
        booking_id=message.booking_id,
        event_type=WebhookEvent.EMAIL_DELIVERED if delivered else WebhookEvent.EMAIL_FAILED,
        email=email,
        now=now,
    )
