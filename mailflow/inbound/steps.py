"""The inbound pipeline's steps: small named functions run in order by :func:`run_steps`.

``STEPS`` is the pipeline, in the manner of GNU Mailman's pipelines: a plain
tuple of functions, each taking the message's :class:`Inbound` state and
recording its verdicts on the row (``Outcome.add``, the format the admin pages,
``mailflow inbound list`` and the API read). A step returns what happens next:

- ``GO``: the next step;
- ``STOP``: the message is done;
- a :class:`Forward`: the message goes to staff — the runner skips to the last
  step, ``answer_or_forward``.

The runner decides from these returned values alone, never from the verdicts
written so far. ``Outcome.steps`` lists the steps that ran (not stored).

The pure work (parsing, the classification rules, stripping quotes and
signature, reading the command) is done by ``process.prepare`` before the write
transaction; ``classify``, ``strip`` and ``command`` record and decide on its
results inside it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING

from mailflow import services as use_cases
from mailflow.booking.model import Actor, ActorKind
from mailflow.errors import BookingConflict, InvalidInput, PolicyRefused, SlotUnavailable
from mailflow.inbound import sender as sender_checks
from mailflow.inbound.bounce_target import take_bounce
from mailflow.inbound.commands import Command, CommandKind
from mailflow.inbound.itip import CalendarReply
from mailflow.inbound.parse import ParsedMessage
from mailflow.inbound.rules import Classification
from mailflow.kinds import STAFF_KINDS, EmailKind
from mailflow.outbound.context import decide, load_facts
from mailflow.outbound.ics import booking_uid
from mailflow.services import inbound as store
from mailflow.services import postmaster as postmasters
from mailflow.services.inbound import Outcome, Stored
from mailflow.services.reply_targets import Target, find_target, target_by_calendar_uid

if TYPE_CHECKING:
    from sqlmodel import Session

    from mailflow.parts import Mailroom
    from mailflow.store.tables import Booking

__all__ = [
    "GO",
    "STEPS",
    "STOP",
    "Forward",
    "Inbound",
    "Next",
    "Prepared",
    "Step",
    "act",
    "answer_or_forward",
    "calendar_reply",
    "check_dmarc",
    "classify",
    "command",
    "deduplicate",
    "dmarc_failure",
    "postmaster",
    "run_steps",
    "staff_reply",
    "strip",
    "target",
    "verify_sender",
]


class Next(Enum):
    """What a step lets happen next (besides :class:`Forward`)."""

    GO = "go"
    STOP = "stop"


GO = Next.GO
STOP = Next.STOP


@dataclass(frozen=True, slots=True)
class Forward:
    """Hand the message to staff (skipping to ``answer_or_forward``); ``why`` is recorded."""

    verified: bool
    why: str


@dataclass(frozen=True, slots=True)
class Acted:
    """An action that did not happen as asked, for ``answer_or_forward`` to answer."""

    verdict: str  # refused, not_understood, slot_gone
    action: str = ""  # cancel or reschedule, for a refusal
    reason: str = ""


@dataclass(frozen=True)
class Prepared:
    """What can be learnt from a message's bytes alone: worked out before the write lock."""

    raw: bytes
    parsed: ParsedMessage
    classification: Classification
    text: str
    command: Command | None
    calendar: CalendarReply | None = None  # a calendar answer (iTIP REPLY) the message carries


@dataclass
class Inbound:
    """One message on its way through the steps: its row, what is known, what was found."""

    room: Mailroom
    session: Session
    row: Stored
    prepared: Prepared
    outcome: Outcome
    now: datetime
    target: Target | None = None
    booking: Booking | None = None
    sender: str = ""
    text: str = ""
    forward: Forward | None = None
    acted: Acted | None = None

    @property
    def parsed(self) -> ParsedMessage:
        return self.prepared.parsed

    def the_booking(self) -> Booking:
        """The targeted booking (the steps after ``target`` only run when there is one)."""
        assert self.booking is not None, "a step after target ran without a booking"
        return self.booking

    def the_target(self) -> Target:
        """The target found by ``target``."""
        assert self.target is not None, "a step after target ran without a target"
        return self.target


Step = Callable[[Inbound], Next | Forward]


# --- the steps ---------------------------------------------------------------------


def deduplicate(msg: Inbound) -> Next:
    """Stop at a copy of a message stored before (same Message-ID, else same bytes)."""
    parsed, row = msg.parsed, msg.row
    if store.is_duplicate(msg.session, row, parsed.message_id):
        msg.outcome.add("deduplicate", "duplicate", parsed.message_id or row.sha256)
        return STOP
    return GO


def postmaster(msg: Inbound) -> Next:
    """Mail to postmaster@<inbound domain> (RFC 5321) goes to the admins, whatever it is but a loop."""
    parsed, row, domain = msg.parsed, msg.row, msg.room.inbound_domain
    rcpts = [row.envelope_rcpt] if row.envelope_rcpt else [*parsed.to_addresses, *parsed.delivered_to]
    if not any(postmasters.is_postmaster(rcpt, domain) for rcpt in rcpts):
        return GO
    msg.outcome.kind = msg.prepared.classification.kind
    count = 0
    if msg.outcome.kind != "loop":  # our own copy coming back is never forwarded again
        count = postmasters.forward_to_admins(
            msg.session, msg.prepared.raw, sender=parsed.from_address or "", subject=parsed.subject or "",
            domain=domain, max_bytes=msg.room.forward_max_bytes, now=msg.now,
        )  # fmt: skip
    msg.outcome.add("postmaster", "admins" if count else "recorded", f"{count} admins")
    return STOP


def classify(msg: Inbound) -> Next:
    """Record the rules' verdicts; a bounce takes effect, only a person's reply goes on."""
    classification, outcome = msg.prepared.classification, msg.outcome
    outcome.kind = classification.kind
    for verdict in classification.verdicts:
        outcome.add(verdict.rule, verdict.verdict, verdict.detail)
    if classification.kind == "bounce":
        if classification.bounce is not None:
            rcpt = msg.row.envelope_rcpt
            rcpts = [rcpt] if rcpt else []
            take_bounce(
                msg.session,
                msg.room.notifier,
                msg.room.return_paths,
                msg.parsed,
                rcpts,
                classification.bounce,
                outcome,
                msg.now,
            )
        return STOP
    if classification.kind == "feedback_report":
        outcome.add("complaint", "recorded", msg.parsed.from_address or "")
        return STOP
    if not classification.may_act:
        outcome.add("answer", "none", f"{classification.kind}: never answered")
        return STOP
    return GO


def target(msg: Inbound) -> Next:
    """Find the booking: the reply key in the recipients, else our Message-ID in the references."""
    parsed, row = msg.parsed, msg.row
    found = find_target(
        msg.session,
        target_addresses(parsed, [row.envelope_rcpt] if row.envelope_rcpt else []),
        target_references(parsed),
        msg.room.inbound_domain,
    )
    calendar = msg.prepared.calendar
    if found is None and calendar is not None:  # a calendar answer sent to the organizer's address
        domain = msg.room.notifier.builder.settings.message_domain
        found = target_by_calendar_uid(msg.session, calendar.uid, domain)
    if found is None or found.booking_id is None:
        msg.outcome.add("target", "none", "no reply key and no reference to our emails")
        return STOP
    msg.outcome.booking_id = found.booking_id
    msg.outcome.add("target", found.via, found.key or "")
    msg.target = found
    msg.booking = store.booking_by_id(msg.session, found.booking_id)
    return GO


def verify_sender(msg: Inbound) -> Next | Forward:
    """The sender must be the recipient of the email answered, alone in From; else it goes to staff."""
    recipient = msg.the_target().recipient
    msg.sender = (msg.parsed.from_address or "").lower()
    msg.text = msg.prepared.text  # forwarded as written, whoever sent it
    senders = sender_checks.from_addresses(msg.parsed)
    if len(senders) != 1:
        detail = f"From names {len(senders)} addresses: {', '.join(senders)[:160]}" if senders else "no From"
        msg.outcome.add("sender", "unverified", detail)
        return Forward(verified=False, why="unverified sender")
    if msg.sender != recipient.lower():
        msg.outcome.add("sender", "unverified", f"{msg.sender} is not {recipient}")
        return Forward(verified=False, why="unverified sender")
    msg.outcome.add("sender", "verified", msg.sender)
    return GO


def staff_reply(msg: Inbound) -> Next:
    """A staff member's answer to a forwarded message is relayed; to other notifications, ignored."""
    key_kind = msg.the_target().key_kind
    if key_kind not in STAFF_KINDS:
        return GO
    if key_kind != EmailKind.CUSTOMER_MESSAGE:  # nothing to relay: say how to reach the customer
        told = store.tell_reply_not_relayed(
            msg.session, msg.room.notifier, msg.the_booking(), msg.sender, msg.now
        )
        verdict = "told" if told else "ignored"
        msg.outcome.add("staff_reply", verdict, f"a reply to a {key_kind} notification")
        return STOP
    booking = msg.the_booking()
    store.relay_staff_reply(
        msg.session,
        msg.room.notifier,
        booking,
        msg.sender,
        msg.parsed.subject or "",
        msg.text,
        msg.now,
        in_reply_to=msg.the_target().answers,
    )
    msg.outcome.add("staff_reply", "relayed", booking.ref)
    return STOP


def check_dmarc(msg: Inbound) -> Next | Forward:
    """DMARC failed in a trusted Authentication-Results: no action, staff decide."""
    failed = dmarc_failure(msg.parsed, msg.room.trusted_authserv)
    if failed:
        msg.outcome.add("dmarc", "fail", failed)
        return Forward(verified=False, why="held: DMARC failed")
    return GO


def calendar_reply(msg: Inbound) -> Next | Forward:
    """A calendar answer to the booking's entry: DECLINED is a ``cancel`` reply (same rule, same
    answers); ACCEPTED, TENTATIVE and the rest are recorded, nothing more."""
    reply = msg.prepared.calendar
    if reply is None:
        return GO
    domain = msg.room.notifier.builder.settings.message_domain  # of our UIDs (``ics.booking_uid``)
    if reply.uid.strip().lower() != booking_uid(ref := msg.the_booking().ref, domain):
        msg.outcome.add("calendar", "other_event", reply.uid[:120])
        return GO
    partstat = reply.partstat_of(msg.sender) or "NEEDS-ACTION"
    msg.outcome.add("calendar", partstat.lower(), ref)
    if partstat == "DECLINED":
        msg.outcome.command = CommandKind.CANCEL.value
        return _cancel(msg)
    msg.outcome.add("answer", "none", "a calendar answer: recorded, not answered")
    return STOP


def strip(msg: Inbound) -> Next:
    """The new text only, quotes and signature stripped (done in ``prepare``, before the lock)."""
    msg.text = msg.prepared.text
    return GO


def command(msg: Inbound) -> Next | Forward:
    """Read the command the new text starts with; anything else goes to staff."""
    found = msg.prepared.command
    msg.outcome.command = found.kind.value if found else None
    first_line = msg.text.splitlines()[0][:80] if msg.text else ""
    msg.outcome.add("command", found.kind.value if found else "none", first_line)
    if found is None:
        return Forward(verified=True, why="not a command")
    return GO


def act(msg: Inbound) -> Next | Forward:
    """Cancel, offer slots or book the chosen one; what did not happen is answered next."""
    found = msg.prepared.command
    assert found is not None, "act ran without a command"
    if found.kind is CommandKind.CANCEL:
        return _cancel(msg)
    if found.kind is CommandKind.RESCHEDULE:
        return _offer(msg)
    return _choose(msg, found)


def answer_or_forward(msg: Inbound) -> Next:
    """Answer what did not happen (at most once an hour), and hand the message to staff if asked."""
    if msg.acted is not None:
        _answer(msg, msg.acted)
    if msg.forward is not None:
        parsed = msg.parsed
        store.forward_to_staff(
            msg.session,
            msg.room.notifier,
            msg.the_booking(),
            from_name=parsed.from_name,
            from_email=parsed.from_address or "",
            subject=parsed.subject or "",
            text=msg.text,
            raw=msg.prepared.raw,
            verified=msg.forward.verified,
            now=msg.now,
            max_bytes=msg.room.forward_max_bytes,
            message_id=parsed.message_id,
        )
        msg.outcome.add("forward", "staff", msg.forward.why)
    return STOP


STEPS: tuple[Step, ...] = (
    deduplicate,
    postmaster,
    classify,
    target,
    verify_sender,
    check_dmarc,  # before a staff reply is relayed: a forged staff answer must not reach the customer
    staff_reply,
    calendar_reply,
    strip,
    command,
    act,
    answer_or_forward,
)


def run_steps(msg: Inbound, steps: Sequence[Step] = STEPS) -> None:
    """Run ``steps`` in order until one stops; a :class:`Forward` skips to the last step."""
    for step in steps:
        msg.outcome.steps.append(step.__name__)
        result = step(msg)
        if result is STOP:
            return
        if isinstance(result, Forward):
            msg.forward = result
            if step is not steps[-1]:
                msg.outcome.steps.append(steps[-1].__name__)
                steps[-1](msg)
            return


# --- helpers -----------------------------------------------------------------------


def target_addresses(parsed: ParsedMessage, rcpts: list[str]) -> list[str]:
    """Where a reply key may be, most trusted first: envelope, To, Delivered-To, Cc."""
    return [*rcpts, *parsed.to_addresses, *parsed.delivered_to, *parsed.cc_addresses]


def target_references(parsed: ParsedMessage) -> list[str | None]:
    """Our own Message-IDs a reply may name: In-Reply-To, then References from the newest."""
    return [parsed.in_reply_to, *reversed(parsed.references)]


def dmarc_failure(parsed: ParsedMessage, trusted: frozenset[str]) -> str | None:
    """Why a trusted server's Authentication-Results fail DMARC, if one does (see ``inbound.sender``)."""
    return sender_checks.dmarc_failure(parsed, trusted)


def _customer_actor(sender: str) -> Actor:
    return Actor(ActorKind.CUSTOMER_REPLY, sender)


def _cancel(msg: Inbound) -> Next | Forward:
    ref = msg.the_booking().ref  # the booking actions join this transaction (``within``)
    try:
        use_cases.cancel_booking(
            msg.room.engine,
            ref,
            reason=None,
            actor=_customer_actor(msg.sender),
            now=msg.now,
            notifier=msg.room.notifier,
            within=msg.session,
        )
    except PolicyRefused as exc:
        return _refused(msg, "cancel", exc.reason)
    msg.outcome.add("act", "cancelled", ref)
    return STOP


def _offer(msg: Inbound) -> Next | Forward:
    booking = msg.the_booking()
    decision = decide(load_facts(msg.session, booking), msg.now)
    if not decision.allowed:
        return _refused(msg, "reschedule", decision.reason.value)
    if store.options_capped(msg.session, booking, msg.now):  # staff see the request instead
        msg.outcome.add("act", "capped", f"{store.OPTIONS_PER_HOUR} answers with free times this hour")
        return Forward(verified=True, why="reschedule answers capped")
    count = store.offer_slots(msg.session, msg.room.notifier, booking, msg.now, msg.room.grid)
    msg.outcome.add("act", "options", f"{count} slots offered")
    return STOP


def _choose(msg: Inbound, found: Command) -> Next | Forward:
    """A bare number: only an answer to a reschedule_options email, and only a slot it showed."""
    chosen_target, ref = msg.the_target(), msg.the_booking().ref
    offered = chosen_target.offered or []
    if (
        chosen_target.key_kind != EmailKind.RESCHEDULE_OPTIONS
        or found.slot is None
        or not 1 <= found.slot <= len(offered)
    ):
        msg.outcome.add("act", "not_understood", f"slot {found.slot} was not offered")
        msg.acted = Acted("not_understood")
        return GO
    chosen = offered[found.slot - 1]
    try:
        use_cases.reschedule_booking(
            msg.room.engine,
            ref,
            start=datetime.fromisoformat(chosen["start"]),
            staff=chosen["staff"],
            actor=_customer_actor(msg.sender),
            now=msg.now,
            within=msg.session,
            **msg.room.use_cases.booking_kwargs(),
        )
    except PolicyRefused as exc:
        return _refused(msg, "reschedule", exc.reason)
    except (BookingConflict, SlotUnavailable, InvalidInput) as exc:
        msg.outcome.add("act", "slot_gone", str(exc)[:200])
        msg.acted = Acted("slot_gone")
        return GO
    msg.outcome.add("act", "rescheduled", f"{ref} to slot {found.slot}")
    return STOP


def _refused(msg: Inbound, action: str, reason: str) -> Forward:
    msg.outcome.add("act", "refused", reason)
    msg.acted = Acted("refused", action, reason)
    return Forward(verified=True, why="refused request")


def _answer(msg: Inbound, acted: Acted) -> None:
    session, notifier, booking = msg.session, msg.room.notifier, msg.the_booking()
    if acted.verdict == "refused":
        if store.answer_refusal(session, notifier, booking, acted.action, acted.reason, msg.sender, msg.now):
            msg.outcome.add("answer", "action_refused", acted.reason)
        else:
            msg.outcome.add("answer", "suppressed", "already answered within the hour")
    elif store.options_capped(session, booking, msg.now):
        msg.outcome.add("answer", "suppressed", f"{store.OPTIONS_PER_HOUR} answers with free times this hour")
    elif acted.verdict == "not_understood":
        if store.may_answer(session, booking, msg.sender, msg.now):
            count = store.offer_slots(session, notifier, booking, msg.now, msg.room.grid)
            store.note_answer(session, booking, msg.sender, msg.now)
            msg.outcome.add("answer", "options", f"{count} slots offered")
    elif acted.verdict == "slot_gone":
        count = store.offer_slots(session, notifier, booking, msg.now, msg.room.grid)
        msg.outcome.add("answer", "options", f"{count} fresh slots offered")
