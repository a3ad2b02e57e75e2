"""Customers: correcting a customer's address, and data protection (export, erase).

``correct_customer_address`` is the admin's fix for a mistyped or bouncing address.

A customer is one row per business (the same address at two businesses is two
customers); both commands cover every business unless one is named. Erasing
keeps the bookings, emails and replies as counted facts (kind, status, times,
service, staff) so reports stay right, and removes what identifies the person:
name, address, phone, the customer's manage links and reply keys, the bodies of
the emails sent to them, the raw bytes and verdict details of their replies,
cancellation reasons and their name in the audit. A customer with confirmed
bookings still ahead is refused: cancel those first, so nobody is left with an
appointment the business can no longer tell them about. The erasure itself is
audited without anything personal: the customer's id and the counts.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, case, delete, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from mailflow.booking.model import Actor, ActorKind, BookingStatus
from mailflow.errors import InvalidInput, NotFound
from mailflow.i18n import N_, Nn_
from mailflow.services.common import apply_changes, audit, normalize_email
from mailflow.services.reminders import ReminderStatus
from mailflow.store import queries
from mailflow.store.engine import read_session, write_session
from mailflow.store.tables import (
    AuditEvent,
    Booking,
    Business,
    Customer,
    InboundMessage,
    ManageToken,
    OutboxMessage,
    Reminder,
    ReplyKey,
    Service,
    Staff,
    pk,
)
from mailflow.store.webhook_tables import WebhookDelivery

ERASED_NAME = "(erased)"
ERASER = Actor(ActorKind.STAFF, "cli")
PERSONAL_SNAPSHOT_FIELDS = ("cancel_reason", "email")
"""Values in audit snapshots that are the customer's own: a cancellation reason is their words,
an ``email`` their (earlier) address, as a corrected address records it."""


def correct_customer_address(
    engine: Engine, ref: str, email_address: str, *, actor: Actor, now: datetime
) -> str:
    """Set the address of booking ``ref``'s customer to ``email_address`` and clear its bounce flag.

    One transaction, audited on the booking as ``customer.address_corrected`` with the address
    and flag before and after (a correction to the same address just clears the flag). Returns
    the address as stored (trimmed, lower case).

    Raises ``NotFound`` for an unknown booking, ``InvalidInput`` (field ``email``) when the
    address is malformed or another customer of the business already has it.

    >>> correct_customer_address(engine, "K7M2QX", "ada@example.org", actor=admin, now=now)
    'ada@example.org'
    """
    address = normalize_email(email_address, field="email")
    try:
        with write_session(engine) as session:
            booking = queries.booking_by_ref(session, ref)
            customer = session.get_one(Customer, booking.customer_id)
            clash = session.exec(
                select(Customer).where(
                    Customer.business_id == customer.business_id,
                    Customer.email == address,
                    Customer.id != customer.id,
                )
            ).first()
            if clash is not None:
                raise _address_taken(clash.name, address)
            before, after = apply_changes(customer, {"email": address, "bouncing": False})
            if after:
                session.add(customer)
                audit(
                    session,
                    business_id=customer.business_id,
                    booking_id=booking.id,
                    action="customer.address_corrected",
                    actor=actor,
                    at=now,
                    before=before,
                    after=after,
                )
    except IntegrityError:  # another change gave the address to a customer meanwhile
        raise _address_taken("another customer", address) from None
    return address


def _address_taken(name: str, address: str) -> InvalidInput:
    return InvalidInput(
        N_("Another customer ({name}) already has the address {address}."),
        name=name,
        address=address,
        field="email",
    )


def erased_address(customer_id: int) -> str:
    """What an erased customer's address becomes: unique, and never deliverable (RFC 2606)."""
    return f"erased-{customer_id}@erased.invalid"


def _customers(session: Session, address: str, business: str | None) -> list[tuple[Customer, Business]]:
    query = (
        select(Customer, Business)
        .join(Business, col(Business.id) == col(Customer.business_id))
        .where(Customer.email == address)
        .order_by(col(Customer.id))
    )
    if business is not None:
        query = query.where(Business.slug == business)
    found = list(session.exec(query).all())
    if not found:
        if business is None:
            raise NotFound(N_("customer"), address)
        raise NotFound(
            N_("customer"), address, message=N_("customer {key!r} not found at {business}"), business=business
        )
    return found


def _inbound_of(address: str, booking_ids: list[int]) -> Any:
    """Their replies: those about their bookings, and anything they sent that found no booking."""
    return or_(col(InboundMessage.booking_id).in_(booking_ids), col(InboundMessage.envelope_from) == address)


def export_customer(engine: Engine, email_address: str, business: str | None = None) -> dict[str, Any]:
    """Everything held about the customer with ``email_address``, as JSON-ready data.

    One object per business the address is a customer of (or only ``business``'s): details,
    bookings, emails, replies and the bookings' history. Raises ``NotFound`` when there is none.
    """
    address = normalize_email(email_address)
    with read_session(engine) as session:
        result: dict[str, Any] = {"email": address, "customers": []}
        for customer, owner in _customers(session, address, business):
            bookings = session.exec(
                select(Booking).where(Booking.customer_id == pk(customer)).order_by(col(Booking.start))
            ).all()
            booking_ids = [pk(row) for row in bookings]
            # Only this business's services and staff, once per business (not every business's rows).
            services = {
                pk(s): s.slug for s in session.exec(select(Service).where(Service.business_id == pk(owner)))
            }
            staff = {
                pk(s): s.email for s in session.exec(select(Staff).where(Staff.business_id == pk(owner)))
            }
            emails = session.exec(
                select(OutboxMessage)
                .where(OutboxMessage.recipient == address, OutboxMessage.business_id == pk(owner))
                .order_by(col(OutboxMessage.id))
            ).all()
            replies = session.exec(
                select(InboundMessage)
                .where(_inbound_of(address, booking_ids))
                .order_by(col(InboundMessage.id))
            ).all()
            audit = session.exec(
                select(AuditEvent)
                .where(col(AuditEvent.booking_id).in_(booking_ids))
                .order_by(col(AuditEvent.id))
            ).all()
            result["customers"].append(
                {
                    "business": owner.slug,
                    "name": customer.name,
                    "email": customer.email,
                    "phone": customer.phone,
                    "locale": customer.locale,
                    "timezone": customer.timezone,
                    "bouncing": customer.bouncing,
                    "created_at": customer.created_at.isoformat(),
                    "bookings": [
                        {
                            "ref": row.ref,
                            "status": row.status,
                            "origin": row.origin,
                            "service": services.get(row.service_id),
                            "staff": staff.get(row.staff_id),
                            "start": row.start.isoformat(),
                            "end": row.end.isoformat(),
                            "cancel_reason": row.cancel_reason,
                            "created_at": row.created_at.isoformat(),
                        }
                        for row in bookings
                    ],
                    "emails": [_email(row) for row in emails],
                    "replies": [_reply(row) for row in replies],
                    "history": [
                        {
                            "at": row.at.isoformat(),
                            "action": row.action,
                            "by": row.actor_label,
                            "before": row.before,
                            "after": row.after,
                        }
                        for row in audit
                    ],
                }
            )
        return result


def _email(row: OutboxMessage) -> dict[str, Any]:
    subject = None
    if row.payload:
        subject = email.message_from_bytes(row.payload, policy=email.policy.default).get("Subject")
    return {
        "kind": row.kind,
        "status": row.status,
        "created_at": row.created_at.isoformat(),
        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
        "subject": subject,
        "message": row.payload.decode("utf-8", "replace") if row.payload else None,
    }


def _reply(row: InboundMessage) -> dict[str, Any]:
    return {
        "received_at": row.received_at.isoformat(),
        "kind": row.kind,
        "command": row.command,
        "status": row.status,
        "verdicts": row.verdicts,
        "message": row.raw.decode("utf-8", "replace") if row.raw else None,
    }


def erase_customer(
    engine: Engine,
    email_address: str,
    now: datetime,
    business: str | None = None,
    *,
    actor: Actor = ERASER,
) -> dict[str, Any]:
    """Remove or anonymise everything that identifies the customer; counts of what was touched.

    One transaction; each erased customer record is audited (``customer.erased``, by ``actor``)
    with its id and counts only. Raises ``NotFound`` when no customer has the address (at
    ``business``), ``InvalidInput`` when one still has confirmed bookings ahead.
    """
    address = normalize_email(email_address)
    summary = {"customers": 0, "bookings": 0, "emails": 0, "replies": 0, "manage_links": 0}
    with write_session(engine) as session:
        found = _customers(session, address, business)
        for customer, _owner in found:
            ahead = session.exec(
                select(Booking.ref).where(
                    Booking.customer_id == pk(customer),
                    Booking.status == BookingStatus.CONFIRMED,
                    col(Booking.end) > now,
                )
            ).all()
            if ahead:
                raise InvalidInput(
                    Nn_(
                        "{address} still has a confirmed booking ahead ({refs}): cancel it first",
                        "{address} still has confirmed bookings ahead ({refs}): cancel them first",
                    ),
                    n=len(ahead),
                    address=address,
                    refs=", ".join(ahead),
                )
        for customer, owner in found:
            customer_id = pk(customer)
            erased = erased_address(customer_id)
            bookings = session.exec(select(Booking).where(Booking.customer_id == customer_id)).all()
            booking_ids = [pk(row) for row in bookings]
            for row in bookings:
                row.cancel_reason = None
                session.add(row)
            summary["bookings"] += len(bookings)
            summary["manage_links"] += _count(
                session.execute(delete(ManageToken).where(col(ManageToken.booking_id).in_(booking_ids)))
            )
            session.execute(
                update(ReplyKey)
                .where(col(ReplyKey.recipient) == address, col(ReplyKey.booking_id).in_(booking_ids))
                .values(recipient=erased, offered=None)
            )
            session.execute(
                update(Reminder)
                .where(
                    col(Reminder.booking_id).in_(booking_ids), col(Reminder.status) == ReminderStatus.PENDING
                )
                .values(status=ReminderStatus.DROPPED)
            )
            mine = (col(OutboxMessage.recipient) == address, col(OutboxMessage.business_id) == pk(owner))
            session.execute(  # what was still to be sent to them never will be
                update(OutboxMessage)
                .where(*mine, col(OutboxMessage.status).in_(("queued", "sending")))
                .values(status="failed")
            )
            summary["emails"] += _count(
                session.execute(
                    update(OutboxMessage)
                    .where(*mine)
                    .values(recipient=erased, payload=None, context={}, last_error="recipient erased")
                )
            )
            session.execute(  # webhook bodies carry the customer's details: the waiting ones go unsent
                update(WebhookDelivery)
                .where(col(WebhookDelivery.booking_id).in_(booking_ids))
                .values(
                    payload="{}",
                    last_response=None,
                    status=case(
                        (col(WebhookDelivery.status).in_(("pending", "sending")), "failed"),
                        else_=col(WebhookDelivery.status),
                    ),
                )
            )
            summary["replies"] += _count(
                session.execute(
                    update(InboundMessage)
                    .where(_inbound_of(address, booking_ids))
                    .values(raw=b"", envelope_from="", verdicts=[{"rule": "erased", "verdict": "erased"}])
                )
            )
            for event in session.exec(select(AuditEvent).where(col(AuditEvent.booking_id).in_(booking_ids))):
                if event.actor_label == address:
                    event.actor_label = ERASED_NAME
                for snapshot in ("before", "after"):
                    value = getattr(event, snapshot)
                    if value and any(value.get(name) for name in PERSONAL_SNAPSHOT_FIELDS):
                        scrubbed = {name: None for name in PERSONAL_SNAPSHOT_FIELDS if name in value}
                        setattr(event, snapshot, {**value, **scrubbed})
                session.add(event)
            customer.email = erased
            customer.name = ERASED_NAME
            customer.phone = ""
            customer.bouncing = False
            session.add(customer)
            audit(
                session,
                business_id=pk(owner),
                action="customer.erased",
                actor=actor,
                at=now,
                after={"customer_id": customer_id, "bookings": len(bookings)},
            )
            summary["customers"] += 1
    return summary


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


# --- read models: listing and one by address ------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomerView:
    """A customer as the API shows them."""

    email: str
    name: str
    phone: str
    locale: str
    timezone: str
    bouncing: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "name": self.name,
            "phone": self.phone,
            "locale": self.locale,
            "timezone": self.timezone,
            "bouncing": self.bouncing,
        }


def _view(row: Customer) -> CustomerView:
    return CustomerView(row.email, row.name, row.phone, row.locale, row.timezone, row.bouncing)


def list_customers(
    engine: Engine, business: str | None, *, email: str | None = None, limit: int = 100, offset: int = 0
) -> list[CustomerView]:
    """The business's customers by address (only ``email``'s, any case, when given)."""
    with read_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        statement = select(Customer).where(Customer.business_id == biz.id)
        if email is not None:
            statement = statement.where(Customer.email == email.strip().lower())
        rows = session.exec(statement.order_by(col(Customer.email)).offset(offset).limit(limit))
        return [_view(row) for row in rows]


def get_customer(engine: Engine, business: str | None, email: str) -> CustomerView:
    """One customer by address (any case); ``NotFound`` when the business has none."""
    address = email.strip().lower()
    with read_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        row = queries.customer_for(session, biz, address) if "@" in address else None
        if row is None:
            raise NotFound(N_("customer"), email)
        return _view(row)
