"""Staff sign-in, the pure part: password hashes, session token hashes, who is signed in.

Passwords are hashed with Argon2id through ``pwdlib`` (the PHC string
``$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>``). Hashes of earlier versions,
scrypt (``scrypt$<n>$<r>$<p>$<salt>$<hash>``, salt and hash in URL-safe
base64), still verify; ``verify_and_update`` then returns an Argon2 hash to
store instead, which sign-in does. Hashing takes its time and memory on
purpose: callers do it outside any write transaction. A session is a random token in an HTTP-only cookie; the
database keeps only its SHA-256, so a leaked database signs nobody in. The
actions are in ``mailflow.services.accounts`` (create a user, passwords),
``sessions`` (sign in and out) and ``account_links`` (invitations, resets).

>>> stored = hash_password("correct horse battery staple")
>>> verify_password("correct horse battery staple", stored), verify_password("wrong", stored)
(True, False)
>>> verify_and_update("correct horse battery staple", stored)
(True, None)
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from pwdlib import PasswordHash
from pwdlib.exceptions import PwdlibError
from pwdlib.hashers.argon2 import Argon2Hasher

from mailflow.errors import InvalidInput
from mailflow.i18n import Nn_

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "ROLES",
    "SESSION_LIFETIME",
    "SignedIn",
    "check_password",
    "dummy_hash",
    "hash_password",
    "token_hash",
    "verify_and_update",
    "verify_password",
]

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1  # the parameters of the hashes before Argon2
# Argon2id with OWASP's first recommended setting (19 MiB, two passes, one lane): tens of
# milliseconds per check, so a sign-in stays quick while a stolen hash stays costly to guess.
PASSWORDS = PasswordHash((Argon2Hasher(time_cost=2, memory_cost=19 * 1024, parallelism=1),))
MIN_PASSWORD_LENGTH = 10
SESSION_LIFETIME = timedelta(days=14)
ROLES = ("admin", "staff")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    """The Argon2id hash of ``password`` with a fresh salt, as stored on Staff."""
    return PASSWORDS.hash(password)


def scrypt_hash(password: str) -> str:
    """A hash in the scrypt format of earlier versions (kept to test that those still verify)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time; ``False`` for anything malformed)."""
    return verify_and_update(password, stored)[0]


def verify_and_update(password: str, stored: str | None) -> tuple[bool, str | None]:
    """Whether ``password`` matches ``stored``, and the hash to store instead when ``stored`` is of
    an older kind (scrypt) or weaker parameters; ``(False, None)`` for anything malformed."""
    if not stored:
        return False, None
    if stored.startswith("scrypt$"):
        matches = _verify_scrypt(password, stored)
        return matches, hash_password(password) if matches else None
    try:
        return PASSWORDS.verify_and_update(password, stored)
    except (PwdlibError, ValueError, TypeError):
        return False, None


def _verify_scrypt(password: str, stored: str) -> bool:
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


def check_password(password: str) -> None:
    """``InvalidInput`` when ``password`` is too short to be chosen."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            Nn_(
                "the password must have at least {n} character",
                "the password must have at least {n} characters",
            ),
            n=MIN_PASSWORD_LENGTH,
            field="password",
        )


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


def token_hash(token: str) -> str:
    """What is stored of a session token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


@functools.cache
def dummy_hash() -> str:
    """A hash no password matches, checked against when an address is unknown (same timing)."""
    return hash_password(secrets.token_urlsafe(16))
