"""Mail to ``postmaster@<inbound domain>`` reaches the admins (RFC 5321, 4.5.1; issue 16, item 9).

Every mail domain must take mail for its postmaster: other operators write there about
delivery trouble, abuse or blocklisting. The inbound domain is shared by every business of
the installation, so each active admin of every business gets one copy (one per address),
the original attached (its largest attachments left out over the forward limit, as for
forwards to staff). At most ``POSTMASTER_PER_HOUR`` copies go out in any hour, so a flood
to postmaster cannot flood the admins: beyond it messages are only recorded (``mailflow
inbound list`` shows them).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, func, select

from mailflow.i18n import N_, gettext
from mailflow.kinds import EmailKind
from mailflow.outbound.compose import Attachment
from mailflow.outbound.forwarded import slim_original
from mailflow.outbound.notice import queue_notice
from mailflow.services.inbound import dropped_note
from mailflow.store.tables import Business, OutboxMessage, Staff

__all__ = ["POSTMASTER_PER_HOUR", "forward_to_admins", "is_postmaster"]

POSTMASTER_PER_HOUR = 20
"""Copies to admins of mail to postmaster in any hour (a flood is recorded, not forwarded)."""

SUBJECT = N_("Mail to postmaster@{domain}: {subject}")
INTRO = N_(
    "This message was sent to postmaster@{domain}, the address every mail domain must accept "
    "(RFC 5321). Other mail operators write there about delivery problems, abuse or "
    "blocklists. It comes from {sender}; the original is attached."
)


def is_postmaster(address: str, domain: str) -> bool:
    """Whether ``address`` is the postmaster of ``domain`` (any case), or a bare ``postmaster``."""
    local, at, host = address.strip().strip("<>").lower().rpartition("@")
    if not at:
        return host == "postmaster"
    return local == "postmaster" and bool(domain) and host == domain.lower()


def forward_to_admins(
    session: Session,
    raw: bytes,
    *,
    sender: str,
    subject: str,
    domain: str,
    max_bytes: int,
    now: datetime,
) -> int:
    """Queue a copy of ``raw`` to every active admin (one per address), in the caller's
    transaction; how many were queued (0: none, or the hourly cap is reached)."""
    recent = session.exec(
        select(func.count())
        .select_from(OutboxMessage)
        .where(
            OutboxMessage.kind == EmailKind.POSTMASTER.value,
            col(OutboxMessage.created_at) > now - timedelta(hours=1),
        )
    ).one()
    admins = session.exec(
        select(Staff, Business)
        .join(Business, col(Business.id) == col(Staff.business_id))
        .where(Staff.role == "admin", col(Staff.active).is_(True))
        .order_by(col(Staff.id))
    ).all()
    original, dropped = slim_original(raw, max_bytes)
    queued: set[str] = set()
    for admin, business in admins:
        if admin.email in queued or int(recent) + len(queued) >= POSTMASTER_PER_HOUR:
            continue
        queued.add(admin.email)
        _queue_copy(
            session,
            admin,
            business,
            original,
            sender,
            subject,
            domain,
            now,
            note=(dropped_note(admin.locale, dropped, max_bytes) if dropped else ""),
        )
    return len(queued)


def _queue_copy(
    session: Session,
    admin: Staff,
    business: Business,
    original: bytes,
    sender: str,
    subject: str,
    domain: str,
    now: datetime,
    *,
    note: str,
) -> None:
    locale = admin.locale
    one_line = " ".join(subject.split()) or "—"  # a folded or forged subject stays one header line
    title = gettext(locale, SUBJECT, domain=domain, subject=one_line)[:200]
    lines = [gettext(locale, INTRO, domain=domain, sender=sender or "<>"), *([note] if note else [])]
    attachment = Attachment("original.eml", "application/octet-stream", original)
    queue_notice(
        session,
        business=business,
        admin=admin,
        kind=EmailKind.POSTMASTER,
        title=title,
        paragraphs=lines,
        domain=domain,
        now=now,
        attachments=[attachment],
    )
