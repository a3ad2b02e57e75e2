"""Machine mail that still looks human: mail systems without an address, list managers, abuse desks.

Small MTAs send plain-text bounces ``From: MAILER-DAEMON <>``; mailing-list
managers (Mailman, Majordomo, LISTSERV, Sympa) answer with errors that often
quote the word a customer would write ("cancel"); abuse desks forward complaints
without the ``message/feedback-report`` part. Each function here is the test of
one rule of :mod:`mailflow.inbound.rules` (``machine_from``, ``list_manager``,
``feedback_text``): the reason it matched, or ``None``.
"""

from __future__ import annotations

import re

from mailflow.inbound.parse import ParsedMessage
from mailflow.inbound.reports import local_part

__all__ = ["abuse_report_text", "list_manager", "machine_from"]

_MACHINE_NAME = re.compile(
    r"^\s*\"?\s*(?:mailer[- ]daemon|postmaster|mail delivery (?:system|subsystem|service)"
    r"|mail administrator|system administrator|mail system|e?mail gateway)\b",
    re.IGNORECASE,
)


def machine_from(parsed: ParsedMessage) -> str | None:
    """``From: MAILER-DAEMON <>``: a mail system's name, or a From header without an address."""
    values = parsed.headers.get("from", [])
    if not values:
        return None
    if not parsed.from_address:
        return f"From {values[0][:80]!r} has no address"
    if parsed.from_name and _MACHINE_NAME.match(parsed.from_name):
        return f"From is named {parsed.from_name[:80]!r}"
    return None


# Mailing-list managers answer commands and postings with errors, notices and receipts.
_LIST_MANAGER_LOCAL = re.compile(
    r"^(?:.+-(?:request|bounces?)|majordomo|listserv|listproc|mailman|sympa|ecartis"
    r"|lyris|smartlist|mj2|minimalist)(?:\+.*)?$",
    re.IGNORECASE,
)
_LIST_MANAGER_SUBJECT = re.compile(
    r"the results of your (?:e-?mail )?commands?|majordomo results|listserv (?:command|output)"
    r"|your message to \S+ awaits moderator approval|your (?:message|post(?:ing)?) to \S+ "
    r"(?:was|has been) (?:rejected|held|discarded|denied)"
    r"|(?:request|command) (?:was )?(?:not understood|rejected)"
    r"|error in (?:your )?(?:mail(?:ing)? list )?(?:command|request)|unknown (?:list )?command",
    re.IGNORECASE,
)
_LIST_MANAGER_HEADERS = (
    "x-list-administrivia",
    "x-listserver",
    "x-listprocessor-version",
    "x-ecartis-version",
)


def list_manager(parsed: ParsedMessage) -> str | None:
    """Errors and notices of Mailman, Majordomo, LISTSERV, Sympa and friends."""
    for name in _LIST_MANAGER_HEADERS:
        values = parsed.headers.get(name, [])
        if values:
            return f"{name}: {values[0][:80]}"
    for label, address in (("From", parsed.from_address), ("Return-Path", parsed.return_path)):
        if address and _LIST_MANAGER_LOCAL.match(local_part(address)):
            return f"{label} {address} is a mailing-list manager"
    if _LIST_MANAGER_SUBJECT.search(parsed.subject):
        return f"subject {parsed.subject[:80]!r} is a mailing-list manager's"
    return None


_ARF_FIELD = re.compile(
    r"^Feedback-Type:[ \t]*(?:abuse|fraud|virus|other|not-spam|auth-failure)\b", re.I | re.M
)
_ABUSE_TEXT = re.compile(
    r"this is an? (?:e-?mail |spam |abuse |complaint )*(?:abuse|spam|complaint|feedback) report"
    r"|(?:was|been) (?:reported|marked) as (?:spam|junk|abuse)|feedback[- ]loop",
    re.IGNORECASE,
)
_ABUSE_SUBJECT = re.compile(
    r"\b(?:abuse|spam|complaint|feedback|fbl)[ -]?(?:report|notification|notice|complaint)"
    r"|complaint about (?:a )?message|feedback[- ]loop|\bscomp\b",
    re.IGNORECASE,
)
_ABUSE_LOCAL = re.compile(
    r"^(?:abuse|fbl|feedback-?loop|scomp|complaints?|spam-?reports?|arf)(?:[+-].*)?$", re.IGNORECASE
)


def abuse_report_text(parsed: ParsedMessage, *, machine_sender: bool) -> str | None:
    """An abuse report whose ``message/feedback-report`` part is missing: its fields or words as text.

    The report's fields anywhere outside a quote count alone; its words only in a message from
    an abuse desk's address or (``machine_sender``) from a machine.
    """
    text = "\n".join(line for line in parsed.own_text.splitlines() if not line.lstrip().startswith(">"))
    field = _ARF_FIELD.search(text)
    if field:
        return f"feedback report fields written as text: {field.group(0)[:80]!r}"
    from_abuse = _ABUSE_LOCAL.match(local_part(parsed.from_address)) is not None
    if not (from_abuse or machine_sender):
        return None
    match = _ABUSE_SUBJECT.search(parsed.subject) or _ABUSE_TEXT.search(text)
    if match:
        return f"abuse report from {parsed.from_address or 'a machine'}: {match.group(0)[:80]!r}"
    return None
