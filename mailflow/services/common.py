"""What every use case shares: checking plain values, auditing a change, its before and after."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import insert
from sqlmodel import Session

from mailflow.booking.model import Actor
from mailflow.errors import InvalidInput
from mailflow.i18n import N_, Nn_
from mailflow.store.tables import AuditEvent

SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
# The field rules (issue 16, item 5): every text a user gives reaches a column of this length
# (``store/tables.py``) and some reach an email header, so the limits are the columns' and
# single-line texts hold no control character at all (CR/LF would start a new header).
LIMITS = {
    "name": 200,
    "phone": 64,
    "address": 500,
    "sender_name": 200,
    "instructions": 5000,
    "description": 5000,
    "location": 500,
    "label": 200,
    "reason": 1000,
    "message": 5000,
    "note": 1000,
    "email": 254,
}


def normalize_email(email: str, *, field: str | None = None) -> str:
    """One address, trimmed and lower-cased; ``InvalidInput`` naming ``field`` otherwise.

    Checked with ``email-validator`` without DNS lookups: a display name, angle brackets, a
    second address (``a@example.com>,<b@example.org``), a special-use domain (``.test``,
    ``.localhost``) or a control character is refused, so the header and the envelope built
    from it always name the same single mailbox.

    >>> normalize_email(" Ada@Example.COM ")
    'ada@example.com'
    """
    value = email.strip()
    if not value or len(value) > LIMITS["email"] or _has_control(value, lines=False):
        raise InvalidInput(N_("not an email address: {email!r}"), email=email, field=field)
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise InvalidInput(N_("not an email address: {email!r}"), email=email, field=field) from None
    return checked.normalized.lower()


def _has_control(text: str, *, lines: bool) -> bool:
    """Whether ``text`` holds a control character (Unicode category Cc, or a line or paragraph
    separator); with ``lines``, line feeds and tabs are allowed."""
    allowed = "\n\t" if lines else ""
    return any((unicodedata.category(c) == "Cc" or c in "\u2028\u2029") and c not in allowed for c in text)


def check_timezone(name: str, *, field: str | None = None) -> str:
    """``name`` when it is an IANA time zone; ``InvalidInput`` otherwise."""
    try:
        ZoneInfo(name)
    # OSError: "Europe" is a directory of the zone database, a very long name is no file name at all.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInput(
            N_("unknown time zone {name!r}: use an IANA name such as Europe/Berlin"), name=name, field=field
        ) from None
    return name


_UNITS = {"m": 1, "min": 1, "mins": 1, "minute": 1, "minutes": 1, "h": 60, "hr": 60, "hour": 60, "hours": 60}
_UNITS |= {"d": 1440, "day": 1440, "days": 1440}
_PART = re.compile(r"(\d+)\s*([a-z]*)")


def parse_minutes(text: str, bare_unit: str = "min", *, field: str | None = None) -> int:
    """``"1 h 30 min"`` -> 90; a bare number counts in ``bare_unit``. ``InvalidInput`` otherwise.

    >>> parse_minutes("24 h"), parse_minutes("90"), parse_minutes("1 d 2h"), parse_minutes("2", "h")
    (1440, 90, 1560, 120)
    """
    value = text.strip().lower()
    if not value:
        raise InvalidInput(N_("enter a time such as 24 h or 30 min"), field=field)
    total, position = 0, 0
    for match in _PART.finditer(value):
        if value[position : match.start()].strip():
            break
        unit = match.group(2) or bare_unit
        if unit not in _UNITS:
            raise InvalidInput(N_("unknown unit {unit!r}: use min, h or d"), unit=unit, field=field)
        total += int(match.group(1)) * _UNITS[unit]
        position = match.end()
    if position == 0 or value[position:].strip():
        raise InvalidInput(
            N_("{text!r} is not a time: write e.g. 24 h, 90 min or 1 d"), text=text.strip(), field=field
        )
    return total


def format_minutes(minutes: int) -> str:
    """90 -> ``"1 h 30 min"``, 1440 -> ``"24 h"``, 0 -> ``"0 min"``."""
    hours, rest = divmod(minutes, 60)
    if hours and rest:
        return f"{hours} h {rest} min"
    return f"{hours} h" if hours else f"{rest} min"


# A Core insert, run at once: the audit trail is written, never read back in the same change.
_INSERT_AUDIT = insert(AuditEvent.__table__)  # type: ignore[attr-defined]  # SQLModel tables have one


def audit(
    session: Session,
    *,
    business_id: int,
    action: str,
    actor: Actor,
    at: datetime,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    booking_id: int | None = None,
) -> None:
    """Record who did what, when, with the values before and after (in the caller's transaction)."""
    session.connection().execute(
        _INSERT_AUDIT,
        {
            "business_id": business_id,
            "booking_id": booking_id,
            "at": at,
            "actor_kind": actor.kind.value,
            "actor_label": actor.label,
            "action": action,
            "before": before,
            "after": after,
        },
    )


def change_audited(
    session: Session,
    row: Any,
    update: dict[str, Any],
    *,
    business_id: int,
    action: str,
    actor: Actor,
    now: datetime,
    subject: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Set ``update`` on ``row`` and, when something really changed, store it and audit
    ``action`` with the values before and after (``subject`` names the row in ``before``).
    Returns what changed (empty: nothing)."""
    before, after = apply_changes(row, update)
    if after:
        session.add(row)
        session.flush()
        audit(
            session,
            business_id=business_id,
            action=action,
            actor=actor,
            at=now,
            before={**(subject or {}), **before},
            after=after,
        )
    return after


def apply_changes(row: Any, update: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Set ``update`` on ``row``; the (before, after) of the fields that really changed."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for name, value in update.items():
        if getattr(row, name) != value:
            before[name], after[name] = getattr(row, name), value
            setattr(row, name, value)
    return before, after


def unknown_fields(names: Iterable[str]) -> InvalidInput:
    """The error for keys a change does not know: named in the message, the first as its field."""
    unknown = sorted(names)
    return InvalidInput(
        Nn_("unknown field: {fields}", "unknown fields: {fields}"),
        n=len(unknown),
        fields=", ".join(unknown),
        field=unknown[0],
    )


def check_slug(value: str) -> str:
    """A lower-case slug (letters, digits, hyphens; up to 64); ``InvalidInput`` otherwise."""
    slug = value.strip()
    if not SLUG.fullmatch(slug):
        raise InvalidInput(
            N_("slug {value!r}: use lower-case letters, digits and hyphens (up to 64), e.g. city-salon"),
            value=value,
            field="slug",
        )
    return slug


def check_text(value: str, field: str, limit: int, *, lines: bool = False) -> str:
    """``value`` trimmed, at most ``limit`` characters and free of control characters; with
    ``lines`` (an address, instructions, a reason) line breaks are kept (CR LF becomes LF).
    ``InvalidInput`` naming ``field`` otherwise: nothing of it is stored."""
    text = value.replace("\r\n", "\n").strip() if lines else value.strip()
    if len(text) > limit:
        raise InvalidInput(
            Nn_("{field}: at most {n} character", "{field}: at most {n} characters"), n=limit, field=field
        )
    if "\x00" in text:
        raise InvalidInput(N_("{field}: NUL characters are not allowed"), field=field)
    if _has_control(text, lines=lines):
        raise InvalidInput(
            N_("{field}: line breaks and other control characters are not allowed"), field=field
        )
    return text


def check_texts(
    texts: dict[str, str],
    languages: list[str],
    field: str,
    limit: int,
    *,
    keep_empty: bool = False,
    lines: bool = False,
) -> dict[str, str]:
    """A ``{language: text}`` map with known languages; empty texts are left out, or kept as
    ``""`` with ``keep_empty`` (a change's way of saying "remove that language")."""
    checked = {}
    for language, text in texts.items():
        if language not in languages:
            raise InvalidInput(
                N_("{field}: {language!r} is not one of the business's languages ({languages})"),
                language=language,
                languages=", ".join(languages),
                field=field,
            )
        value = check_text(text or "", field, limit, lines=lines)
        if value or keep_empty:
            checked[language] = value
    return checked
