"""Per-message return paths (VERP): every email we send names its own bounce address.

An outgoing email's envelope sender is ``bounce+<outbox id>.<signature>@<inbound
domain>``. The signature is an HMAC-SHA256 under the secret key (its own
purpose string, so it signs nothing else) of the outbox id and the email's
Message-ID, cut to 80 bits and written in lower-case base32, as MTAs may fold
a local part to lower case. The id says which email a bounce is about; the
Message-ID in the signature keeps an old bounce from naming a new email should
ids ever be handed out again (a database restored or recreated under the same
key). Nobody can make one up: an address we did not sign is refused at RCPT
(550) and never acts.

With no inbound domain there is no VERP: the envelope sender is the business's
own address, and bounces go wherever that mailbox is.

>>> paths = ReturnPaths("secret", "mail.example")
>>> address = paths.address(42, "<a@mail.example>")
>>> address.startswith("bounce+42.") and address.endswith("@mail.example")
True
>>> outbox_id, signature = paths.parse(address)
>>> paths.verify(outbox_id, "<a@mail.example>", signature), paths.verify(42, "<b@mail.example>", signature)
(True, False)
>>> paths.parse("bounce+anything@mail.example") is None
True
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

    def signature(self, outbox_id: int, message_id: str) -> str:
        """The signature of outbox row ``outbox_id`` with ``message_id``: 16 lower-case base32 characters."""
        signed = _PURPOSE + str(outbox_id).encode() + b"\x00" + message_id.encode("utf-8", "replace")
        digest = hmac.new(self.secret_key.encode(), signed, hashlib.sha256).digest()
        return base64.b32encode(digest[:10]).decode("ascii").lower()

    def address(self, outbox_id: int, message_id: str) -> str:
        """The envelope sender for outbox row ``outbox_id`` (needs a domain)."""
        return f"bounce+{outbox_id}.{self.signature(outbox_id, message_id)}@{self.domain}"

    def envelope_sender(self, outbox_id: int, message_id: str, fallback: str) -> str:
        """``address(…)`` when VERP is on, else ``fallback`` (the business's sender)."""
        return self.address(outbox_id, message_id) if self.enabled else fallback

    def parse(self, address: str) -> tuple[int, str] | None:
        """``(outbox id, signature)`` of a well-formed ``bounce+`` address on our domain, else None.

        Only the form is checked here; :meth:`verify` checks the signature against the email.
        """
        local, _, domain = address.strip().strip("<>").lower().rpartition("@")
        if not self.enabled or domain != self.domain.lower() or not local.startswith("bounce+"):
            return None
        return self.parse_key(local.removeprefix("bounce+"))

    def parse_key(self, key: str) -> tuple[int, str] | None:
        """As :meth:`parse`, for the part after ``bounce+`` (``42.<signature>``)."""
        match = _KEY.match(key.strip().lower())
        if not self.enabled or match is None:
            return None
        return int(match.group(1)), match.group(2)

    def verify(self, outbox_id: int, message_id: str, signature: str) -> bool:
        """Whether ``signature`` is ours for that email; compared in constant time."""
        return hmac.compare_digest(signature.lower(), self.signature(outbox_id, message_id))
