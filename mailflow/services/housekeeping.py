"""Housekeeping: what mailflow no longer needs to keep, dropped on a schedule."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, update
from sqlmodel import col

from mailflow.kinds import InboundStatus
from mailflow.outbound.outbox import OutboxStatus
from mailflow.store.engine import write_session
from mailflow.store.tables import InboundMessage, ManageToken, OutboxMessage
from mailflow.store.webhook_tables import WebhookDelivery


def clean_up(
    engine: Engine,
    now: datetime,
    inbound_retention: timedelta = timedelta(days=30),
    sent_retention: timedelta = timedelta(days=30),
) -> None:
    """Drop expired manage tokens, bodies of emails sent long ago, old inbound raw bytes, and
    webhook deliveries finished (delivered or given up) before ``sent_retention``."""
    with write_session(engine) as session:
        session.execute(
            update(InboundMessage)
            .where(
                col(InboundMessage.status) == InboundStatus.DONE.value,
                col(InboundMessage.received_at) < now - inbound_retention,
            )
            .values(raw=b"")
        )
        session.execute(delete(ManageToken).where(col(ManageToken.expires_at) < now))
        session.execute(
            update(OutboxMessage)
            .where(
                col(OutboxMessage.status) == OutboxStatus.SENT.value,
                col(OutboxMessage.sent_at) < now - sent_retention,
            )
            .values(payload=None)
        )
        session.execute(  # the webhook delivery log keeps as long as sent emails' bodies
            delete(WebhookDelivery).where(
                col(WebhookDelivery.status).in_(("delivered", "failed")),
                col(WebhookDelivery.created_at) < now - sent_retention,
            )
        )
