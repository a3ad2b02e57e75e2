"""Sign-in sessions of staff accounts: sign in, look up, sign out, sign out everywhere.

A session stores only the SHA-256 of its token: a leaked database signs nobody in.
Opening and closing one browser's session is not audited (it changes no one's
access); ending every session of a person is.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Engine, delete, update
from sqlmodel import Session, col, select

from mailflow import auth
from mailflow.booking.model import Actor
from mailflow.services.common import audit
from mailflow.store import queries
from mailflow.store.engine import read_session, write_session
from mailflow.store.tables import AdminSession, Staff, pk

__all__ = [
    "end_session",
    "end_sessions",
    "sign_in",
    "sign_out_everywhere",
    "signed_in",
]


def sign_in(
    engine: Engine, email: str, password: str, *, now: datetime, business_id: int | None = None
) -> str | None:
    """A new session token when ``email`` and ``password`` match an active staff member, else None.

    The password is checked (and costs its time) even when the address is
    unknown, so the answer's timing does not tell which addresses exist. The
    hash is computed outside any transaction (SQLite has one writer: a booking
    must not wait for it). A hash of an older kind (scrypt) is replaced by an
    Argon2 one in the transaction that opens the session, unless the password
    changed meanwhile. The session lasts ``auth.SESSION_LIFETIME``.
    """
    with read_session(engine) as session:
        query = select(Staff).where(Staff.email == email.strip().lower(), col(Staff.active).is_(True))
        if business_id is not None:
            query = query.where(Staff.business_id == business_id)
        staff = session.exec(query.order_by(col(Staff.id))).first()
        staff_id = staff.id if staff is not None else None
        stored = staff.password_hash if staff is not None else None
    matches, upgraded = auth.verify_and_update(password, stored or auth.dummy_hash())
    if staff_id is None or stored is None or not matches:
        return None
    token = secrets.token_urlsafe(32)
    with write_session(engine) as session:
        if upgraded is not None:
            session.execute(
                update(Staff)
                .where(col(Staff.id) == staff_id, col(Staff.password_hash) == stored)
                .values(password_hash=upgraded)
            )
        session.add(
            AdminSession(
                token_hash=auth.token_hash(token),
                staff_id=staff_id,
                created_at=now,
                expires_at=now + auth.SESSION_LIFETIME,
            )
        )
    return token


def signed_in(engine: Engine, token: str | None, now: datetime) -> auth.SignedIn | None:
    """The staff member behind session ``token`` if it is valid, unexpired and they are active."""
    if not token or len(token) > 128:
        return None
    with read_session(engine) as session:
        row = session.exec(
            select(AdminSession).where(AdminSession.token_hash == auth.token_hash(token))
        ).first()
        if row is None or row.expires_at <= now:
            return None
        staff = session.get(Staff, row.staff_id)
        if staff is None or not staff.active or not staff.password_hash:
            return None
        return auth.SignedIn(pk(staff), staff.business_id, staff.email, staff.name or staff.email, staff.role)


def end_session(engine: Engine, token: str | None) -> None:
    """Sign out: the session of ``token`` is deleted, the token is worthless from now on."""
    if token:
        with write_session(engine) as session:
            session.execute(
                delete(AdminSession).where(col(AdminSession.token_hash) == auth.token_hash(token))
            )


def end_sessions(session: Session, staff_id: int, keep: str | None = None) -> int:
    """End every session of ``staff_id`` (but that of token ``keep``) in the caller's transaction."""
    statement = delete(AdminSession).where(col(AdminSession.staff_id) == staff_id)
    if keep is not None:
        statement = statement.where(col(AdminSession.token_hash) != auth.token_hash(keep))
    result = session.execute(statement)
    return int(result.rowcount)  # type: ignore[attr-defined]  # a DELETE's result has one


def sign_out_everywhere(
    engine: Engine, staff_id: int, *, actor: Actor, now: datetime, keep: str | None = None
) -> int:
    """End every session of staff member ``staff_id`` (but the one of token ``keep``); how many ended.

    Audited as ``account.signed_out_everywhere``. Raises ``NotFound`` for an unknown staff member.
    """
    with write_session(engine) as session:
        staff = queries.staff_by_id(session, staff_id)
        ended = end_sessions(session, staff_id, keep)
        audit(
            session,
            business_id=staff.business_id,
            action="account.signed_out_everywhere",
            actor=actor,
            at=now,
            after={"email": staff.email, "sessions_ended": ended},
        )
        return ended
