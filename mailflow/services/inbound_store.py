"""Inbound mail as it arrives: stored before the transport answers, then claimed by a worker.

The transports (SMTP, LMTP, IMAP, ``mailflow inbound feed``) call ``store_raw`` or
``store_many`` before they answer, so no accepted message is lost; the worker
takes stored rows with ``claim_received`` (a lease, so a crashed worker's rows
come back) and reads them with ``load_stored``. ``retry_inbound`` puts a message
that crashed back for another run. What the pipeline then does with a message is
``mailflow.services.inbound``.

The statements of the hot path are built once, at import, and run as Core.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, insert
from sqlmodel import Session, col, select

from mailflow.booking.model import Actor
from mailflow.errors import InvalidInput, NotFound
from mailflow.i18n import N_
from mailflow.kinds import InboundStatus
from mailflow.services.common import audit
from mailflow.store.claims import CLAIM_NOW, claim_parameters, lease_claim
from mailflow.store.engine import connection_of, read_session, write_session
from mailflow.store.tables import Booking, Business, InboundMessage

CLAIM_LEASE = timedelta(minutes=5)
_INBOUND = InboundMessage.__table__  # type: ignore[attr-defined]  # SQLModel tables have one


@dataclass(frozen=True, slots=True)
class Received:
    """A message as an MTA hands it over: bytes and envelope."""

    raw: bytes
    envelope_from: str
    envelope_rcpt: str


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A stored message as the worker reads it: the row's id, bytes and envelope recipient."""

    id: int
    raw: bytes
    sha256: str
    envelope_rcpt: str


def store_raw(engine: Engine, raw: bytes, *, envelope_from: str, envelope_rcpt: str, now: datetime) -> int:
    """Store ``raw`` as received (status ``received``); returns the row id. Nothing is judged yet."""
    return store_many(engine, [Received(raw, envelope_from, envelope_rcpt)], now)[0]


def store_many(engine: Engine, messages: list[Received], now: datetime) -> list[int]:
    """Store ``messages`` in one transaction (one commit, one turn at SQLite's lock); their row ids.

    All or nothing: should the transaction fail, none is stored and the error is raised.
    """
    ids = []
    with write_session(engine) as session:
        connection = connection_of(session)  # Core: no ORM objects, one row at a time for its id
        for message in messages:
            values: dict[str, Any] = {
                "message_id": header_message_id(message.raw),
                "sha256": hashlib.sha256(message.raw).hexdigest(),
                "raw": message.raw,
                "envelope_from": message.envelope_from[:254],
                "envelope_rcpt": message.envelope_rcpt[:254],
                "received_at": now,
                "status": InboundStatus.RECEIVED.value,
                "verdicts": [],
                "attempts": 0,
            }
            ids.append(int(connection.execute(_STORE, values).scalar_one()))
    return ids


def header_message_id(raw: bytes) -> str | None:
    """The Message-ID from the header block only (storage must be cheap; the body waits)."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0][:65536]
    match = re.search(rb"(?im)^message-id:[ \t]*(<[^>\r\n]{1,990}>)", head)
    return match.group(1).decode("ascii", "replace") if match else None


def has_received(engine: Engine) -> bool:
    """Whether a stored message waits (a read, so a polling worker never takes the write lock)."""
    with read_session(engine) as session:
        return session.execute(_WAITING).first() is not None


def claim_received(engine: Engine, now: datetime, limit: int, lease: timedelta = CLAIM_LEASE) -> list[int]:
    """Atomically take up to ``limit`` stored messages (or ones whose worker's claim ran out).

    A claim holds for ``lease`` from the moment it is taken, however long the
    message waited before. (A row claimed before ``claimed_until`` existed has
    none: its lease counts from its arrival, as it did then.) Returns the ids, ascending.
    """
    parameters = claim_parameters(now, lease, limit, arrived_before=now - lease)
    with write_session(engine) as session:
        rows = connection_of(session).execute(_CLAIM, parameters).all()
    return sorted(row[0] for row in rows)


def retry_inbound(
    engine: Engine, message_id: int, actor: Actor, now: datetime, lease: timedelta = CLAIM_LEASE
) -> None:
    """Put a message that ended with an error back for the pipeline, claimed by the caller.

    The row becomes ``processing`` with a claim of ``lease`` from ``now`` (so no
    worker takes it meanwhile); the caller runs the pipeline on it next. Audited
    as ``inbound.retry`` under the business of the message's booking (or the only
    business, for a message that reached none). ``NotFound`` for an unknown id,
    ``InvalidInput`` when the message is not in ``error``.
    """
    with write_session(engine) as session:
        row = session.get(InboundMessage, message_id)
        if row is None:
            raise NotFound(N_("inbound message"), str(message_id))
        if row.status != InboundStatus.ERROR:
            raise InvalidInput(
                N_("inbound message {id} is {status}, not error: nothing to retry"),
                id=message_id,
                status=row.status,
            )
        row.status = InboundStatus.PROCESSING.value
        row.claimed_until = now + lease
        session.add(row)
        business_id = _business_of(session, row.booking_id)
        if business_id is not None:
            audit(
                session,
                business_id=business_id,
                booking_id=row.booking_id,
                action="inbound.retry",
                actor=actor,
                at=now,
                before={"inbound_id": message_id, "status": InboundStatus.ERROR.value, "error": row.error},
                after={"inbound_id": message_id, "status": InboundStatus.PROCESSING.value},
            )


def _business_of(session: Session, booking_id: int | None) -> int | None:
    if booking_id is not None:
        booking = session.get(Booking, booking_id)
        if booking is not None:
            return booking.business_id
    only = session.exec(select(Business.id).limit(2)).all()
    return only[0] if len(only) == 1 else None


def load_stored(engine: Engine, row_ids: Sequence[int]) -> list[StoredMessage]:
    """The stored messages of ``row_ids`` (those that exist), with their bytes."""
    with read_session(engine) as session:
        found = session.execute(_STORED, {"ids": list(row_ids)}).all()
    return [StoredMessage(row.id, row.raw, row.sha256, row.envelope_rcpt) for row in found]


# Statements built once: every message arriving runs them.
_STORE = insert(_INBOUND).returning(_INBOUND.c.id)
_WAITING = select(InboundMessage.id).where(InboundMessage.status == InboundStatus.RECEIVED.value).limit(1)
_STORED = select(
    InboundMessage.id, InboundMessage.raw, InboundMessage.sha256, InboundMessage.envelope_rcpt
).where(col(InboundMessage.id).in_(bindparam("ids", expanding=True)))


_CLAIMED_UNTIL = col(InboundMessage.claimed_until)
_CLAIM = lease_claim(
    InboundMessage,
    (col(InboundMessage.status) == InboundStatus.RECEIVED.value)
    | (
        (col(InboundMessage.status) == InboundStatus.PROCESSING.value)
        & (
            (_CLAIMED_UNTIL < CLAIM_NOW)
            | (_CLAIMED_UNTIL.is_(None) & (col(InboundMessage.received_at) < bindparam("arrived_before")))
        )
    ),
    taken=InboundStatus.PROCESSING.value,
    returning=[col(InboundMessage.id)],
)
