"""``/api/v1/outbox`` and ``/api/v1/inbound``: what mailflow sent and received, newest first.

No message bodies: the outbox shows kind, recipient, subject and delivery
state; the inbound log shows each message's verdicts. Inbound messages
belong to a business through their booking, so only those matched to one of
the business's bookings are listed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Query
from sqlmodel import col, select

from mailflow.api.bookings import owned
from mailflow.api.keys import ApiCaller
from mailflow.api.models import InboundOut, OutboxOut
from mailflow.store.engine import read_session
from mailflow.store.tables import Booking, InboundMessage, OutboxMessage, pk

if TYPE_CHECKING:
    from mailflow.api import Api


def outbox_out(row: OutboxMessage, ref: str | None) -> OutboxOut:
    return OutboxOut(
        id=pk(row),
        kind=row.kind,
        recipient=row.recipient,
        booking=ref,
        status=row.status,  # one of OutboxStatus
        attempts=row.attempts,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at if row.status == "queued" else None,
        sent_at=row.sent_at,
        last_error=row.last_error,
        message_id=row.message_id,
        subject=str(row.context.get("subject", "")),
    )


def inbound_out(row: InboundMessage, ref: str | None) -> InboundOut:
    return InboundOut(
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


def add_routes(router: APIRouter, api: Api) -> None:
    """The outbox and inbound routes."""

    def outbox(caller: ApiCaller, booking_id: int | None, status: str | None, limit: int) -> list[OutboxOut]:
        with read_session(api.app.engine) as session:
            statement = (
                select(OutboxMessage, Booking.ref)
                .join(Booking, col(Booking.id) == col(OutboxMessage.booking_id), isouter=True)
                .where(OutboxMessage.business_id == caller.business_id)
            )
            if booking_id is not None:
                statement = statement.where(OutboxMessage.booking_id == booking_id)
            if status is not None:
                statement = statement.where(OutboxMessage.status == status)
            rows = session.exec(statement.order_by(col(OutboxMessage.id).desc()).limit(limit)).all()
            return [outbox_out(row, ref) for row, ref in rows]

    def inbound(
        caller: ApiCaller, booking_id: int | None, status: str | None, limit: int
    ) -> list[InboundOut]:
        with read_session(api.app.engine) as session:
            statement = (
                select(InboundMessage, Booking.ref)
                .join(Booking, col(Booking.id) == col(InboundMessage.booking_id))
                .where(Booking.business_id == caller.business_id)
            )
            if booking_id is not None:
                statement = statement.where(InboundMessage.booking_id == booking_id)
            if status is not None:
                statement = statement.where(InboundMessage.status == status)
            rows = session.exec(statement.order_by(col(InboundMessage.id).desc()).limit(limit)).all()
            return [inbound_out(row, ref) for row, ref in rows]

    Status = Query(None, pattern="^(queued|sending|sent|failed)$", description="Only this delivery state.")
    Limit = Query(100, ge=1, le=1000)

    @router.get("/outbox", response_model=list[OutboxOut], tags=["mail"])
    def list_outbox(
        booking: str | None = Query(None, description="Only this booking's emails (its reference)."),
        status: str | None = Status,
        limit: int = Limit,
        caller: ApiCaller = Depends(api.caller),
    ) -> list[OutboxOut]:
        """Emails queued, sent and failed, newest first, with retry times and errors."""
        booking_id = pk(owned(api, caller, booking)) if booking is not None else None
        return outbox(caller, booking_id, status, limit)

    @router.get("/bookings/{ref}/outbox", response_model=list[OutboxOut], tags=["mail"])
    def booking_outbox(ref: str, caller: ApiCaller = Depends(api.caller)) -> list[OutboxOut]:
        """Every email of one booking, newest first."""
        return outbox(caller, pk(owned(api, caller, ref)), None, 1000)

    @router.get("/inbound", response_model=list[InboundOut], tags=["mail"])
    def list_inbound(
        booking: str | None = Query(None, description="Only replies to this booking (its reference)."),
        status: str | None = Query(None, max_length=16, description="E.g. done, error, processing."),
        limit: int = Limit,
        caller: ApiCaller = Depends(api.caller),
    ) -> list[InboundOut]:
        """Recent replies and other inbound mail matched to the business's bookings, with verdicts."""
        booking_id = pk(owned(api, caller, booking)) if booking is not None else None
        return inbound(caller, booking_id, status, limit)

    @router.get("/bookings/{ref}/inbound", response_model=list[InboundOut], tags=["mail"])
    def booking_inbound(ref: str, caller: ApiCaller = Depends(api.caller)) -> list[InboundOut]:
        """Every inbound message matched to one booking, newest first."""
        return inbound(caller, pk(owned(api, caller, ref)), None, 1000)
