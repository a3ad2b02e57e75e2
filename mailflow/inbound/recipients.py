"""Which envelope recipients are ours: what RCPT takes and ``mailflow inbound feed`` stores.

``reply+<key>@<inbound domain>`` with a key we issued, ``bounce+<outbox id>.<signature>@``
with a return path we signed, and ``postmaster@`` (RFC 5321). The SMTP and LMTP handler asks
the same questions at RCPT, with an answer of its own for each refusal (``inbound.smtp``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from mailflow.services.bounces import return_path_is_ours
from mailflow.services.postmaster import is_postmaster
from mailflow.services.reply_targets import reply_key_exists

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from mailflow.outbound.return_path import ReturnPaths

__all__ = ["LOCAL_PART", "recipient_is_ours"]

LOCAL_PART = re.compile(r"^(reply|bounce)\+([a-z0-9.-]{4,64})$")
"""The local part of a reply or bounce address: its kind and its key."""


def recipient_is_ours(engine: Engine, return_paths: ReturnPaths, domain: str, address: str) -> bool:
    """Whether mailflow takes mail for ``address`` (database errors propagate: try again later)."""
    if is_postmaster(address, domain):
        return True
    local, _, host = address.strip().strip("<>").lower().rpartition("@")
    match = LOCAL_PART.match(local)
    if not domain or host != domain.lower() or match is None:
        return False
    if match.group(1) == "reply":
        return reply_key_exists(engine, match.group(2))
    signed = return_paths.parse_key(match.group(2))
    if signed is None:
        return False
    if not return_paths.secret_key:  # ``inbound feed`` without the key: the worker checks it
        return True
    return return_path_is_ours(engine, return_paths, *signed)
