"""Secrets mailflow must read back (a CalDAV password), encrypted with the app's secret key.

Fernet (``cryptography``): AES-128-CBC with an HMAC-SHA256, so a stored value can be neither
read nor altered without the key. The Fernet key is derived from ``MAILFLOW_SECRET_KEY``
(or the one generated into the data dir) with HKDF, under a purpose label of its own, so the
same secret key never serves two purposes directly. A changed secret key makes stored
passwords unreadable: ``SecretUnreadable``, and the admin enters the password again.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["SecretUnreadable", "open_secret", "seal_secret"]

PURPOSE = b"mailflow external calendar passwords v1"


class SecretUnreadable(Exception):
    """A stored secret does not open with this secret key (it changed, or the value was altered)."""


def _fernet(secret_key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def seal_secret(secret_key: str, plain: str) -> str:
    """``plain`` encrypted and authenticated with a key derived from ``secret_key``."""
    return _fernet(secret_key).encrypt(plain.encode()).decode("ascii")


def open_secret(secret_key: str, sealed: str) -> str:
    """The text ``seal_secret`` sealed; ``SecretUnreadable`` when the key does not open it."""
    try:
        return _fernet(secret_key).decrypt(sealed.encode("ascii")).decode()
    except (InvalidToken, ValueError):
        raise SecretUnreadable("the stored password cannot be read with this secret key") from None
