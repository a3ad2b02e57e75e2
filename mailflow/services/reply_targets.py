"""What a reply is about: its reply key, else our Message-ID it names, else its calendar entry's UID.

The SMTP side asks whether keys are ours (``known_reply_keys``, at RCPT); the
pipeline finds each message's ``Target`` (``find_target``). A pipeline batch first
loads every key its replies name, with their bookings, customers, staff and
services, in one statement (``prefetch_targets``); a reply key row never changes
within the batch, and the bookings stay in the session, where the changes of the
batch's earlier replies are.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Connection, Engine, bindparam
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from mailflow.store.engine import connection_of, read_session
from mailflow.store.tables import Booking, Customer, OutboxMessage, ReplyKey, Service, Staff

KEY_ADDRESS = re.compile(r"^reply\+([a-z0-9]{8,64})@(.+)$")
_PREFETCHED = "mailflow_reply_targets"  # session.info: key -> its row, or None for no such key
_KeyRow = tuple[int | None, str, str | None, list[dict[str, str]] | None, str | None]


@dataclass(frozen=True, slots=True)
class Target:
    """What a reply is about: a booking and the recipient of the email it answers."""

    booking_id: int | None
    recipient: str
    via: str
    key: str | None = None
    key_kind: str | None = None
    offered: list[dict[str, str]] | None = None
    answers: str | None = None
    """The customer's Message-ID a ``customer_message`` forward carried (its key remembers it)."""


def reply_key_exists(engine: Engine, key: str) -> bool:
    """Whether ``key`` is a reply key we issued (asked at RCPT for every ``reply+`` address)."""
    with engine.connect() as connection:
        return key in known_reply_keys(connection, [key])


def known_reply_keys(connection: Connection, keys: Collection[str]) -> set[str]:
    """Which of ``keys`` are reply keys we issued: one query for the RCPTs of several sessions.

    Core on the caller's connection, not a Session: the SMTP side asks this for every RCPT.
    """
    return set(connection.execute(_KEYS_KNOWN, {"keys": list(keys)}).scalars())


def reply_keys_in(addresses: Iterable[str], domain: str) -> list[str]:
    """The reply keys of ``addresses``, in their order; only on ``domain`` (any when empty)."""
    keys = []
    for address in addresses:
        match = KEY_ADDRESS.match(address.strip().lower())
        if match is not None and (not domain or match.group(2) == domain):
            keys.append(match.group(1))
    return keys


def prefetch_targets(session: Session, keys: Collection[str]) -> None:
    """Load the reply keys ``keys`` and their bookings (with customer, staff member and service)
    in one statement, for ``find_target`` and ``booking_with_people`` in this session to find;
    keys this session already read are not read again."""
    known: dict[str, _KeyRow | None] = session.info.setdefault(_PREFETCHED, {})
    missing = [key for key in keys if key not in known]
    if not missing:
        return
    known.update(dict.fromkeys(missing))
    for row in session.execute(_KEYS_WITH_BOOKINGS, {"keys": missing}):
        known[row.key] = cast(_KeyRow, tuple(row[1:6]))


def find_target(
    session: Session, addresses: Sequence[str], references: Sequence[str | None], domain: str
) -> Target | None:
    """The first reply key of ours among ``addresses``, else our own Message-ID among ``references``.

    ``addresses`` in order of trust (envelope, To, Delivered-To, Cc); a key counts only on
    ``domain`` (any domain when it is empty). ``references`` in order of preference
    (In-Reply-To, then References from the newest); empty ones are skipped.
    """
    keys = reply_keys_in(addresses, domain)
    prefetch_targets(session, keys)  # already done for a pipeline batch's keys
    known: dict[str, _KeyRow | None] = session.info[_PREFETCHED]
    for key in keys:
        row = known[key]
        if row is not None:
            booking_id, recipient, kind, offered, answers = row
            return Target(booking_id, recipient, "reply_key", key, kind, offered, answers)
    for message_id in (ref for ref in references if ref):
        sent = connection_of(session).execute(_SENT_TARGET, {"message_id": message_id}).first()
        if sent is not None:
            return Target(sent.booking_id, sent.recipient, "references", None, sent.kind, None)
    return None


def target_by_calendar_uid(session: Session, uid: str, domain: str) -> Target | None:
    """The booking whose calendar entry has ``uid`` (``<ref>@<domain>``), as its customer's answer:
    a calendar client answers the ORGANIZER's address, without our reply key or references."""
    ref, _, at = uid.strip().lower().partition("@")
    if not ref or at != domain.lower():
        return None
    found = session.execute(
        select_columns(col(Booking.id), col(Customer.email))
        .join(Customer, col(Customer.id) == Booking.customer_id)
        .where(col(Booking.ref) == ref.upper())
    ).first()
    return None if found is None else Target(found[0], found[1], "calendar_uid")


def target_ref(
    engine: Engine, addresses: Sequence[str], references: Sequence[str | None], domain: str
) -> str | None:
    """The reference of the booking a message would be about (see ``find_target``), or None."""
    with read_session(engine) as session:
        target = find_target(session, addresses, references, domain)
        if target is None or target.booking_id is None:
            return None
        booking = session.get(Booking, target.booking_id)
        return booking.ref if booking else None


_KEY_COLUMNS = tuple(
    col(column)
    for column in (ReplyKey.booking_id, ReplyKey.recipient, ReplyKey.kind, ReplyKey.offered, ReplyKey.answers)
)
_KEYS_KNOWN = select(ReplyKey.key).where(col(ReplyKey.key).in_(bindparam("keys", expanding=True)))
# The bookings come as entities, so the session holds them (and their people) for the batch.
_KEYS_WITH_BOOKINGS = (
    select_columns(col(ReplyKey.key), *_KEY_COLUMNS, Booking, Customer, Staff, Service)
    .outerjoin(Booking, col(Booking.id) == col(ReplyKey.booking_id))
    .outerjoin(Customer, col(Customer.id) == col(Booking.customer_id))
    .outerjoin(Staff, col(Staff.id) == col(Booking.staff_id))
    .outerjoin(Service, col(Service.id) == col(Booking.service_id))
    .where(col(ReplyKey.key).in_(bindparam("keys", expanding=True)))
)
_SENT_TARGET = (
    select(OutboxMessage.booking_id, OutboxMessage.recipient, OutboxMessage.kind)
    .where(OutboxMessage.message_id == bindparam("message_id"))
    .limit(1)
)
