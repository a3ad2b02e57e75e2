"""Edited templates that could not be used when an email was sent, and the admins' notice of them.

When an admin's version of a template fails or breaks a limit at send time, the
email goes out with the shipped default (``EmailBuilder.finish``) and the
business's admins are told once per template version, not once per email: one
``template.fell_back`` audit event, shown on the admin template pages until a
newer version is saved or the default is put back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from mailflow.booking.model import ActorKind
from mailflow.store.tables import AuditEvent, Template

__all__ = ["FELL_BACK", "FallbackNotice", "TemplateFallback", "fallback_notices", "record_fallback"]

FELL_BACK = "template.fell_back"


@dataclass(frozen=True, slots=True)
class FallbackNotice:
    """An edited version in force that emails could not use since ``at``: the default went out instead."""

    kind: str
    locale: str
    version: int
    limit: str
    detail: str
    at: datetime


@dataclass(frozen=True, slots=True)
class TemplateFallback:
    """An edited template that could not be used for an email, so the default was."""

    kind: str
    locale: str
    version: int
    limit: str  # a limit of ``mailflow.outbound.limits``, or ``render_error``
    detail: str


def _key(kind: str, locale: str, version: int) -> dict[str, Any]:
    return {"kind": kind, "locale": locale, "version": version}


def record_fallback(session: Session, business_id: int, fallback: TemplateFallback, now: datetime) -> bool:
    """Note, once per template version, that ``fallback`` happened; True when this is the first time.

    In the caller's transaction; the emails themselves are never held back by it.
    """
    key = _key(fallback.kind, fallback.locale, fallback.version)
    seen = session.exec(
        select(AuditEvent.before).where(AuditEvent.business_id == business_id, AuditEvent.action == FELL_BACK)
    ).all()
    if any(before == key for before in seen):
        return False
    session.add(
        AuditEvent(
            business_id=business_id,
            at=now,
            actor_kind=ActorKind.SYSTEM.value,
            actor_label="mailflow",
            action=FELL_BACK,
            before=key,
            after={"limit": fallback.limit, "detail": fallback.detail[:2000]},
        )
    )
    session.flush()
    return True


def fallback_notices(session: Session, business_id: int) -> list[FallbackNotice]:
    """The business's template versions still in force that fell back to the default, newest first."""
    in_force = {
        (row.kind, row.locale): row.current_version
        for row in session.exec(
            select(Template).where(
                Template.business_id == business_id, col(Template.current_version).is_not(None)
            )
        ).all()
    }
    events = session.exec(
        select(AuditEvent)
        .where(AuditEvent.business_id == business_id, AuditEvent.action == FELL_BACK)
        .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
    ).all()
    notices = []
    for event in events:
        before, after = event.before or {}, event.after or {}
        if in_force.get((str(before.get("kind")), str(before.get("locale")))) != before.get("version"):
            continue  # fixed since: another version or the default is in force
        notices.append(
            FallbackNotice(
                kind=str(before["kind"]),
                locale=str(before["locale"]),
                version=int(before["version"]),
                limit=str(after.get("limit", "")),
                detail=str(after.get("detail", "")),
                at=event.at,
            )
        )
    return notices
