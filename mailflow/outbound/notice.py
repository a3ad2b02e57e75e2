"""Plain notices to a business's admins: paragraphs of text, no editable template.

Operator news that is no booking's email (mail that reached postmaster@, a webhook endpoint
that was disabled) goes out in the admin's language as a few paragraphs, HTML and text
alike, from the business's sender address.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

from sqlmodel import Session

from mailflow.kinds import EmailKind
from mailflow.outbound.compose import Address, Attachment, Envelope, compose, new_message_id
from mailflow.outbound.message import OutgoingEmail
from mailflow.outbound.outbox import enqueue
from mailflow.outbound.render import RenderedEmail
from mailflow.store.tables import Business, Staff

__all__ = ["queue_notice"]


def queue_notice(
    session: Session,
    *,
    business: Business,
    admin: Staff,
    kind: EmailKind,
    title: str,
    paragraphs: Sequence[str],
    domain: str,
    now: datetime,
    attachments: Sequence[Attachment] = (),
) -> None:
    """Queue ``paragraphs`` under ``title`` to ``admin`` in ``session``'s transaction; the
    Message-ID is in ``domain`` (which also names the sender when the business has no address)."""
    text = "\n\n".join(paragraphs) + "\n"
    html = "".join(f"<p>{escape(line)}</p>" for line in paragraphs)
    envelope = Envelope(
        sender=Address(
            business.sender_email or business.email or f"mailflow@{domain}",
            business.sender_name or business.name,
        ),
        to=Address(admin.email, admin.name),
        message_id=new_message_id(domain),
        date=now,
        kind=kind,
    )
    page = f"<!doctype html><html><body>{html}</body></html>"
    data = compose(envelope, RenderedEmail(title, page, text), attachments=attachments)
    enqueue(
        session,
        OutgoingEmail(kind, admin.email, envelope.message_id, title, data),
        business_id=admin.business_id,
        booking_id=None,
        envelope_from=envelope.sender.email,
        now=now,
    )
