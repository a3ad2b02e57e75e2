"""Per-message return paths (VERP): every email we send names its own bounce address.

An outgoing email's envelope sender is ``bounce+<outbox id>.<signature>@<inbound
domain>``. The signature is an HMAC-SHA256 of the outbox id under the secret key
(its own purpose string, so it signs nothing else), cut to 80 bits and written
in lower-case base32, as MTAs may fold a local part to lower case. So a bounce
says by its address alone which email failed, and nobody can make one up: an
address we did not sign is refused at RCPT (550) and never acts.

With no inbound domain there is no VERP: the envelope sender is the business's
own address, and bounces go wherever that mailbox is.

>>> paths = ReturnPaths("secret", "mail.example")
>>> address = paths.address(42)
>>> address.startswith("bounce+42.") and address.endswith("@mail.example")
True
>>> paths.outbox_id(address), paths.outbox_id("bounce+42.aaaaaaaaaaaaaaaa@mail.example")
(42, None)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

__all__ = ["SIGNATURE_LENGTH", "ReturnPaths"]

SIGNATURE_LENGTH = 16  # base32 characters: 80 bits of the HMAC
_PURPOSE = b"mailflow return path v1\x00"
_KEY = re.compile(r"^([0-9]{1,18})\.([a-z2-7]{16})$")


@dataclass(frozen=True, slots=True)
class ReturnPaths:
    """Makes and checks the signed ``bounce+<id>.<signature>@`` addresses of one installation."""

    secret_key: str
    domain: str

    @property
    def enabled(self) -> bool:
        """VERP needs an inbound domain whose mail reaches us."""
        return bool(self.domain)

    def signature(self, outbox_id: int) -> str:
        """The signature of outbox row ``outbox_id``: 16 lower-case base32 characters."""
        digest = hmac.new(self.secret_key.encode(), _PURPOSE + str(outbox_id).encode(), hashlib.sha256)
        return base64.b32encode(digest.digest()[:10]).decode("ascii").lower()

    def address(self, outbox_id: int) -> str:
        """The envelope sender for outbox row ``outbox_id`` (needs a domain)."""
        return f"bounce+{outbox_id}.{self.signature(outbox_id)}@{self.domain}"

    def envelope_sender(self, outbox_id: int, fallback: str) -> str:
        """``address(outbox_id)`` when VERP is on, else ``fallback`` (the business's sender)."""
        return self.address(outbox_id) if self.enabled else fallback

    def outbox_id(self, address: str) -> int | None:
        """The outbox id a ``bounce+`` address names if we signed it on our domain, else None.

        Case does not matter; the signature is compared in constant time.
        """
        local, _, domain = address.strip().strip("<>").lower().rpartition("@")
        if not self.enabled or domain != self.domain.lower() or not local.startswith("bounce+"):
            return None
        return self.outbox_id_of_key(local.removeprefix("bounce+"))

    def outbox_id_of_key(self, key: str) -> int | None:
        """As :meth:`outbox_id`, for the part after ``bounce+`` (``42.<signature>``)."""
        match = _KEY.match(key.strip().lower())
        if not self.enabled or match is None:
            return None
        outbox_id = int(match.group(1))
        if not hmac.compare_digest(match.group(2), self.signature(outbox_id)):
            return None
        return outbox_id
