"""What an inbound message is: small named rules, each recorded with its verdict.

Each rule is a :class:`Rule` whose ``check(parsed, ctx)`` returns a
:class:`Verdict` when it matches and ``None`` otherwise, in the manner of GNU
Mailman's rules: the pipeline stores every verdict on the InboundMessage row,
so the row says *why* a message was not acted on. :func:`classify` runs the
groups in the pipeline's order — loop, auto-reply, bounce, feedback — and
decides the message's ``kind``. When several groups match, the more specific
nature wins: a bounce also has an empty return path and a mailer-daemon
sender, so ``bounce`` beats ``auto_reply``; an abuse report beats both; a
message we sent ourselves is a ``loop`` whatever else it looks like.

Every verdict blocks an answer and an action: only a message of kind
``reply`` (a person wrote it) may ever trigger one.

>>> from mailflow.inbound.parse import parse_message
>>> raw = b"From: a@example.org\\r\\nAuto-Submitted: auto-replied\\r\\nSubject: Away\\r\\n\\r\\nBack Monday"
>>> result = classify(parse_message(raw), RuleContext())
>>> result.kind, [v.rule for v in result.verdicts]
('auto_reply', ['auto_submitted'])
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import Message
from typing import Literal

from mailflow.inbound.parse import (
    ParsedMessage,
    decode_bytes,
    raw_headers,
)

__all__ = [
    "BOUNCE",
    "DISCARD",
    "FEEDBACK",
    "HELD",
    "RULES",
    "BounceInfo",
    "Classification",
    "Kind",
    "Rule",
    "RuleContext",
    "Verdict",
    "bounce_info",
    "classify",
]

Kind = Literal["reply", "auto_reply", "bounce", "feedback_report", "loop", "unknown"]

DISCARD = "discard"  # machine mail: recorded, never answered, never acted on
HELD = "held"  # list mail: kept for staff to look at, never answered
BOUNCE = "bounce"  # a delivery failure: handed to bounce processing
FEEDBACK = "feedback"  # an abuse/complaint report: kept for staff

# Bounded repeats keep every search linear in the text, whatever a sender puts there.
_ADDRESS = r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?"
_ADDRESS_RE = re.compile(_ADDRESS)


@dataclass(frozen=True)
class Verdict:
    """One rule's judgement of one message, stored on its row: ``rule``, ``verdict``, ``detail``."""

    rule: str
    verdict: str
    detail: str


@dataclass(frozen=True)
class RuleContext:
    """What the rules must know about us: our sender addresses and the inbound domain."""

    our_addresses: frozenset[str] = frozenset()
    inbound_domain: str = ""

    def is_ours(self, address: str | None) -> bool:
        """Whether ``address`` is one we send from, or a ``reply+``/``bounce+`` address of ours."""
        if not address:
            return False
        address = address.lower()
        if address in {a.lower() for a in self.our_addresses}:
            return True
        domain = self.inbound_domain.lower()
        if not domain:
            return False
        local, _, host = address.rpartition("@")
        return host == domain and local.startswith(("reply+", "bounce+"))


@dataclass(frozen=True)
class Rule:
    """A named test; ``check`` turns its detail into a :class:`Verdict` when it matches."""

    name: str
    kind: Kind
    verdict: str
    test: Callable[[ParsedMessage, RuleContext], str | None]
    description: str = ""

    def check(self, parsed: ParsedMessage, ctx: RuleContext) -> Verdict | None:
        """The rule's verdict on ``parsed``, or ``None`` when it does not apply."""
        detail = self.test(parsed, ctx)
        if detail is None:
            return None
        return Verdict(self.name, self.verdict, detail)


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


@dataclass(frozen=True)
class Classification:
    """The message's ``kind``, every verdict that led there, and the bounce details if any."""

    kind: Kind
    verdicts: list[Verdict] = field(default_factory=list)
    bounce: BounceInfo | None = None

    @property
    def may_act(self) -> bool:
        """Only a message a person wrote may trigger an action or an answer."""
        return self.kind == "reply"


# --- helpers ---------------------------------------------------------------------


def _values(parsed: ParsedMessage, name: str) -> list[str]:
    return parsed.headers.get(name, [])


def _local_part(address: str | None) -> str:
    return (address or "").rpartition("@")[0] or (address or "")


def _content_type(message: Message | None) -> str:
    if message is None:
        return ""
    try:
        return message.get_content_type()
    except Exception:
        return ""


def _report_type(message: Message | None) -> str:
    if message is None:
        return ""
    try:
        value = message.get_param("report-type")
    except Exception:
        return ""
    if isinstance(value, tuple):
        value = value[2]
    return value.strip().lower() if isinstance(value, str) else ""


def _parts(message: Message | None, *, limit: int = 200) -> list[Message]:
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


def _unquoted(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(">"))


def _machine_sender(parsed: ParsedMessage) -> bool:
    return (
        parsed.return_path == ""
        or _MACHINE_LOCAL.match(_local_part(parsed.return_path)) is not None
        or _MACHINE_LOCAL.match(_local_part(parsed.from_address)) is not None
        or _auto_submitted(parsed, RuleContext()) is not None
    )


# --- loop ------------------------------------------------------------------------


def _loop_from_us(parsed: ParsedMessage, ctx: RuleContext) -> str | None:
    if ctx.is_ours(parsed.from_address):
        return f"From {parsed.from_address} is one of our own addresses"
    return None


def _loop_our_headers(parsed: ParsedMessage, ctx: RuleContext) -> str | None:
    for name in ("x-mailflow-kind", "x-mailflow-booking"):
        values = _values(parsed, name)
        if values:
            return f"carries our own header {name}: {values[0][:80]}"
    return None


# --- auto-reply --------------------------------------------------------------------


def _auto_submitted(parsed: ParsedMessage, ctx: RuleContext) -> str | None:
    for value in _values(parsed, "auto-submitted"):
        keyword = value.split(";")[0].strip().lower()
        if keyword and keyword != "no":
            return f"Auto-Submitted: {value[:80]}"
    return None


_AUTOREPLY_HEADERS = ("x-autoreply", "x-autorespond", "x-auto-reply", "x-autoresponder", "x-autogenerated")


def _autoreply_header(parsed: ParsedMessage, ctx: RuleContext) -> str | None:
    for name in _AUTOREPLY_HEADERS:
        values = _values(parsed, name)
        if values and values[0].strip().lower() not in {"no", "false", "0"}:
            return f"{name}: {values[0][:80]}"
    return None


def _precedence(parsed: ParsedMessage, ctx: RuleContext) -> str | None:
    for name in ("precedence", "x-precedence"):
        for value in _values(parsed, name):
            keyword = value.strip().lower()
            if keyword in {"bulk", "junk", "auto_reply", "auto-reply"}:
                return f"{name}: {keyword}"
    return None


def _list_mail(parsed: ParsedMessage, ctx: RuleContext) -> str | None:
    for name in ("list-id", "list-unsubscribe", "list-post"):
        values = _values(parsed, name)
        if values:
            return f"list mail ({name}: {values[0][:80]})"
    for name in ("precedence", "x-precedence"):
        if any(v.strip().lower() == "list" for v in _values(parsed, name)):
            return f"list mail ({name}: list)"
    return None


def _exchange_generated(parsed: ParsedMessage, ctx: RuleContext) -> str | None:
    for name in ("x-ms-exchange-inbox-rules-loop", "x-ms-exchange-generated-message-source"):
        values = _values(parsed, name)
        if values:
            return f"{name}: {values[0][:80]}"
    return None


def _apple_vacation(parsed: ParsedMessage, ctx: RuleContext) -> str | None:
    if any(v.strip().lower() == "vacation" for v in _values(parsed, "x-apple-action")):
        return "X-Apple-Action: VACATION"
    return None


def _null_return_path(parsed: ParsedMessage, ctx: RuleContext) -> str | None:
    if parsed.return_path == "":
        return "empty return path <>"
    return None


_MACHINE_LOCAL = re.compile(
    r"^(mailer-daemon|postmaster|no[-_.]?reply|do[-_.]?not[-_.]?reply|double-bounce)([+-].*)?$",
    re.IGNORECASE,
)


def _machine_address(parsed: ParsedMessage, ctx: RuleContext) -> str | None:
    for label, address in (("From", parsed.from_address), ("Return-Path", parsed.return_path)):
        if address and _MACHINE_LOCAL.match(_local_part(address)):
            return f"{label} {address} is a machine address"
    return None


_AUTO_SUBJECT = re.compile(
    r"^\s*(?:\[[^\]]*\]\s*)?(?:"
    r"automatic reply|auto(?:matic)?[- ]?repl(?:y|ied)|auto[- ]?response|autosvar"
    r"|out of (?:the )?office|abwesenheitsnotiz|automatische antwort"
    r"|r[ée]ponse automatique|respuesta autom[áa]tica|risposta automatica|automatisch antwoord"
    r"|away from (?:the |my )?(?:office|desk)"
    # words a person might also start a subject with count only as a label
    r"|(?:absence|vacation|abwesend|urlaub)"
    r"(?:[ \t]*(?::|$)|[ \t]+(?:reply|response|notice|message|notification))"
    r")",
    re.IGNORECASE,
)


def _auto_reply_subject(parsed: ParsedMessage, ctx: RuleContext) -> str | None:
    if _AUTO_SUBJECT.match(parsed.subject):
        return f"subject {parsed.subject[:80]!r} reads as an automatic reply"
    return None


def _return_path_recipient(parsed: ParsedMessage, ctx: RuleContext) -> str | None:
    """Only MTAs and auto-responders write to our envelope sender; people write to Reply-To."""
    if not ctx.inbound_domain:
        return None
    key = _return_path_key(parsed, ctx.inbound_domain)
    if key is not None:
        return f"sent to our return path bounce+{key}@"
    return None


# --- bounce ------------------------------------------------------------------------


def _delivery_status_report(parsed: ParsedMessage, ctx: RuleContext) -> str | None:
    message = parsed.message
    if _content_type(message) == "multipart/report" and _report_type(message) == "delivery-status":
        return "multipart/report; report-type=delivery-status"
    for part in _parts(message)[1:]:
        if _content_type(part) in {"message/delivery-status", "message/global-delivery-status"}:
            return f"contains a {_content_type(part)} part"
    return None


_BOUNCE_BODY = re.compile(
    r"This message was created automatically by mail delivery software"
    r"|This is the qmail-send program"
    r"|This is the (?:mail system|Postfix program) at host"
    r"|I'm sorry to have to inform you that (?:your message|the message returned)"
    r"|Delivery to the following recipients? (?:failed permanently|has been delayed|failed)"
    r"|Your message wasn't delivered to"
    r"|\*\* (?:Address not found|Message not delivered|Message blocked) \*\*"
    r"|Delivery has failed to these recipients or groups"
    r"|Your message to \S+ couldn't be delivered"
    r"|rejected your message to the following e-?mail addresses"
    r"|Did not reach the following recipients?"
    r"|The following addresses had (?:permanent fatal errors|delivery problems)"
    r"|Transcript of session follows"
    r"|Failed addresses follow"
    r"|A message that you sent (?:could not be delivered|has not yet been delivered"
    r"|contained one or more recipient addresses that were\s+incorrectly constructed)"
    r"|could not be delivered to one or more (?:of its )?(?:recipients|destinations)",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver(?:ed|able)|delivery (?:status notification|failure|has failed|notification)"
    r"|mail delivery (?:failed|failure|system)|returned mail|returning message|returned to sender"
    r"|failure notice|delayed mail|warning: message .* delayed|mail failure|non-?deliver"
    r"|mail system error|delivery report|delivery status",
    re.IGNORECASE,
)


def _bounce_text(parsed: ParsedMessage, ctx: RuleContext) -> str | None:
    match = _BOUNCE_BODY.search(_unquoted(parsed.own_text))
    if match:
        return f"delivery-failure text: {match.group(0)[:80]!r}"
    return None


def _bounce_subject(parsed: ParsedMessage, ctx: RuleContext) -> str | None:
    if _BOUNCE_SUBJECT.search(parsed.subject) and _machine_sender(parsed):
        return f"delivery-failure subject {parsed.subject[:80]!r} from a machine sender"
    return None


def _failed_recipients_header(parsed: ParsedMessage, ctx: RuleContext) -> str | None:
    values = _values(parsed, "x-failed-recipients")
    if values:
        return f"X-Failed-Recipients: {values[0][:80]}"
    return None


# --- feedback ------------------------------------------------------------------------


def _feedback_report(parsed: ParsedMessage, ctx: RuleContext) -> str | None:
    message = parsed.message
    if _content_type(message) == "multipart/report" and _report_type(message) == "feedback-report":
        return "multipart/report; report-type=feedback-report"
    for part in _parts(message)[1:]:
        if _content_type(part) == "message/feedback-report":
            return "contains a message/feedback-report part"
    return None


RULES: tuple[Rule, ...] = (
    Rule("loop_from_us", "loop", DISCARD, _loop_from_us, "From is one of our own addresses"),
    Rule("loop_our_headers", "loop", DISCARD, _loop_our_headers, "carries X-Mailflow-Kind/-Booking"),
    Rule("auto_submitted", "auto_reply", DISCARD, _auto_submitted, "Auto-Submitted other than no"),
    Rule("autoreply_header", "auto_reply", DISCARD, _autoreply_header, "X-Autoreply and friends"),
    Rule("precedence", "auto_reply", DISCARD, _precedence, "Precedence bulk, junk or auto_reply"),
    Rule("exchange_generated", "auto_reply", DISCARD, _exchange_generated, "Exchange inbox rules"),
    Rule("apple_vacation", "auto_reply", DISCARD, _apple_vacation, "Apple Mail vacation notice"),
    Rule("null_return_path", "auto_reply", DISCARD, _null_return_path, "Return-Path <>"),
    Rule("machine_address", "auto_reply", DISCARD, _machine_address, "mailer-daemon, noreply, …"),
    Rule("auto_reply_subject", "auto_reply", DISCARD, _auto_reply_subject, "Out of Office, …"),
    Rule("return_path_recipient", "auto_reply", DISCARD, _return_path_recipient, "sent to bounce+…@"),
    Rule("list_mail", "auto_reply", HELD, _list_mail, "mailing-list mail"),
    Rule("delivery_status_report", "bounce", BOUNCE, _delivery_status_report, "RFC 3464 DSN"),
    Rule("failed_recipients_header", "bounce", BOUNCE, _failed_recipients_header, "X-Failed-Recipients"),
    Rule("bounce_text", "bounce", BOUNCE, _bounce_text, "Exim, qmail, Postfix, Gmail, Exchange text"),
    Rule("bounce_subject", "bounce", BOUNCE, _bounce_subject, "failure subject from a machine"),
    Rule("feedback_report", "feedback_report", FEEDBACK, _feedback_report, "RFC 5965 ARF report"),
)

# Which nature wins when rules of several groups matched (see the module docstring).
_PRECEDENCE: tuple[Kind, ...] = ("loop", "feedback_report", "bounce", "auto_reply")


def classify(parsed: ParsedMessage, ctx: RuleContext) -> Classification:
    """Run every rule on ``parsed`` and decide its kind; never raises.

    A rule that crashes is recorded as an ``error`` verdict and counts as a
    match of its group: a message we cannot judge must not trigger an answer.
    A message no rule matched is a ``reply`` when it has a sender, else
    ``unknown``.
    """
    verdicts: list[Verdict] = []
    matched: set[Kind] = set()
    for rule in RULES:
        try:
            verdict = rule.check(parsed, ctx)
        except Exception as exc:
            verdict = Verdict(rule.name, "error", f"{type(exc).__name__}: {exc}"[:200])
        if verdict is not None:
            verdicts.append(verdict)
            matched.add(rule.kind)
    kind: Kind = next((k for k in _PRECEDENCE if k in matched), "unknown")
    if kind == "unknown" and parsed.message is not None and parsed.from_address:
        kind = "reply"
    info: BounceInfo | None = None
    if kind == "bounce":
        try:
            info = bounce_info(parsed, inbound_domain=ctx.inbound_domain or None)
        except Exception as exc:
            verdicts.append(Verdict("bounce_info", "error", f"{type(exc).__name__}: {exc}"[:200]))
    return Classification(kind, verdicts, info)


# --- bounce details ----------------------------------------------------------------


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
    text = parsed.own_text
    report, _, _copy = _split_report(text)
    blocks = _dsn_blocks(parsed.message)
    source = "dsn"
    if not blocks:
        # fields of a report written out as text (forwarded, or a multipart without boundary)
        blocks = [b for b in _field_blocks(text) if "final-recipient" in b or "original-recipient" in b]
        source = "dsn-text" if blocks else "text"
    original = _original_text(parsed.message, text)
    key = _return_path_key(parsed, inbound_domain, envelope_recipients) or _key_in(original, inbound_domain)

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

    status_code = statuses[0] if statuses else None
    failures = [a for a in actions if a not in _SUCCESS_ACTIONS]
    action_word = failures[0] if failures else (actions[0] if actions else None)
    permanent = _is_permanent(status_code, actions, diagnostics, parsed.subject, report)
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
    for part in _parts(message):
        if _content_type(part) not in {"message/delivery-status", "message/global-delivery-status"}:
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
        return address not in excluded and not _IGNORED_LOCALS.match(_local_part(address))

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
    for part in _parts(message):
        content_type = _content_type(part)
        if content_type in {"message/rfc822", "message/global"}:
            try:
                payload = part.get_payload()
            except Exception:  # noqa: S112 - a broken part is skipped, the rest is still read
                continue
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                headers = raw_headers(payload[0])
                chunks.extend(f"{name}: {value}" for name, values in headers.items() for value in values)
        elif content_type in {"text/rfc822-headers", "message/rfc822-headers"}:
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


def _return_path_key(
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
