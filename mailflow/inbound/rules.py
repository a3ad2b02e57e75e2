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
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import Literal

from mailflow.inbound.machine_mail import abuse_report_text, list_manager, machine_from
from mailflow.inbound.mta_reports import mta_failures
from mailflow.inbound.parse import ParsedMessage
from mailflow.inbound.reports import (
    BounceInfo,
    bounce_info,
    content_type,
    local_part,
    mime_parts,
    return_path_key,
)

__all__ = [
    "BOUNCE",
    "DISCARD",
    "FEEDBACK",
    "HELD",
    "RULES",
    "Classification",
    "Kind",
    "Rule",
    "RuleContext",
    "Verdict",
    "classify",
]

Kind = Literal["reply", "auto_reply", "bounce", "feedback_report", "loop", "unknown"]

DISCARD = "discard"  # machine mail: recorded, never answered, never acted on
HELD = "held"  # list mail: kept for staff to look at, never answered
BOUNCE = "bounce"  # a delivery failure: handed to bounce processing
FEEDBACK = "feedback"  # an abuse/complaint report: kept for staff


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


def _unquoted(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(">"))


def _machine_sender(parsed: ParsedMessage) -> bool:
    return (
        parsed.return_path == ""
        or _MACHINE_LOCAL.match(local_part(parsed.return_path)) is not None
        or _MACHINE_LOCAL.match(local_part(parsed.from_address)) is not None
        or _auto_submitted(parsed, RuleContext()) is not None
        or machine_from(parsed) is not None
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
    r"^(mailer-daemon|postmaster|mdaemon|no[-_.]?reply|do[-_.]?not[-_.]?reply|double-bounce)([+-].*)?$",
    re.IGNORECASE,
)


def _machine_address(parsed: ParsedMessage, ctx: RuleContext) -> str | None:
    for label, address in (("From", parsed.from_address), ("Return-Path", parsed.return_path)):
        if address and _MACHINE_LOCAL.match(local_part(address)):
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
    key = return_path_key(parsed, ctx.inbound_domain)
    if key is not None:
        return f"sent to our return path bounce+{key}@"
    return None


# --- bounce ------------------------------------------------------------------------


def _delivery_status_report(parsed: ParsedMessage, ctx: RuleContext) -> str | None:
    message = parsed.message
    if content_type(message) == "multipart/report" and _report_type(message) == "delivery-status":
        return "multipart/report; report-type=delivery-status"
    for part in mime_parts(message)[1:]:
        if content_type(part) in {"message/delivery-status", "message/global-delivery-status"}:
            return f"contains a {content_type(part)} part"
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
    r"|mail system error|delivery report|delivery status|delivery failed|delivery warning"
    r"|user unknown|no such user",
    re.IGNORECASE,
)


# Every phrase of _BOUNCE_BODY holds one of these words: a text holding none (most replies) is
# passed over without the case-blind search, which costs about 0.3 ms on a reply's few KiB.
# ``casefold`` folds at least what the pattern's IGNORECASE does, so nothing it finds is skipped.
_BOUNCE_BODY_WORDS = (
    "deliver", "qmail", "this is the", "sorry", "**", "rejected", "recipient",
    "following addresses", "transcript", "failed", "message that you sent",
)  # fmt: skip


def _bounce_text(parsed: ParsedMessage, ctx: RuleContext) -> str | None:
    text = _unquoted(parsed.own_text)
    folded = text.casefold()
    if not any(word in folded for word in _BOUNCE_BODY_WORDS):
        return None
    match = _BOUNCE_BODY.search(text)
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


def _mta_report(parsed: ParsedMessage, ctx: RuleContext) -> str | None:
    """Failed recipients in an MTA's own format (flufl.bounce), from a machine or under a failure subject.

    The detectors alone also fire on a few people's replies, hence the second sign.
    """
    if not (_machine_sender(parsed) or _BOUNCE_SUBJECT.search(parsed.subject)):
        return None
    found = mta_failures(parsed.message)
    if not found:
        return None
    return f"delivery report naming {', '.join(found.addresses)[:80]}"


# --- feedback ------------------------------------------------------------------------


def _feedback_report(parsed: ParsedMessage, ctx: RuleContext) -> str | None:
    message = parsed.message
    if content_type(message) == "multipart/report" and _report_type(message) == "feedback-report":
        return "multipart/report; report-type=feedback-report"
    for part in mime_parts(message)[1:]:
        if content_type(part) == "message/feedback-report":
            return "contains a message/feedback-report part"
    return None


def _machine_from(parsed: ParsedMessage, ctx: RuleContext) -> str | None:
    return machine_from(parsed)


def _list_manager(parsed: ParsedMessage, ctx: RuleContext) -> str | None:
    return list_manager(parsed)


def _feedback_text(parsed: ParsedMessage, ctx: RuleContext) -> str | None:
    return abuse_report_text(parsed, machine_sender=_machine_sender(parsed))


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
    Rule(
        "machine_from", "auto_reply", DISCARD, _machine_from, "From: MAILER-DAEMON <>, Mail Delivery System"
    ),
    Rule("list_manager", "auto_reply", DISCARD, _list_manager, "Mailman, Majordomo, LISTSERV errors"),
    Rule("auto_reply_subject", "auto_reply", DISCARD, _auto_reply_subject, "Out of Office, …"),
    Rule("return_path_recipient", "auto_reply", DISCARD, _return_path_recipient, "sent to bounce+…@"),
    Rule("list_mail", "auto_reply", HELD, _list_mail, "mailing-list mail"),
    Rule("delivery_status_report", "bounce", BOUNCE, _delivery_status_report, "RFC 3464 DSN"),
    Rule("failed_recipients_header", "bounce", BOUNCE, _failed_recipients_header, "X-Failed-Recipients"),
    Rule("bounce_text", "bounce", BOUNCE, _bounce_text, "Exim, qmail, Postfix, Gmail, Exchange text"),
    Rule("bounce_subject", "bounce", BOUNCE, _bounce_subject, "failure subject from a machine"),
    Rule("mta_report", "bounce", BOUNCE, _mta_report, "failed recipients in an MTA's format"),
    Rule("feedback_report", "feedback_report", FEEDBACK, _feedback_report, "RFC 5965 ARF report"),
    Rule("feedback_text", "feedback_report", FEEDBACK, _feedback_text, "abuse report without its part"),
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
