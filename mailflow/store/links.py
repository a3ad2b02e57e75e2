"""Persisted secrets that point at a booking: manage tokens and reply keys."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy import select as select_rows  # sqlmodel's select types at most four columns
from sqlmodel import Session, col, select

from mailflow.booking.tokens import hash_token, looks_like_token, new_token, token_expiry
from mailflow.store.batch import insert_now_or_later
from mailflow.store.tables import Booking, Business, Customer, ManageToken, ReplyKey, Service, Staff, pk

REPLY_KEY_BYTES = 12
# Core inserts, run at once: rows minted with every email are never read back as objects in
# the transaction that makes them, and building and flushing an ORM row costs more.
_INSERT_TOKEN = insert(ManageToken.__table__)  # type: ignore[attr-defined]  # SQLModel tables have one
_INSERT_REPLY_KEY = insert(ReplyKey.__table__)  # type: ignore[attr-defined]
# Nothing reads a token or a key in the transaction that mints it (a reply names a key of an
# email already sent; a token is read by the manage page): they may wait for the batch's end.
INSERTS_NEVER_READ_BACK = frozenset({_INSERT_TOKEN, _INSERT_REPLY_KEY})


def mint_manage_token(session: Session, booking: Booking, now: datetime) -> str:
    """A fresh manage token for ``booking``; only its hash is stored."""
    token = new_token()
    insert_now_or_later(
        session,
        _INSERT_TOKEN,
        {
            "booking_id": pk(booking),
            "token_hash": hash_token(token),
            "created_at": now,
            "expires_at": token_expiry(booking.end),
        },
    )
    return token


def rows_for_token(
    session: Session, token: str, now: datetime
) -> tuple[Booking, Business, Service, Staff, Customer] | None:
    """The booking a manage token opens and the rows around it, in one query; None when the token
    is unknown, tampered with or expired (alike).

    A manage page is opened far more often than anything else is read: one round trip and one
    statement instead of six (token, booking, business, service, staff, customer).
    """
    if not looks_like_token(token):
        return None
    columns: tuple[Any, ...] = (ManageToken.expires_at, Booking, Business, Service, Staff, Customer)
    row = session.execute(
        select_rows(*columns)
        .join(Booking, col(Booking.id) == ManageToken.booking_id)
        .join(Business, col(Business.id) == Booking.business_id)
        .join(Service, col(Service.id) == Booking.service_id)
        .join(Staff, col(Staff.id) == Booking.staff_id)
        .join(Customer, col(Customer.id) == Booking.customer_id)
        .where(col(ManageToken.token_hash) == hash_token(token))
    ).first()
    if row is None or row[0] <= now:
        return None
    return row[1], row[2], row[3], row[4], row[5]


def extend_tokens(session: Session, booking: Booking) -> None:
    """Keep every manage link of ``booking`` valid until its (new) end."""
    for token in session.exec(select(ManageToken).where(ManageToken.booking_id == booking.id)):
        token.expires_at = token_expiry(booking.end)
        session.add(token)


def mint_reply_key(
    session: Session,
    booking_id: int | None,
    recipient: str,
    now: datetime,
    *,
    kind: str | None = None,
    offered: list[dict[str, str]] | None = None,
    answers: str | None = None,
) -> str:
    """A fresh lower-case key for ``reply+<key>@``, bound to the booking, the recipient and the email kind."""
    key = secrets.token_hex(REPLY_KEY_BYTES)
    insert_now_or_later(
        session,
        _INSERT_REPLY_KEY,
        {
            "key": key,
            "booking_id": booking_id,
            "recipient": recipient.lower(),
            "created_at": now,
            "kind": kind,
            "offered": offered,
            "answers": answers,
        },
    )
    return key
