"""The transactional outbox: emails become rows in the change's transaction; workers claim them.

Statuses: ``queued`` (waiting, possibly for a retry time), ``sending`` (claimed
by a worker until ``claimed_until``), ``sent``, ``failed`` (permanently). A
claim is one statement: ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP
LOCKED) RETURNING`` on PostgreSQL, the same inside SQLite's write lock, so two
workers never take the same row. A claim whose worker died expires and the row
is claimed again (its Message-ID unchanged).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, bindparam, insert, update
from sqlmodel import Session, col, select

from mailflow.outbound.message import OutgoingEmail
from mailflow.store.batch import insert_now_or_later
from mailflow.store.claims import claim_parameters, due_again, lease_claim
from mailflow.store.engine import connection_of, write_session
from mailflow.store.tables import OutboxMessage

CLAIM_LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 8
MAX_AGE = timedelta(days=2)
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=2)


class OutboxStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ClaimedMessage:
    id: int
    business_id: int
    booking_id: int | None
    kind: str
    recipient: str
    message_id: str
    envelope_from: str
    attempts: int
    created_at: datetime
    data: bytes
    pending: dict[str, Any] | None = None
    """The email still to render (``PreparedEmail.to_json``) when ``data`` is empty."""


_INSERT = insert(OutboxMessage.__table__)  # type: ignore[attr-defined]  # SQLModel tables have one


def enqueue(
    session: Session,
    email: OutgoingEmail,
    *,
    business_id: int,
    booking_id: int | None,
    envelope_from: str,
    now: datetime,
) -> None:
    """Add ``email`` to the outbox in the caller's transaction.

    A Core insert, run at once or with the others of an open ``batched_inserts`` block: an
    email is never read back as an object in the transaction that queues it, and building and
    flushing an ORM row per email cost more than rendering it.
    """
    insert_now_or_later(
        session,
        _INSERT,
        {
            "business_id": business_id,
            "booking_id": booking_id,
            "kind": email.kind,
            "recipient": email.recipient,
            "message_id": email.message_id,
            "status": OutboxStatus.QUEUED.value,
            "attempts": 0,
            "next_attempt_at": now,
            "payload": email.data,
            "context": {"subject": email.subject, "envelope_from": envelope_from},
            "created_at": now,
        },
    )


def enqueue_pending(
    session: Session,
    prepared: dict[str, Any],
    *,
    kind: str,
    recipient: str,
    message_id: str,
    business_id: int,
    booking_id: int | None,
    envelope_from: str,
    now: datetime,
    then: Callable[[int], None],
) -> None:
    """Add an email still to render (``PreparedEmail.to_json()``) in the caller's transaction;
    ``then`` gets its id (at once, or when an open ``batched_inserts`` block writes it).

    It is rendered after the commit (``fill_payloads``), or by the dispatcher that claims it first.
    """
    insert_now_or_later(
        session,
        _INSERT,
        {
            "business_id": business_id,
            "booking_id": booking_id,
            "kind": kind,
            "recipient": recipient,
            "message_id": message_id,
            "status": OutboxStatus.QUEUED.value,
            "attempts": 0,
            "next_attempt_at": now,
            "payload": None,
            "context": {"subject": "", "envelope_from": envelope_from, "pending": prepared},
            "created_at": now,
        },
        then,
    )


def pending_emails(session: Session, ids: Sequence[int]) -> list[tuple[int, int, str, dict[str, Any]]]:
    """``(id, business_id, envelope_from, prepared)`` of the rows of ``ids`` still to render."""
    rows = session.execute(
        select(OutboxMessage.id, OutboxMessage.business_id, OutboxMessage.context).where(
            col(OutboxMessage.id).in_(ids), col(OutboxMessage.payload).is_(None)
        )
    ).all()
    found = []
    for row_id, business_id, context in rows:
        prepared = (context or {}).get("pending")
        if prepared:
            found.append((int(row_id), int(business_id), str(context.get("envelope_from", "")), prepared))
    return found


_TABLE = OutboxMessage.__table__  # type: ignore[attr-defined]  # SQLModel tables have one
_FILL = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("row_id"), _TABLE.c.payload.is_(None))
    .values(payload=bindparam("data"), context=bindparam("ctx"))
)


def fill_payloads(session: Session, rows: Sequence[tuple[int, OutgoingEmail, str]]) -> None:
    """Store the rendered emails of pending rows (unless someone did already; the recipes go), in one
    statement (executemany: on PostgreSQL, one round trip)."""
    if rows:
        session.connection().execute(
            _FILL,
            [
                {
                    "row_id": row_id,
                    "data": email.data,
                    "ctx": {"subject": email.subject, "envelope_from": sender},
                }
                for row_id, email, sender in rows
            ],
        )


def claim_due(
    engine: Engine, now: datetime, limit: int = 100, lease: timedelta = CLAIM_LEASE
) -> list[ClaimedMessage]:
    """Atomically take up to ``limit`` due messages for this worker."""
    with write_session(engine) as session:
        rows = connection_of(session).execute(_CLAIM, claim_parameters(now, lease, limit)).all()
    claimed = [
        ClaimedMessage(
            id=row[0],
            business_id=row[1],
            booking_id=row[2],
            kind=row[3],
            recipient=row[4],
            message_id=row[5],
            envelope_from=str((row[6] or {}).get("envelope_from", "")),
            attempts=row[7],
            created_at=row[8],
            data=row[9] or b"",
            pending=None if row[9] else (row[6] or {}).get("pending"),
        )
        for row in rows
    ]
    return sorted(claimed, key=lambda message: message.id)


def retry_delay(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with full jitter: up to 30 s, 60 s, 120 s … capped at two hours."""
    ceiling = min(FIRST_RETRY * (2 ** max(0, attempts - 1)), MAX_RETRY)
    fraction = (rng or random).uniform(0.5, 1.0)
    return timedelta(seconds=ceiling.total_seconds() * fraction)


def mark_sent(session: Session, ids: Sequence[int], now: datetime) -> None:
    if ids:
        session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id).in_(ids))
            .values(status=OutboxStatus.SENT.value, sent_at=now, claimed_until=None, last_error=None)
        )


def mark_retry(session: Session, message: ClaimedMessage, error: str, now: datetime) -> bool:
    """Queue ``message`` again after a temporary failure; False when it has run out of tries."""
    if message.attempts >= MAX_ATTEMPTS or now - message.created_at >= MAX_AGE:
        mark_failed(session, message.id, f"gave up after {message.attempts} attempts: {error}")
        return False
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message.id)
        .values(
            status=OutboxStatus.QUEUED.value,
            next_attempt_at=now + retry_delay(message.attempts),
            claimed_until=None,
            last_error=error,
        )
    )
    return True


def mark_failed(session: Session, message_id: int, error: str) -> None:
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id)
        .values(status=OutboxStatus.FAILED.value, claimed_until=None, last_error=error)
    )


_CLAIM = lease_claim(
    OutboxMessage,
    due_again(OutboxMessage, waiting=OutboxStatus.QUEUED.value, taken=OutboxStatus.SENDING.value),
    taken=OutboxStatus.SENDING.value,
    returning=[
        col(OutboxMessage.id),
        col(OutboxMessage.business_id),
        col(OutboxMessage.booking_id),
        col(OutboxMessage.kind),
        col(OutboxMessage.recipient),
        col(OutboxMessage.message_id),
        col(OutboxMessage.context),
        col(OutboxMessage.attempts),
        col(OutboxMessage.created_at),
        col(OutboxMessage.payload),
    ],
)
