"""The original a forward to staff carries, kept under a size (issue 16, item 9).

A customer's reply is forwarded with the original attached, base64-encoded: a 10 MB reply became
a 14.5 MB forward, over many mailbox limits (10 MB is still common), so the staff member got
nothing. Over ``limit`` bytes, the largest attachments of the original are left out, largest
first, until it fits; each is replaced by a short text part naming it, and the forward says so.
The text the customer wrote always stays.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from email.message import EmailMessage, Message

__all__ = ["DroppedAttachment", "slim_original"]


@dataclass(frozen=True, slots=True)
class DroppedAttachment:
    """An attachment left out of a forwarded original: its file name and size in bytes (encoded)."""

    filename: str
    size: int


def slim_original(raw: bytes, limit: int) -> tuple[bytes, list[DroppedAttachment]]:
    """``raw`` when it has at most ``limit`` bytes; else the message without its largest
    attachments (each replaced by a text part naming it) and what was left out.

    A message that cannot be taken apart, or that is still too big without any attachment,
    keeps only its headers and first text part.

    >>> slim_original(b"Subject: hi\\r\\n\\r\\nhello\\r\\n", 1000)
    (b'Subject: hi\\r\\n\\r\\nhello\\r\\n', [])
    """
    if len(raw) <= limit:
        return raw, []
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    leaves = [part for part in message.walk() if not part.is_multipart() and _is_attachment(part)]
    leaves.sort(key=_encoded_size, reverse=True)
    dropped: list[DroppedAttachment] = []
    size = len(raw)
    for part in leaves:
        if size <= limit:
            break
        item = DroppedAttachment(part.get_filename() or part.get_content_type(), _encoded_size(part))
        size -= item.size
        dropped.append(item)
        _replace(part, item)
    slim = message.as_bytes(policy=email.policy.SMTP)
    if len(slim) > limit:  # the text itself is huge, or the structure is not what it says
        slim, dropped = _text_only(message, limit), dropped or [DroppedAttachment("message", len(raw))]
    return slim, dropped


def _is_attachment(part: Message) -> bool:
    return part.get_content_disposition() == "attachment" or part.get_content_maintype() not in {
        "text",
        "multipart",
    }


def _encoded_size(part: Message) -> int:
    payload = part.get_payload()
    return len(payload) if isinstance(payload, str) else len(part.as_bytes())


def _replace(part: Message, item: DroppedAttachment) -> None:
    """``part`` becomes a short plain-text part naming what was there."""
    for header in ("Content-Type", "Content-Transfer-Encoding", "Content-Disposition"):
        del part[header]
    part.set_payload(f"[{item.filename}: {item.size} bytes, left out of this forward]\n", "utf-8")
    part.set_type("text/plain")


def _text_only(message: EmailMessage, limit: int) -> bytes:
    body = message.get_body(("plain", "html"))
    text = body.get_content() if body is not None else ""
    slim = EmailMessage(policy=email.policy.SMTP)
    for name in ("From", "To", "Cc", "Date", "Subject", "Message-ID"):
        if message[name] is not None:
            slim[name] = str(message[name])
    slim.set_content(str(text)[: max(limit // 2, 1000)])
    return slim.as_bytes()
