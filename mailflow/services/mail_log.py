"""What mailflow sent and received: the outbox and inbound listings, newest first.

Read models (DESIGN §11): the CLI (``mailflow outbox list``, ``mailflow inbound
list``) and the JSON API (``/api/v1/outbox``, ``/api/v1/inbound``) show the same
rows from here. No message bodies: an email's kind, recipient, subject and
delivery state; an inbound message's state and the verdicts of the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from mailflow.errors import NotFound
from mailflow.i18n import N_
from mailflow.outbound.outbox import OutboxStatus
from mailflow.store import queries
from mailflow.store.engine import read_session
from mailflow.store.tables import Booking, InboundMessage, OutboxMessage, pk


@dataclass(frozen=True, slots=True)
class OutboxView:
    """One email of the outbox: what, to whom, for which booking, and how its delivery goes.

    ``next_attempt_at`` only while it is ``queued``; ``subject`` as rendered when queued.
    """

    id: int
    kind: str
    recipient: str
    booking: str | None
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    message_id: str
    subject: str


@dataclass(frozen=True, slots=True)
class InboundView:
    """One line of the inbound log: a message's state and verdicts, no body."""

    id: int
    received_at: datetime
    status: str
    kind: str | None
    command: str | None
    booking: str | None
    message_id: str | None
    error: str | None
    verdicts: list[dict[str, Any]]


def list_outbox(
    engine: Engine,
    *,
    business_id: int | None = None,
    booking: str | None = None,
    status: str | None = None,
    limit: int = 100,
) -> list[OutboxView]:
    """Emails queued, sending, sent and failed, newest first, at most ``limit``.

    ``business_id`` keeps one business's emails (default: every business's);
    ``booking`` (a reference) one booking's: ``NotFound`` when it does not exist or,
    with ``business_id``, is another business's. ``status`` keeps one delivery state.
    """
    with read_session(engine) as session:
        statement = select(OutboxMessage, Booking.ref).join(
            Booking, col(Booking.id) == col(OutboxMessage.booking_id), isouter=True
        )
        if business_id is not None:
            statement = statement.where(OutboxMessage.business_id == business_id)
        if booking is not None:
            statement = statement.where(
                OutboxMessage.booking_id == _booking_id(session, booking, business_id)
            )
        if status is not None:
            statement = statement.where(OutboxMessage.status == status)
        rows = session.exec(statement.order_by(col(OutboxMessage.id).desc()).limit(limit)).all()
        return [
            OutboxView(
                id=pk(row),
                kind=row.kind,
                recipient=row.recipient,
                booking=ref,
                status=row.status,
                attempts=row.attempts,
                created_at=row.created_at,
                next_attempt_at=row.next_attempt_at if row.status == OutboxStatus.QUEUED else None,
                sent_at=row.sent_at,
                last_error=row.last_error,
                message_id=row.message_id,
                subject=str(row.context.get("subject", "")),
            )
            for row, ref in rows
        ]


def list_inbound(
    engine: Engine,
    *,
    business_id: int | None = None,
    booking: str | None = None,
    status: str | None = None,
    limit: int = 100,
) -> list[InboundView]:
    """Inbound messages, newest first, at most ``limit``.

    Without ``business_id`` every message (matched to a booking or not); with it only
    those matched to one of that business's bookings (inbound mail belongs to a business
    through its booking). ``booking`` (a reference) keeps one booking's messages:
    ``NotFound`` as for ``list_outbox``. ``status`` keeps one state (an
    :class:`~mailflow.kinds.InboundStatus`: ``received``, ``processing``, ``done``, ``error``).
    """
    with read_session(engine) as session:
        statement = select(InboundMessage, Booking.ref).join(
            Booking, col(Booking.id) == col(InboundMessage.booking_id), isouter=business_id is None
        )
        if business_id is not None:
            statement = statement.where(Booking.business_id == business_id)
        if booking is not None:
            statement = statement.where(
                InboundMessage.booking_id == _booking_id(session, booking, business_id)
            )
        if status is not None:
            statement = statement.where(InboundMessage.status == status)
        rows = session.exec(statement.order_by(col(InboundMessage.id).desc()).limit(limit)).all()
        return [_inbound_view(row, ref) for row, ref in rows]


def get_inbound(engine: Engine, message_id: int) -> InboundView:
    """One inbound message's state and verdicts; ``NotFound`` for an unknown id."""
    with read_session(engine) as session:
        statement = (
            select(InboundMessage, Booking.ref)
            .join(Booking, col(Booking.id) == col(InboundMessage.booking_id), isouter=True)
            .where(InboundMessage.id == message_id)
        )
        found = session.exec(statement).first()
        if found is None:
            raise NotFound(N_("inbound message"), str(message_id))
        return _inbound_view(*found)


def _inbound_view(row: InboundMessage, ref: str | None) -> InboundView:
    return InboundView(
        id=pk(row),
        received_at=row.received_at,
        status=row.status,
        kind=row.kind,
        command=row.command,
        booking=ref,
        message_id=row.message_id,
        error=row.error,
        verdicts=row.verdicts,
    )


def _booking_id(session: Session, ref: str, business_id: int | None) -> int:
    """The id of booking ``ref``; ``NotFound`` when unknown or (with ``business_id``) another business's."""
    row = queries.booking_by_ref(session, ref)
    if business_id is not None and row.business_id != business_id:
        raise NotFound(N_("booking"), ref)
    return pk(row)
