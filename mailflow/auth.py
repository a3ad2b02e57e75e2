"""Staff sign-in: password hashes, users, and server-side sessions.

Passwords are hashed with scrypt (``hashlib.scrypt``, memory-hard, in the
standard library): ``scrypt$<n>$<r>$<p>$<salt>$<hash>``, salt and hash in
URL-safe base64. A session is a random token in an HTTP-only cookie; the
database keeps only its SHA-256, so a leaked database signs nobody in, and
signing out deletes the row.

>>> stored = hash_password("correct horse battery staple")
>>> verify_password("correct horse battery staple", stored), verify_password("wrong", stored)
(True, False)
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, select

from mailflow.errors import InvalidInput, NotFound
from mailflow.services import normalize_email
from mailflow.store.tables import AdminSession, Business, Staff, pk

__all__ = [
    "SESSION_LIFETIME",
    "SignedIn",
    "create_user",
    "end_session",
    "hash_password",
    "sign_in",
    "signed_in",
    "verify_password",
]

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1  # about 16 MiB and a few tens of ms per check
MIN_PASSWORD_LENGTH = 10
SESSION_LIFETIME = timedelta(days=14)
ROLES = ("admin", "staff")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    """The scrypt hash of ``password`` with a fresh salt, as stored on Staff."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time; ``False`` for anything malformed)."""
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        actual = hashlib.scrypt(
            password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")


def create_user(
    session: Session,
    business: str,
    email: str,
    *,
    role: str = "staff",
    name: str = "",
    timezone: str | None = None,
    password: str | None = None,
    reset: bool = False,
) -> tuple[Staff, str | None]:
    """Give ``email`` a sign-in for ``business``; returns the staff row and the generated password.

    A staff member who exists gets a password (their role and details stay);
    one who already has a password keeps it unless ``reset``. Without
    ``password`` a random one is generated and returned (shown once, never
    stored in clear). Raises ``NotFound`` for an unknown business and
    ``InvalidInput`` for a bad role, address or password.
    """
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}: use admin or staff")
    address = normalize_email(email)
    owner = session.exec(select(Business).where(Business.slug == business)).first()
    if owner is None:
        raise NotFound("business", business)
    generated = None
    if password is None:
        password = generated = secrets.token_urlsafe(12)
    _check_password(password)
    staff = session.exec(select(Staff).where(Staff.business_id == owner.id, Staff.email == address)).first()
    if staff is None:
        staff = Staff(
            business_id=pk(owner),
            email=address,
            name=name,
            role=role,
            locale=owner.default_locale,
            timezone=timezone or owner.timezone,
        )
    elif staff.password_hash and not reset:
        raise InvalidInput(f"{address} can already sign in; pass --reset to give them a new password")
    staff.password_hash = hash_password(password)
    session.add(staff)
    session.flush()
    # A new password ends every session the old one opened.
    session.execute(delete(AdminSession).where(AdminSession.staff_id == pk(staff)))  # type: ignore[arg-type]
    return staff, generated


@dataclass(frozen=True)
class SignedIn:
    """Who a session belongs to."""

    staff_id: int
    business_id: int
    email: str
    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_in(
    session: Session, business_id: int | None, email: str, password: str, now: datetime
) -> str | None:
    """A new session token when ``email`` and ``password`` match an active staff member, else None.

    The password is checked (and costs its time) even when the address is
    unknown, so the answer's timing does not tell which addresses exist.
    """
    query = select(Staff).where(Staff.email == email.strip().lower(), Staff.active == True)  # noqa: E712
    if business_id is not None:
        query = query.where(Staff.business_id == business_id)
    staff = session.exec(query.order_by(Staff.id)).first()  # type: ignore[arg-type]
    stored = staff.password_hash if staff is not None else None
    matches = verify_password(password, stored or _dummy_hash())
    if staff is None or stored is None or not matches:
        return None
    token = secrets.token_urlsafe(32)
    session.add(
        AdminSession(
            token_hash=_token_hash(token),
            staff_id=pk(staff),
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    session.flush()
    return token


def signed_in(session: Session, token: str | None, now: datetime) -> SignedIn | None:
    """The staff member behind session ``token`` if it is valid, unexpired and they are active."""
    if not token or len(token) > 128:
        return None
    row = session.exec(select(AdminSession).where(AdminSession.token_hash == _token_hash(token))).first()
    if row is None or row.expires_at <= now:
        return None
    staff = session.get(Staff, row.staff_id)
    if staff is None or not staff.active or not staff.password_hash:
        return None
    return SignedIn(pk(staff), staff.business_id, staff.email, staff.name or staff.email, staff.role)


def end_session(session: Session, token: str | None) -> None:
    """Sign out: the session row is deleted, the token is worthless from now on."""
    if token:
        session.execute(delete(AdminSession).where(AdminSession.token_hash == _token_hash(token)))  # type: ignore[arg-type]


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))
