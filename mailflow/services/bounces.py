"""Bounces: what a delivery failure may change, and an admin's way back.

A bounce acts on one email of ours and its recipient only, never on an address
a report merely names:

- at a signed return path (``bounce+<outbox id>.<signature>@``, see
  :mod:`mailflow.outbound.return_path`): on the recipient of that outbox row,
  for that row's business (``record_return_path_bounce``);
- at a reply address (``reply+<key>@``, a bounce of an MTA that ignores the
  envelope sender): only a reported address we sent that booking's mail to,
  and then as if the latest such email had bounced (``record_reply_bounce``).

Anything else is recorded on the inbound row and changes nothing. A permanent
failure (5.x.x) marks the customer bouncing in that business (nothing more is
sent to them until an admin clears it: ``clear_bouncing``); a temporary one
(4.x.x, a delay) only notes the error on the email. The business's admins hear
of a bounce by a ``delivery_failed`` email at most once per address and day.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine, bindparam
from sqlmodel import Session, col, select

from mailflow.booking.model import Actor, ActorKind, BookingStatus
from mailflow.errors import NotFound
from mailflow.i18n import N_
from mailflow.kinds import WebhookEvent
from mailflow.outbound.return_path import ReturnPaths
from mailflow.services.common import audit, normalize_email
from mailflow.services.customers import CustomerView
from mailflow.services.refusals import mark_bouncing
from mailflow.services.webhook_events import plan_email_event
from mailflow.store import queries
from mailflow.store.engine import write_session
from mailflow.store.tables import AuditEvent, Booking, Customer, OutboxMessage

if TYPE_CHECKING:
    from mailflow.inbound.reports import BounceInfo
    from mailflow.outbound.notifier import Notifier
    from mailflow.services.inbound import Outcome

__all__ = [
    "ADMIN_NOTICE_INTERVAL",
    "clear_bouncing",
    "record_reply_bounce",
    "record_return_path_bounce",
    "return_path_is_ours",
    "signed_outbox_id",
]

ADMIN_NOTICE_INTERVAL = timedelta(days=1)
REPORTED = "bounce.reported"


def return_path_is_ours(engine: Engine, paths: ReturnPaths, outbox_id: int, signature: str) -> bool:
    """Whether ``bounce+<outbox_id>.<signature>@`` is the return path of an email we queued (at RCPT)."""
    with engine.connect() as connection:  # Core, not a Session: this runs for every RCPT
        row = connection.execute(_OUTBOX_MESSAGE_ID, {"id": outbox_id}).first()
    return row is not None and paths.verify(outbox_id, row.message_id, signature)


def signed_outbox_id(
    session: Session, paths: ReturnPaths, candidates: Iterable[tuple[int, str]]
) -> int | None:
    """The first ``(outbox id, signature)`` of ``candidates`` that is the return path of an email of ours."""
    for outbox_id, signature in candidates:
        row = session.execute(_OUTBOX_MESSAGE_ID, {"id": outbox_id}).first()
        if row is not None and paths.verify(outbox_id, row.message_id, signature):
            return outbox_id
    return None


def record_return_path_bounce(
    session: Session, notifier: Notifier, info: BounceInfo, outbox_id: int, outcome: Outcome, now: datetime
) -> None:
    """A bounce at the signed return path of outbox row ``outbox_id`` (see ``signed_outbox_id``).

    What the report's text names is recorded, but only the row's recipient is acted on.
    """
    _record(session, notifier, info, session.get_one(OutboxMessage, outbox_id), outcome, now)


def record_reply_bounce(
    session: Session, notifier: Notifier, info: BounceInfo, booking_id: int, outcome: Outcome, now: datetime
) -> None:
    """A bounce that reached a reply address of booking ``booking_id``: the fallback.

    Acts only for a reported address we sent this booking's mail to (the latest such email
    counts as the one that bounced); any other address is recorded as ignored.
    """
    acted = False
    for address in dict.fromkeys(a.lower() for a in info.recipients):
        sent = session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.booking_id == booking_id, OutboxMessage.recipient == address)
            .order_by(col(OutboxMessage.id).desc())
        ).first()
        if sent is None:
            outcome.add("bounce", "ignored", f"{address} was sent no email of this booking")
            continue
        _record(session, notifier, info, sent, outcome, now)
        acted = True
    if not acted and not info.recipients:
        outcome.add("bounce", "ignored", "the report names no failed address")


def _record(
    session: Session,
    notifier: Notifier,
    info: BounceInfo,
    sent: OutboxMessage,
    outcome: Outcome,
    now: datetime,
) -> None:
    address = sent.recipient.lower()
    reported = ", ".join(info.recipients)[:200]
    outcome.add("bounce", "permanent" if info.permanent else "temporary", f"{address} (reported: {reported})")
    outcome.booking_id = outcome.booking_id or sent.booking_id
    # A delay notice (4.x.x, the MTA still trying) is no bounce: the email may yet arrive.
    what = "bounced" if info.permanent or info.action == "failed" else "delayed"
    sent.last_error = f"{what}: {info.status or ''} {info.diagnostic or ''}".strip()[:500]
    if info.permanent:
        sent.status = "failed"
    session.add(sent)
    if info.permanent and mark_bouncing(session, sent.business_id, address):
        outcome.add("bounce", "customer_marked_bouncing", address)
    if sent.booking_id is None or info.action not in ("failed", None):
        return
    bounced = {
        "kind": sent.kind,
        "recipient": address,
        "message_id": sent.message_id,
        "permanent": info.permanent,
        "status": info.status,
        "diagnostic": info.diagnostic,
    }
    plan_email_event(
        session,
        business_id=sent.business_id,
        booking_id=sent.booking_id,
        event_type=WebhookEvent.EMAIL_BOUNCED,
        email=bounced,
        now=now,
    )
    booking = session.get_one(Booking, sent.booking_id)
    if booking.status != BookingStatus.CONFIRMED.value and not info.permanent:
        return
    if _told_recently(session, sent.business_id, address, now):
        outcome.add("bounce", "staff_already_told", address)
        return
    notifier.report_bounce(session, booking, address, sent.kind, info, now)
    audit(
        session,
        business_id=sent.business_id,
        booking_id=booking.id,
        action=REPORTED,
        actor=Actor(ActorKind.SYSTEM, address),
        at=now,
        after={"outbox_id": sent.id, "status": info.status, "permanent": info.permanent},
    )
    outcome.add("bounce", "staff_told", address)


def _told_recently(session: Session, business_id: int, address: str, now: datetime) -> bool:
    """Whether the admins of ``business_id`` heard of a bounce of ``address`` within the last day."""
    recent = session.execute(
        _RECENT_REPORT, {"business_id": business_id, "address": address, "since": now - ADMIN_NOTICE_INTERVAL}
    )
    return recent.first() is not None


def clear_bouncing(
    engine: Engine, business: str | None, email_address: str, *, actor: Actor, now: datetime
) -> CustomerView:
    """Let emails reach ``email_address`` again at ``business``: its bounce flag is cleared.

    Audited as ``customer.bouncing_cleared`` (on no booking, with the customer's id, not the
    address, so an erasure leaves nothing personal there). Returns the customer.
    ``NotFound`` when the business has no customer with that address.

    >>> clear_bouncing(engine, "contoso", "ada@example.com", actor=admin, now=now).bouncing
    False
    """
    address = normalize_email(email_address, field="email")
    with write_session(engine) as session:
        business_row = queries.business_by_slug(session, business)
        customer = session.exec(
            select(Customer).where(Customer.business_id == business_row.id, Customer.email == address)
        ).first()
        if customer is None:
            raise NotFound(N_("customer"), address)
        if customer.bouncing:
            customer.bouncing = False
            session.add(customer)
            audit(
                session,
                business_id=customer.business_id,
                action="customer.bouncing_cleared",
                actor=actor,
                at=now,
                before={"customer_id": customer.id, "bouncing": True},
                after={"customer_id": customer.id, "bouncing": False},
            )
        return CustomerView(
            customer.email,
            customer.name,
            customer.phone,
            customer.locale,
            customer.timezone,
            customer.bouncing,
        )


_OUTBOX_MESSAGE_ID = select(OutboxMessage.message_id).where(OutboxMessage.id == bindparam("id"))
_RECENT_REPORT = (
    select(AuditEvent.id)
    .where(
        AuditEvent.business_id == bindparam("business_id"),
        AuditEvent.action == REPORTED,
        AuditEvent.actor_label == bindparam("address"),
        col(AuditEvent.at) > bindparam("since"),
    )
    .limit(1)
)
