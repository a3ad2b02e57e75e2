"""SQLModel tables of the outgoing webhooks (issue 19): endpoints and their deliveries.

Imported from the bottom of ``mailflow.store.tables`` so the metadata holds them;
migration 0011 creates them. A delivery is written in the transaction of the change
it reports (like an outbox row) and sent by the worker (``outbound.webhook_sender``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, text
from sqlmodel import Field, SQLModel

from mailflow.store.types import UTCDateTime

WEBHOOK_WAITING = text("status IN ('pending', 'sending')")


def _utc(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


class WebhookEndpoint(SQLModel, table=True):
    """A URL of the business's own systems that hears of its events, signed with ``secret``."""

    id: int | None = Field(default=None, primary_key=True)
    business_id: int = Field(foreign_key="business.id", index=True)
    url: str = Field(max_length=2000)
    events: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """The event types it wants (every type it may get: ``services.webhooks.EVENTS``)."""
    secret: str = Field(max_length=100)
    """``whsec_<base64>``: needed to sign every delivery, so kept; shown once, at creation."""
    enabled: bool = True
    disabled_reason: str | None = Field(default=None, sa_type=Text)
    failing_since: datetime | None = _utc(default=None)
    """The first failed attempt since the last success (None: the last attempt succeeded)."""
    consecutive_failures: int = 0
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class WebhookDelivery(SQLModel, table=True):
    """One event for one endpoint: its exact body and ``webhook-id``, kept across attempts.

    Statuses: ``pending`` (waiting, maybe for a retry time), ``sending`` (claimed by a
    worker until ``claimed_until``), ``delivered``, ``failed`` (given up).
    """

    __table_args__ = (
        Index("ix_webhookdelivery_due", "status", "next_attempt_at"),
        # "an earlier delivery of this booking to this endpoint still waits": the ordering check.
        Index(
            "ix_webhookdelivery_waiting",
            "endpoint_id",
            "booking_id",
            "id",
            postgresql_where=WEBHOOK_WAITING,
            sqlite_where=WEBHOOK_WAITING,
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: int = Field(foreign_key="webhookendpoint.id", index=True)
    business_id: int = Field(foreign_key="business.id")
    booking_id: int | None = Field(default=None, foreign_key="booking.id", index=True)
    event_type: str = Field(max_length=32)
    webhook_id: str = Field(max_length=64, unique=True)
    payload: str = Field(sa_type=Text)
    """The JSON body exactly as signed and sent."""
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = _utc()
    claimed_until: datetime | None = _utc(default=None)
    last_attempt_at: datetime | None = _utc(default=None)
    last_status: int | None = None
    """The HTTP status of the last answer (None: no answer, e.g. a timeout)."""
    last_response: str | None = Field(default=None, sa_type=Text)
    """The first bytes of the last answer's body, or what went wrong."""
    created_at: datetime = _utc()
    delivered_at: datetime | None = _utc(default=None)
