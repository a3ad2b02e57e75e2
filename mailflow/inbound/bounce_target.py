"""Which email of ours a bounce is about: the signed return path first, a reply address as fallback.

The classification step calls :func:`take_bounce` for a message of kind
``bounce``. The report's text says what happened (who, 4.x.x or 5.x.x); it
never decides on its own whom a bounce concerns, as anybody can write one:

1. the message reached ``bounce+<outbox id>.<signature>@`` (the envelope
   recipient, else Delivered-To/To/Cc, else the returned copy of our email):
   a signature we made names the outbox row, whose recipient failed;
2. else it reached ``reply+<key>@`` (an MTA that answers the From or Reply-To):
   the key names a booking, and only a reported address we sent that booking's
   mail to is acted on;
3. else nothing changes; the verdict says why.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from mailflow.inbound.parse import ParsedMessage
from mailflow.inbound.reports import BounceInfo
from mailflow.outbound.return_path import ReturnPaths
from mailflow.services import bounces
from mailflow.services.inbound import Outcome
from mailflow.services.reply_targets import find_target

if TYPE_CHECKING:
    from sqlmodel import Session

    from mailflow.outbound.notifier import Notifier

__all__ = ["return_path_candidates", "take_bounce"]


def take_bounce(
    session: Session,
    notifier: Notifier,
    paths: ReturnPaths,
    parsed: ParsedMessage,
    rcpts: list[str],
    info: BounceInfo,
    outcome: Outcome,
    now: datetime,
) -> None:
    """Record the bounce ``info`` on the one email (and recipient) it may concern.

    ``rcpts`` are the envelope recipients (none for a message fetched over IMAP).
    """
    outbox_id = bounces.signed_outbox_id(session, paths, return_path_candidates(parsed, paths, rcpts, info))
    if outbox_id is not None:
        outcome.add("bounce_target", "return_path", str(outbox_id))
        bounces.record_return_path_bounce(session, notifier, info, outbox_id, outcome, now)
        return
    addresses = [*rcpts, *parsed.to_addresses, *parsed.delivered_to, *parsed.cc_addresses]
    found = find_target(session, addresses, [], paths.domain) if paths.domain else None
    if found is None or found.booking_id is None:
        outcome.add("bounce_target", "none", "not sent to a return path or reply address of ours")
        return
    outcome.add("bounce_target", "reply_key", found.key or "")
    bounces.record_reply_bounce(session, notifier, info, found.booking_id, outcome, now)


def return_path_candidates(
    parsed: ParsedMessage, paths: ReturnPaths, rcpts: list[str], info: BounceInfo
) -> list[tuple[int, str]]:
    """``(outbox id, signature)`` of every return path of ours the bounce was sent to, most trusted first.

    The envelope, then Delivered-To, To and Cc, then the returned copy of our email; the
    signatures are checked against the emails by ``bounces.signed_outbox_id``.
    """
    found = [
        paths.parse(a) for a in [*rcpts, *parsed.delivered_to, *parsed.to_addresses, *parsed.cc_addresses]
    ]
    if info.return_path_key:  # named in the returned copy of our email (Return-Path, Sender)
        found.append(paths.parse_key(info.return_path_key))
    return list(dict.fromkeys(candidate for candidate in found if candidate is not None))
