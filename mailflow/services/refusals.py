"""A relay's permanent refusal of a customer's address at RCPT: the same rule as a hard bounce.

Kept apart from :mod:`mailflow.services.bounces` (which reads bounce reports) so that the
wiring, which hands ``record_refused_recipient`` to the dispatcher, reaches no inbound code.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from mailflow.booking.model import Actor, ActorKind
from mailflow.services.common import audit
from mailflow.store.tables import Customer

if TYPE_CHECKING:
    from mailflow.outbound.outbox import ClaimedMessage

__all__ = ["REFUSED", "mark_bouncing", "record_refused_recipient"]

REFUSED = "bounce.refused"


def record_refused_recipient(session: Session, message: ClaimedMessage, detail: str, now: datetime) -> None:
    """The dispatcher's hook: the relay refused ``message``'s recipient for good at RCPT (550 5.1.1).

    The same rule as a hard bounce: a customer of that business with that address is marked
    bouncing (audited as ``bounce.refused``). The dispatcher has marked the email failed and
    tells the admins itself (``delivery_failed``), so nothing else is queued here.
    """
    address = message.recipient.lower()
    if mark_bouncing(session, message.business_id, address):
        audit(
            session,
            business_id=message.business_id,
            booking_id=message.booking_id,
            action=REFUSED,
            actor=Actor(ActorKind.SYSTEM, address),
            at=now,
            after={"outbox_id": message.id, "detail": detail[:200]},
        )


def mark_bouncing(session: Session, business_id: int, address: str) -> bool:
    """Mark the customers of ``business_id`` with ``address`` bouncing; whether there were any
    (the rule of a hard bounce, ``services.bounces``, and of a refusal at RCPT alike)."""
    customers = session.exec(
        select(Customer).where(Customer.business_id == business_id, Customer.email == address)
    ).all()
    for customer in customers:
        if not customer.bouncing:
            customer.bouncing = True
            session.add(customer)
    return bool(customers)
