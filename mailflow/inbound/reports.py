"""Delivery reports: what a bounce says about the message of ours that failed.

:func:`bounce_info` reads RFC 3464 delivery-status notifications and the
plain-text reports of Exim, qmail, Postfix, sendmail, Gmail and Exchange: who
failed, why, whether for good, and which of our emails it was. The detectors of
``flufl.bounce`` (:mod:`mailflow.inbound.mta_reports`) add the addresses that
the formats of other MTAs name. The rules
(:mod:`mailflow.inbound.rules`) decide *whether* a message is a bounce; this
module reads the details of one that is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message

from mailflow.inbound.mta_reports import mta_failures
from mailflow.inbound.parse import ParsedMessage, decode_bytes, raw_headers

__all__ = [
    "BounceInfo",
    "bounce_info",
    "content_type",
    "local_part",
    "mime_parts",
    "return_path_key",
]

# Bounded repeats keep every search linear in the text, whatever a sender puts there.
_ADDRESS = r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?"
_ADDRESS_RE = re.compile(_ADDRESS)


@dataclass(frozen=True)
class BounceInfo:
    """What a delivery-status notification says about the message that failed.

    ``recipients`` are the addresses that failed (or are delayed); ``status``
    the enhanced status code (``5.1.1``) when one was given; ``permanent`` is
    ``False`` for temporary failures and delay warnings (``4.x.x``, Action
    ``delayed``), else ``True``. ``action`` is the report's Action
    (``failed``: the MTA gave up; ``delayed``: it is still trying), read from
    the wording of plain-text notifications. ``original_*`` come from the
    returned copy of our message, ``return_path_key`` from the ``bounce+<key>@``
    address the notification was sent to. ``source`` says where the details
    were read: ``dsn`` (a ``message/delivery-status`` part), ``dsn-text``
    (report fields written as text), ``text`` (an MTA's prose).
    """

    recipients: list[str]
    status: str | None
    diagnostic: str | None
    original_message_id: str | None
    original_kind: str | None
    original_booking: str | None
    return_path_key: str | None
    permanent: bool = True
    action: str | None = None
    source: str = "dsn"

    @property
    def temporary(self) -> bool:
        return not self.permanent


# --- MIME helpers (the rules use them too) ---------------------------------------


def local_part(address: str | None) -> str:
    """``ann@example.org`` -> ``ann`` (an address without ``@`` is all local part)."""
    return (address or "").rpartition("@")[0] or (address or "")


def content_type(message: Message | None) -> str:
    """The part's content type, ``""`` when there is none or it cannot be read."""
    if message is None:
        return ""
    try:
        return message.get_content_type()
    except Exception:
        return ""


def mime_parts(message: Message | None, *, limit: int = 200) -> list[Message]:
    """Every MIME part of ``message`` (depth first), not descending into attached messages."""
    if message is None:
        return []
    out: list[Message] = []
    stack: list[Message] = [message]
    while stack and len(out) < limit:
        part = stack.pop(0)
        out.append(part)
        try:
            if part.get_content_type() == "message/rfc822":
                continue
            payload = part.get_payload()
        except Exception:  # noqa: S112 - a broken part is skipped, the rest is still read
            continue
        if isinstance(payload, list):
            stack[0:0] = [p for p in payload if isinstance(p, Message)]
    return out


# --- reading a report --------------------------------------------------------------


_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_FAILURE_STATUS = re.compile(r"(?<![\d.])([45])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_SUCCESS_ACTIONS = frozenset({"delivered", "relayed", "expanded", "deliverable"})
_SMTP_CODE = re.compile(r"(?<![\d.])([45])\d\d(?=[ -])")
_DELAY_TEXT = re.compile(
    r"\bdelayed\b|\(Delay\)|THIS IS A WARNING|has not yet been delivered|have not yet been delivered"
    r"|will be retried|still being retried|Delivery attempts will continue|temporary failure",
    re.IGNORECASE,
)
_ORIGINAL_MARKER = re.compile(
    r"^[ \t]*(?:"
    r"-+[ \t]*This is a copy of (?:the|your) message"
    r"|-+[ \t]*Original message[ \t]*-"
    r"|-+[ \t]*Below this line is a copy"
    r"|Original message headers:"
    r"|\|?-+[ \t]*Message text follows"
    r"|-+[ \t]*The (?:header|body) of the original message"
    r"|-+[ \t]*(?:Returned|Undelivered|Unsent) message"
    r"|Content-Type:[ \t]*message/rfc822"
    r")"
    r"|^(?:Received|Return-Path|DKIM-Signature|X-Received|Message-I[Dd]):",
    re.IGNORECASE | re.MULTILINE,
)
_IGNORED_LOCALS = re.compile(r"^(postmaster|mailer-daemon|support|abuse|help|root|double-bounce)$", re.I)
_RECIPIENT_LINES = (
    # Final-Recipient / Original-Recipient fields written inline in the text
    re.compile(rf"^[ \t]*(?:Original|Final)-Recipient:[ \t]*rfc822;[ \t]*<?({_ADDRESS})", re.I | re.M),
    # an address alone at the start of a line: Exim, Gmail, Exchange, Postfix, qmail, sendmail
    re.compile(rf"^[ \t]*<?({_ADDRESS})>?[ \t]*(?:$|:|\(|<mailto:|\.\.\.)", re.I | re.M),
    re.compile(
        rf"(?:wasn't delivered to|not reach the following recipients?:?|Your message to"
        rf"|delivered to the following (?:recipients?|addresses):?|failed to these recipients"
        rf"|RCPT TO:|Failed addresses follow:[^\n]*\n)[ \t]*<?({_ADDRESS})",
        re.I | re.M,
    ),
)
_ANY_BRACKETED = re.compile(rf"<({_ADDRESS})>")
_ORIGINAL_FIELDS = {
    "message_id": re.compile(r"^Message-I[Dd]:\s{0,20}(<[^<>\s]+>)", re.M | re.I),
    "kind": re.compile(r"^X-Mailflow-Kind:\s{0,20}([A-Za-z0-9_.-]+)", re.M | re.I),
    "booking": re.compile(r"^X-Mailflow-Booking:\s{0,20}([A-Za-z0-9_.-]+)", re.M | re.I),
}


def bounce_info(
    parsed: ParsedMessage,
    *,
    inbound_domain: str | None = None,
    envelope_recipients: Iterable[str] = (),
) -> BounceInfo | None:
    """Read a delivery-status notification: who failed, why, and which message of ours it was.

    Understands RFC 3464 reports (``message/delivery-status``) and the
    plain-text forms of Exim, qmail, Postfix, sendmail, Gmail and Exchange.
    ``envelope_recipients`` (RCPT TO of the notification) and the
    To/Delivered-To headers give ``return_path_key`` (``bounce+<key>@``,
    restricted to ``inbound_domain`` when given). Returns ``None`` when the
    message does not look like a delivery report at all. Never raises.
    """
    if parsed.message is None:
        return None
    try:
        return _bounce_info(parsed, inbound_domain, list(envelope_recipients))
    except Exception:
        return None


def _bounce_info(
    parsed: ParsedMessage, inbound_domain: str | None, envelope_recipients: list[str]
) -> BounceInfo | None:
    text = parsed.own_text.replace("\r\n", "\n")  # as received over SMTP: ``$`` must match at line ends
    report, _, _copy = _split_report(text)
    blocks = _dsn_blocks(parsed.message)
    source = "dsn"
    if not blocks:
        # fields of a report written out as text (forwarded, or a multipart without boundary)
        blocks = [b for b in _field_blocks(text) if "final-recipient" in b or "original-recipient" in b]
        source = "dsn-text" if blocks else "text"
    original = _original_text(parsed.message, text)
    key = return_path_key(parsed, inbound_domain, envelope_recipients) or _key_in(original, inbound_domain)

    recipients: list[str] = []
    statuses: list[str] = []
    diagnostics: list[str] = []
    actions: list[str] = []
    for block in blocks:
        action = block.get("action", "").strip().lower()
        if action in _SUCCESS_ACTIONS or block.get("status", "").strip().startswith("2"):
            actions.append(action or "delivered")
            continue
        address = _dsn_address(block.get("original-recipient", "")) or _dsn_address(
            block.get("final-recipient", "")
        )
        if address and address not in recipients:
            recipients.append(address)
        status = _STATUS.search(block.get("status", ""))
        if status:
            statuses.append(status.group(0))
        if block.get("diagnostic-code"):
            diagnostics.append(_diagnostic(block["diagnostic-code"]))
        if action:
            actions.append(action)

    if not recipients:
        recipients = [a.lower() for a in _header_addresses(parsed, "x-failed-recipients")]
    if not recipients and not blocks:
        recipients = _text_recipients(report, parsed)
    if not statuses and not blocks:
        status = _FAILURE_STATUS.search(report)
        if status:
            statuses.append(status.group(0))
    if not diagnostics:
        diagnostic = _text_diagnostic(report)
        if diagnostic:
            diagnostics.append(diagnostic)

    mta = mta_failures(parsed.message)  # flufl.bounce: the formats of many more MTAs
    recipients.extend(a for a in mta.addresses if a not in recipients)
    status_code = statuses[0] if statuses else None
    failures = [a for a in actions if a not in _SUCCESS_ACTIONS]
    action_word = failures[0] if failures else (actions[0] if actions else None)
    permanent = _is_permanent(status_code, actions, diagnostics, parsed.subject, report)
    if status_code is None and not blocks and mta.temporary and not mta.permanent:
        permanent = False  # a warning the detectors recognise (only ever softens the verdict)
    if action_word is None and source == "text":
        action_word = "failed" if permanent else "delayed"
    original_id = _first(_ORIGINAL_FIELDS["message_id"], original)
    if original_id is None and (parsed.in_reply_to or parsed.references):
        original_id = parsed.in_reply_to or parsed.references[-1]
    return BounceInfo(
        recipients=recipients,
        status=status_code,
        diagnostic=diagnostics[0] if diagnostics else None,
        original_message_id=original_id,
        original_kind=_first(_ORIGINAL_FIELDS["kind"], original),
        original_booking=_first(_ORIGINAL_FIELDS["booking"], original),
        return_path_key=key,
        permanent=permanent,
        action=action_word,
        source=source,
    )


def _split_report(text: str) -> tuple[str, str, str]:
    """(the notification's own words, the marker, the returned copy of the original)."""
    match = _ORIGINAL_MARKER.search(text)
    if not match:
        return text, "", ""
    return text[: match.start()], match.group(0), text[match.start() :]


def _dsn_blocks(message: Message | None) -> list[dict[str, str]]:
    """The per-recipient field blocks of every ``message/delivery-status`` part."""
    blocks: list[dict[str, str]] = []
    for part in mime_parts(message):
        if content_type(part) not in {"message/delivery-status", "message/global-delivery-status"}:
            continue
        try:
            payload = part.get_payload()
        except Exception:  # noqa: S112 - a broken part is skipped, the rest is still read
            continue
        if isinstance(payload, list):
            for block in payload:
                if isinstance(block, Message):
                    fields = {name: values[0] for name, values in raw_headers(block).items() if values}
                    blocks.append(fields)
        else:
            data = part.get_payload(decode=True)
            text = decode_bytes(data, "utf-8") if isinstance(data, bytes) else str(payload)
            blocks.extend(_field_blocks(text))
    return [b for b in blocks if "final-recipient" in b or "original-recipient" in b]


_FIELD_LINE = re.compile(r"^([A-Za-z][A-Za-z0-9-]*):\s?(.*)$")


def _field_blocks(text: str) -> list[dict[str, str]]:
    """``Name: value`` blocks separated by blank lines (continuation lines folded in)."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last: str | None = None
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
            current, last = {}, None
            continue
        if line[:1] in " \t" and last is not None:
            current[last] += " " + line.strip()
            continue
        match = _FIELD_LINE.match(line)
        if match:
            last = match.group(1).lower()
            current.setdefault(last, match.group(2).strip())
        else:
            last = None
    if current:
        blocks.append(current)
    return blocks


def _dsn_address(value: str) -> str | None:
    """``rfc822; <Ann@Example.org>`` -> ``ann@example.org``."""
    match = _ADDRESS_RE.search(value.partition(";")[2] or value)
    return match.group(0).lower().rstrip(".") if match else None


def _diagnostic(value: str) -> str:
    kind, sep, rest = value.partition(";")
    text = rest if sep and len(kind) < 20 else value
    return " ".join(text.split())[:500]


def _text_diagnostic(report: str) -> str | None:
    for line in report.splitlines():
        stripped = line.strip()
        if _FAILURE_STATUS.search(stripped) or _SMTP_CODE.match(stripped) or "SMTP error" in stripped:
            return " ".join(stripped.split())[:500]
    return None


def _text_recipients(report: str, parsed: ParsedMessage) -> list[str]:
    excluded = {a for a in (parsed.from_address, parsed.return_path) if a}
    excluded.update(parsed.to_addresses)
    excluded.update(parsed.delivered_to)

    def keep(address: str) -> bool:
        address = address.lower()
        return address not in excluded and not _IGNORED_LOCALS.match(local_part(address))

    for pattern in (*_RECIPIENT_LINES, _ANY_BRACKETED):
        found: list[str] = []
        for match in pattern.finditer(report):
            address = match.group(1).lower().rstrip(".")
            if keep(address) and address not in found:
                found.append(address)
        if found:
            return found
    return []


def _is_permanent(
    status: str | None, actions: list[str], diagnostics: list[str], subject: str, report: str
) -> bool:
    if status is not None:
        return status.startswith("5")
    if "failed" in actions:
        return True
    if actions and all(a == "delayed" or a in _SUCCESS_ACTIONS for a in actions):
        return False
    for diagnostic in diagnostics:
        code = _SMTP_CODE.search(diagnostic)
        if code:
            return code.group(1) == "5"
    return not (_DELAY_TEXT.search(subject) or _DELAY_TEXT.search(report))


def _original_text(message: Message | None, text: str) -> str:
    """The returned copy of our message: attached headers, or the text after the marker."""
    chunks: list[str] = []
    for part in mime_parts(message):
        part_type = content_type(part)
        if part_type in {"message/rfc822", "message/global"}:
            try:
                payload = part.get_payload()
            except Exception:  # noqa: S112 - a broken part is skipped, the rest is still read
                continue
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                headers = raw_headers(payload[0])
                chunks.extend(f"{name}: {value}" for name, values in headers.items() for value in values)
        elif part_type in {"text/rfc822-headers", "message/rfc822-headers"}:
            try:
                data = part.get_payload(decode=True)
            except Exception:  # noqa: S112 - a broken part is skipped, the rest is still read
                continue
            if isinstance(data, bytes):
                chunks.append(decode_bytes(data, "utf-8"))
    chunks.append(_split_report(text)[2])
    return "\n".join(chunks)


def _first(pattern: re.Pattern[str], text: str) -> str | None:
    match = pattern.search(text)
    return match.group(1) if match else None


def _header_addresses(parsed: ParsedMessage, name: str) -> list[str]:
    return [m.group(0) for value in parsed.headers.get(name, []) for m in _ADDRESS_RE.finditer(value)]


def _bounce_key_pattern(inbound_domain: str | None) -> re.Pattern[str]:
    domain = re.escape(inbound_domain) if inbound_domain else r"[A-Za-z0-9.-]+"
    return re.compile(rf"\bbounce\+([A-Za-z0-9._=-]+)@{domain}\b", re.IGNORECASE)


def return_path_key(
    parsed: ParsedMessage, inbound_domain: str | None, envelope_recipients: Iterable[str] = ()
) -> str | None:
    """The key of the ``bounce+<key>@`` address this message was sent to, lower case."""
    pattern = _bounce_key_pattern(inbound_domain)
    for address in [*envelope_recipients, *parsed.delivered_to, *parsed.to_addresses, *parsed.cc_addresses]:
        match = pattern.fullmatch(address.strip().strip("<>"))
        if match:
            return match.group(1).lower()
    return None


def _key_in(text: str, inbound_domain: str | None) -> str | None:
    match = _bounce_key_pattern(inbound_domain).search(text)
    return match.group(1).lower() if match else None
