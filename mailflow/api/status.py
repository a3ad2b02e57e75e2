"""``/api/v1/outbox`` and ``/api/v1/inbound``: what mailflow sent and received, newest first.

No message bodies: the outbox shows kind, recipient, subject and delivery
state; the inbound log shows each message's verdicts. Inbound messages
belong to a business through their booking, so only those matched to one of
the business's bookings are listed.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from mailflow.api.context import Api, api_caller, current_api
from mailflow.api.error_models import NOT_FOUND
from mailflow.api.keys import ApiCaller
from mailflow.api.models import InboundOut, OutboxOut
from mailflow.services import mail_log
from mailflow.services.mail_log import InboundView, OutboxView


def outbox_out(view: OutboxView) -> OutboxOut:
    """The API's JSON of one outbox email."""
    return OutboxOut(
        id=view.id,
        kind=view.kind,
        recipient=view.recipient,
        booking=view.booking,
        status=view.status,  # one of OutboxStatus
        attempts=view.attempts,
        created_at=view.created_at,
        next_attempt_at=view.next_attempt_at,
        sent_at=view.sent_at,
        last_error=view.last_error,
        message_id=view.message_id,
        subject=view.subject,
    )


def inbound_out(view: InboundView) -> InboundOut:
    """The API's JSON of one inbound message."""
    return InboundOut(
        id=view.id,
        received_at=view.received_at,
        status=view.status,  # one of InboundStatus
        kind=view.kind,
        command=view.command,
        booking=view.booking,
        message_id=view.message_id,
        error=view.error,
        verdicts=view.verdicts,
    )


def add_routes(router: APIRouter) -> None:
    """The outbox and inbound routes."""

    def outbox(
        api: Api, caller: ApiCaller, booking: str | None, status: str | None, limit: int
    ) -> list[OutboxOut]:
        views = mail_log.list_outbox(
            api.use_cases.engine, business_id=caller.business_id, booking=booking, status=status, limit=limit
        )
        return [outbox_out(view) for view in views]

    def inbound(
        api: Api, caller: ApiCaller, booking: str | None, status: str | None, limit: int
    ) -> list[InboundOut]:
        views = mail_log.list_inbound(
            api.use_cases.engine, business_id=caller.business_id, booking=booking, status=status, limit=limit
        )
        return [inbound_out(view) for view in views]

    Status = Query(None, pattern="^(queued|sending|sent|failed)$", description="Only this delivery state.")
    Limit = Query(100, ge=1, le=1000)

    @router.get("/outbox", response_model=list[OutboxOut], tags=["mail"], responses={404: NOT_FOUND})
    def list_outbox(
        booking: str | None = Query(None, description="Only this booking's emails (its reference)."),
        status: str | None = Status,
        limit: int = Limit,
        caller: ApiCaller = Depends(api_caller),
        api: Api = Depends(current_api),
    ) -> list[OutboxOut]:
        """Emails queued, sent and failed, newest first, with retry times and errors."""
        return outbox(api, caller, booking, status, limit)

    @router.get("/bookings/{ref}/outbox", response_model=list[OutboxOut], tags=["mail"])
    def list_booking_outbox(
        ref: str, caller: ApiCaller = Depends(api_caller), api: Api = Depends(current_api)
    ) -> list[OutboxOut]:
        """Every email of one booking, newest first."""
        return outbox(api, caller, ref, None, 1000)

    @router.get("/inbound", response_model=list[InboundOut], tags=["mail"], responses={404: NOT_FOUND})
    def list_inbound(
        booking: str | None = Query(None, description="Only replies to this booking (its reference)."),
        status: str | None = Query(None, max_length=16, description="E.g. done, error, processing."),
        limit: int = Limit,
        caller: ApiCaller = Depends(api_caller),
        api: Api = Depends(current_api),
    ) -> list[InboundOut]:
        """Recent replies and other inbound mail matched to the business's bookings, with verdicts."""
        return inbound(api, caller, booking, status, limit)

    @router.get("/bookings/{ref}/inbound", response_model=list[InboundOut], tags=["mail"])
    def list_booking_inbound(
        ref: str, caller: ApiCaller = Depends(api_caller), api: Api = Depends(current_api)
    ) -> list[InboundOut]:
        """Every inbound message matched to one booking, newest first."""
        return inbound(api, caller, ref, None, 1000)
