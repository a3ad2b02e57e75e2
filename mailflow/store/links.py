"""Persisted secrets that point at a booking: manage tokens and reply keys."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import insert
from sqlmodel import Session, select

from mailflow.booking.tokens import hash_token, looks_like_token, new_token, token_expiry
from mailflow.store.tables import Booking, ManageToken, ReplyKey, pk

REPLY_KEY_BYTES = 12
# Core inserts, run at once: rows minted with every email are never read back as objects in
# the transaction that makes them, and building and flushing an ORM row costs more.
_INSERT_TOKEN = insert(ManageToken.__table__)  # type: ignore[attr-defined]  # SQLModel tables have one
_INSERT_REPLY_KEY = insert(ReplyKey.__table__)  # type: ignore[attr-defined]


def mint_manage_token(session: Session, booking: Booking, now: datetime) -> str:
    """A fresh manage token for ``booking``; only its hash is stored."""
    token = new_token()
    session.connection().execute(
        _INSERT_TOKEN,
        {
            "booking_id": pk(booking),
            "token_hash": hash_token(token),
            "created_at": now,
            "expires_at": token_expiry(booking.end),
        },
    )
    return token


def booking_for_token(session: Session, token: str, now: datetime) -> Booking | None:
    """The booking a manage token opens, or None (unknown, tampered or expired alike)."""
    if not looks_like_token(token):
        return None
    row = session.exec(select(ManageToken).where(ManageToken.token_hash == hash_token(token))).first()
    if row is None or row.expires_at <= now:
        return None
    return session.get(Booking, row.booking_id)


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
    session.connection().execute(
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
