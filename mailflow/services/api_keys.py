"""API keys: bearer secrets for ``/api/v1``, one business each — create, list, revoke, look up.

A key is ``mf_`` and 43 URL-safe random characters (256 bits). It is shown
once, when created; the database keeps only its SHA-256 (a leaked database
opens no API) and its first characters as ``prefix``, so a list of keys can
name them. A revoked key stays listed and opens nothing. Creating and revoking
a key change who can reach the business's data: both are audited.

>>> key = new_key()
>>> key.startswith("mf_"), len(key), display_prefix(key) == key[:11]
(True, 46, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, update
from sqlmodel import col, select

from mailflow.booking.model import Actor
from mailflow.booking.tokens import hash_token, new_token
from mailflow.errors import InvalidInput, NotFound
from mailflow.i18n import N_, Nn_
from mailflow.services.common import audit, check_text
from mailflow.services.webhook_events import API_ACTOR_PREFIX
from mailflow.store import queries
from mailflow.store.engine import read_session, write_session
from mailflow.store.tables import MAX_INTEGER, ApiKey, Business, pk

__all__ = [
    "LAST_USED_RESOLUTION",
    "ApiCaller",
    "ApiKeyInfo",
    "authenticate",
    "create_api_key",
    "display_prefix",
    "list_api_keys",
    "new_key",
    "revoke_api_key",
]

KEY_SCHEME = "mf_"
PREFIX_LENGTH = 11  # "mf_" and 8 characters: enough to tell keys apart in a list
MAX_KEY_LENGTH = 128
LABEL_MAX = 200
# last_used_at is written at most this often per key, so using the API costs no write per request.
LAST_USED_RESOLUTION = timedelta(minutes=5)


def new_key() -> str:
    """A fresh API key (``mf_`` and 256 random bits)."""
    return KEY_SCHEME + new_token()


def display_prefix(key: str) -> str:
    """The part of ``key`` kept in clear to name it in lists."""
    return key[:PREFIX_LENGTH]


@dataclass(frozen=True, slots=True)
class ApiCaller:
    """Who calls the API: a key and the business it belongs to."""

    key_id: int
    prefix: str
    label: str
    business_id: int
    business_slug: str
    business_timezone: str

    @property
    def actor_label(self) -> str:
        """How staff emails and the audit name changes made with this key."""
        return f"{API_ACTOR_PREFIX}{self.label or self.prefix}"[:254]


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """One key as lists show it: never the key itself, only its prefix."""

    id: int
    prefix: str
    label: str
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
    revoked_at: datetime | None


def _info(row: ApiKey) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=pk(row),
        prefix=row.prefix,
        label=row.label,
        created_at=row.created_at,
        created_by=row.created_by,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def create_api_key(
    engine: Engine, business: str, *, label: str = "", actor: Actor, now: datetime
) -> tuple[ApiKeyInfo, str]:
    """A new key for ``business``: what lists show of it, and the key itself (show it once, then forget it).

    ``actor.label`` is kept as the key's ``created_by``. Audited as ``api_key.created``.
    Raises ``NotFound`` for an unknown business, ``InvalidInput`` for a label over 200 characters.
    """
    label = label.strip()
    if len(label) > LABEL_MAX:
        raise InvalidInput(
            Nn_("the label has more than {n} character", "the label has more than {n} characters"),
            n=LABEL_MAX,
            field="label",
        )
    label = check_text(label, "label", LABEL_MAX)
    key = new_key()
    with write_session(engine) as session:
        owner = queries.business_by_slug(session, business)
        row = ApiKey(
            business_id=pk(owner),
            key_hash=hash_token(key),
            prefix=display_prefix(key),
            label=label,
            created_at=now,
            created_by=actor.label[:254],
        )
        session.add(row)
        session.flush()
        audit(
            session,
            business_id=pk(owner),
            action="api_key.created",
            actor=actor,
            at=now,
            after={"id": row.id, "prefix": row.prefix, "label": row.label},
        )
        return _info(row), key


def list_api_keys(engine: Engine, business: str) -> list[ApiKeyInfo]:
    """Every key of ``business``, revoked ones too, oldest first; ``NotFound`` for an unknown business."""
    with read_session(engine) as session:
        owner = queries.business_by_slug(session, business)
        rows = session.exec(select(ApiKey).where(ApiKey.business_id == owner.id).order_by(col(ApiKey.id)))
        return [_info(row) for row in rows]


def revoke_api_key(engine: Engine, business: str, which: str, *, actor: Actor, now: datetime) -> ApiKeyInfo:
    """Revoke the key of ``business`` named by its id or its prefix; revoking twice changes nothing.

    The first revocation is audited as ``api_key.revoked``; from then on the key opens nothing.
    Raises ``NotFound`` for an unknown business or when no key matches, ``InvalidInput`` when a
    prefix matches several keys.
    """
    with write_session(engine) as session:
        owner = queries.business_by_slug(session, business)
        statement = select(ApiKey).where(ApiKey.business_id == owner.id)
        if which.isascii() and which.isdigit():  # "²" is a digit too, but no number int() reads
            if int(which) > MAX_INTEGER:
                raise NotFound(N_("API key"), which)
            statement = statement.where(ApiKey.id == int(which))
        else:
            statement = statement.where(col(ApiKey.prefix).startswith(which.strip(), autoescape=True))
        rows = session.exec(statement).all()
        if not rows:
            raise NotFound(N_("API key"), which)
        if len(rows) > 1:
            raise InvalidInput(
                Nn_(
                    "{which!r} names {n} key: give the key's id instead",
                    "{which!r} names {n} keys: give the key's id instead",
                ),
                n=len(rows),
                which=which,
            )
        row = rows[0]
        if row.revoked_at is None:
            row.revoked_at = now
            session.add(row)
            session.flush()
            audit(
                session,
                business_id=pk(owner),
                action="api_key.revoked",
                actor=actor,
                at=now,
                before={"id": row.id, "prefix": row.prefix, "revoked_at": None},
                after={"id": row.id, "prefix": row.prefix, "revoked_at": now.isoformat()},
            )
        return _info(row)


def authenticate(engine: Engine, key: str, now: datetime) -> ApiCaller | None:
    """The caller behind ``key`` when it is a known, unrevoked key; else None.

    Records ``last_used_at``, but at most once per ``LAST_USED_RESOLUTION``:
    most requests only read. Not audited (it changes no one's access).
    """
    if not key.startswith(KEY_SCHEME) or len(key) > MAX_KEY_LENGTH:
        return None
    with read_session(engine) as session:
        found = session.exec(
            select(ApiKey, Business).join(Business).where(ApiKey.key_hash == hash_token(key))
        ).first()
        if found is None:
            return None
        row, business = found
        if row.revoked_at is not None:
            return None
        caller = ApiCaller(
            key_id=pk(row),
            prefix=row.prefix,
            label=row.label,
            business_id=pk(business),
            business_slug=business.slug,
            business_timezone=business.timezone,
        )
        stale = row.last_used_at is None or row.last_used_at <= now - LAST_USED_RESOLUTION
    if stale:
        with write_session(engine) as session:
            session.execute(
                update(ApiKey)
                .where(
                    col(ApiKey.id) == caller.key_id,
                    or_(
                        col(ApiKey.last_used_at).is_(None),
                        col(ApiKey.last_used_at) <= now - LAST_USED_RESOLUTION,
                    ),
                )
                .values(last_used_at=now)
            )
    return caller
