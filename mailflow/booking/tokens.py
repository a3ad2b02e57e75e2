"""Secrets handed to customers: manage-link tokens and booking references.

A manage token is 256 random bits, URL-safe; only its SHA-256 is stored, so a
leaked database does not leak working links. Lookup is by the hash (an index
lookup that reveals nothing about near misses) and then confirmed with a
constant-time comparison.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

TOKEN_BYTES = 32
# Crockford-style alphabet without look-alikes (0/O, 1/I/L, U): readable on a phone.
REF_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
REF_LENGTH = 6
TOKEN_GRACE_AFTER_END = timedelta(days=1)


def new_token() -> str:
    """A fresh manage token (43 URL-safe characters, 256 bits)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """The SHA-256 hex digest stored in place of ``token``."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    """Whether ``token`` hashes to ``stored_hash``, compared in constant time."""
    return hmac.compare_digest(hash_token(token), stored_hash)


def looks_like_token(token: str) -> bool:
    """Cheap shape check before any database work (length and alphabet)."""
    return len(token) == 43 and all(c.isascii() and (c.isalnum() or c in "-_") for c in token)


def token_expiry(booking_end: datetime) -> datetime:
    """When a token minted for a booking ending at ``booking_end`` stops working."""
    return booking_end + TOKEN_GRACE_AFTER_END


def new_ref() -> str:
    """A public booking reference such as ``BK-7Q2M9X``."""
    return "BK-" + "".join(secrets.choice(REF_ALPHABET) for _ in range(REF_LENGTH))
