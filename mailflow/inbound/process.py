"""The inbound pipeline: stored raw first, then a list of small named steps, each recorded.

parse -> de-duplicate -> classify (loop, auto-reply, bounce, feedback) -> target
-> sender check -> strip -> command -> act -> answer or forward.

Every message is stored with its bytes before anything else (``store_raw``);
``process_pending`` claims stored rows like the outbox and runs the steps; each
step's verdict lands in ``InboundMessage.verdicts``. A step that crashes leaves
the row ``error`` with its bytes and the error, for ``mailflow inbound retry``.
Only a person's reply (kind ``reply``) can act or be answered; results of
actions are always answered (by the booking's own emails), refusals and "not
understood" at most once per sender and booking per hour.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mailflow import services as use_cases
from mailflow.booking.model import Actor, ActorKind
from mailflow.errors import BookingConflict, InvalidInput, PolicyRefused, SlotUnavailable
from mailflow.inbound.commands import Command, CommandKind, parse_command
from mailflow.inbound.parse import ParsedMessage, parse_message
from mailflow.inbound.rules import Classification, RuleContext, classify
from mailflow.inbound.strip import new_text
from mailflow.outbound.context import decide, load_facts
from mailflow.outbound.samples import STAFF_KINDS
from mailflow.services import inbound as store
from mailflow.services.inbound import (
    CLAIM_LEASE,
    Outcome,
    Received,
    Stored,
    Target,
    claim_received,
    has_received,
    header_message_id,
    store_many,
    store_raw,
)
from mailflow.store.engine import database_unavailable

if TYPE_CHECKING:
    from sqlmodel import Session

    from mailflow.bootstrap import App
    from mailflow.store.tables import Booking

__all__ = [
    "BATCH",
    "CLAIM_LEASE",
    "Outcome",
    "Prepared",
    "Received",
    "Stored",
    "Target",
    "claim_received",
    "dmarc_failure",
    "find_target",
    "has_received",
    "header_message_id",
    "inspect_message",
    "prepare",
    "process_batch",
    "process_one",
    "process_pending",
    "store_many",
    "store_raw",
]

log = logging.getLogger("mailflow.inbound")

BATCH = 16  # messages per write transaction: few enough that the SMTP side's turn comes soon


# --- targets ---------------------------------------------------------------------


def _target_addresses(parsed: ParsedMessage, rcpts: list[str]) -> list[str]:
    """Where a reply key may be, most trusted first: envelope, To, Delivered-To, Cc."""
    return [*rcpts, *parsed.to_addresses, *parsed.delivered_to, *parsed.cc_addresses]


def _target_references(parsed: ParsedMessage) -> list[str | None]:
    """Our own Message-IDs a reply may name: In-Reply-To, then References from the newest."""
    return [parsed.in_reply_to, *reversed(parsed.references)]


def find_target(session: Session, parsed: ParsedMessage, rcpts: list[str], domain: str) -> Target | None:
    """The reply key in the recipients, else our own Message-ID in In-Reply-To/References."""
    return store.find_target(session, _target_addresses(parsed, rcpts), _target_references(parsed), domain)


# --- the pipeline ------------------------------------------------------------------


def inspect_message(app: App, raw: bytes, rcpt: str = "") -> dict[str, Any]:
    """A dry run: what the pipeline would make of ``raw`` (nothing is stored or sent)."""
    parsed = parse_message(raw)
    classification = classify(parsed, _rule_context(app))
    text = new_text(parsed.message) if parsed.message is not None else ""
    command = parse_command(text, parsed.subject or "")
    ref = store.target_ref(
        app.engine,
        _target_addresses(parsed, [rcpt] if rcpt else []),
        _target_references(parsed),
        app.settings.inbound_domain,
    )
    return {
        "kind": classification.kind,
        "command": command.kind.value if command else None,
        "slot": command.slot if command else None,
        "text": text,
        "target": ref,
        "verdicts": [
            {"rule": v.rule, "verdict": v.verdict, "detail": v.detail} for v in classification.verdicts
        ],
    }


def _rule_context(app: App) -> RuleContext:
    return RuleContext(
        our_addresses=store.our_addresses(app.engine), inbound_domain=app.settings.inbound_domain
    )


def process_pending(app: App, now: datetime, limit: int = 100) -> int:
    """Run the pipeline over every stored message; returns how many were processed."""
    context = _rule_context(app)
    done = 0
    while True:
        ids = claim_received(app.engine, now, limit, app.settings.claim_lease)
        if not ids:
            return done
        for first in range(0, len(ids), BATCH):
            process_batch(app, ids[first : first + BATCH], now, context)
        done += len(ids)
        if len(ids) < limit:
            return done


@dataclass(frozen=True)
class Prepared:
    """What can be learnt from a message's bytes alone: worked out before the write lock."""

    raw: bytes
    parsed: ParsedMessage
    classification: Classification
    text: str
    command: Command | None


def prepare(raw: bytes, context: RuleContext) -> Prepared:
    """Parse, classify and (for a person's reply) strip and read the command; no database."""
    parsed = parse_message(raw)
    classification = classify(parsed, context)
    text, command = "", None
    if classification.may_act:
        text = new_text(parsed.message) if parsed.message is not None else ""
        command = parse_command(text, parsed.subject or "")
    return Prepared(raw, parsed, classification, text, command)


def process_one(app: App, row_id: int, now: datetime, context: RuleContext | None = None) -> Outcome:
    """Run the pipeline for one stored message; a crash is kept on the row, never lost."""
    return process_batch(app, [row_id], now, context)[0]


def process_batch(
    app: App, row_ids: list[int], now: datetime, context: RuleContext | None = None
) -> list[Outcome]:
    """Run the pipeline for claimed messages in one write transaction.

    The bytes are read, parsed and judged first, outside any transaction; the
    write transaction (on SQLite the one writer's turn) holds only the steps
    that read or change bookings and queue emails. One transaction for a few
    messages pays one commit and one turn at the lock, and the business,
    services and staff they share are loaded once. Should any message crash,
    the whole transaction is rolled back and each message runs again on its
    own, so the crash is kept on its row alone (``error``, with the reason and
    the bytes) and the others are done as if nothing had happened.
    """
    context = context or _rule_context(app)
    outcomes = {row_id: Outcome() for row_id in row_ids}
    found = store.load_stored(app.engine, row_ids)
    stored = {row.id: Stored(row.id, row.sha256, row.envelope_rcpt) for row in found}
    prepared: dict[int, Prepared | Exception] = {}
    for row in found:
        try:
            prepared[row.id] = prepare(row.raw, context)
        except Exception as exc:  # kept on the row below, like a crash in the transaction
            log.exception("inbound message %d failed", row.id, extra={"inbound_id": row.id})
            prepared[row.id] = exc
    try:
        with store.pipeline_transaction(app.engine) as session:
            finished: list[tuple[int, Outcome, BaseException | None]] = []
            for row_id in (row_id for row_id in row_ids if row_id in stored):
                ready, outcome = prepared[row_id], outcomes[row_id]
                if isinstance(ready, Exception):
                    finished.append((row_id, outcome, ready))
                    continue
                _pipeline(app, session, stored[row_id], ready, outcome, now)
                finished.append((row_id, outcome, None))
            store.finish_messages(session, finished)
    except Exception as exc:
        if database_unavailable(exc):
            # Nothing is wrong with the messages: kept as claimed, they are taken again when the
            # claim runs out, rather than marked as crashed (error) for a database restart.
            raise
        if len(row_ids) > 1:
            log.warning("inbound batch of %d failed (%s); each message on its own", len(row_ids), exc)
            return [process_one(app, row_id, now, context) for row_id in row_ids]
        log.exception("inbound message %d failed", row_ids[0], extra={"inbound_id": row_ids[0]})
        store.finish_crashed(app.engine, row_ids[0], outcomes[row_ids[0]], exc)
    return [outcomes[row_id] for row_id in row_ids]


def _pipeline(
    app: App, session: Session, row: Stored, prepared: Prepared, outcome: Outcome, now: datetime
) -> None:
    parsed, classification = prepared.parsed, prepared.classification
    outcome.add("parse", "ok" if parsed.message is not None else "malformed", "; ".join(parsed.defects)[:200])
    if store.is_duplicate(session, row, parsed.message_id):
        outcome.add("deduplicate", "duplicate", parsed.message_id or row.sha256)
        return
    outcome.kind = classification.kind
    for verdict in classification.verdicts:
        outcome.add(verdict.rule, verdict.verdict, verdict.detail)
    if classification.kind == "bounce":
        if classification.bounce is not None:
            store.record_bounce(session, app.notifier, classification.bounce, outcome, now)
        return
    if classification.kind == "feedback_report":
        outcome.add("complaint", "recorded", parsed.from_address or "")
        return
    if not classification.may_act:
        outcome.add("answer", "none", f"{classification.kind}: never answered")
        return

    target = find_target(
        session, parsed, [row.envelope_rcpt] if row.envelope_rcpt else [], app.settings.inbound_domain
    )
    if target is None or target.booking_id is None:
        outcome.add("target", "none", "no reply key and no reference to our emails")
        return
    outcome.booking_id = target.booking_id
    outcome.add("target", target.via, target.key or "")
    booking = store.booking_by_id(session, target.booking_id)
    sender = (parsed.from_address or "").lower()
    text = prepared.text
    if sender != target.recipient.lower():
        outcome.add("sender", "unverified", f"{sender} is not {target.recipient}")
        _forward(app, session, booking, parsed, prepared.raw, text, verified=False, now=now)
        outcome.add("forward", "staff", "unverified sender")
        return
    outcome.add("sender", "verified", sender)
    if target.key_kind in STAFF_KINDS:
        if target.key_kind != "customer_message":
            outcome.add("staff_reply", "ignored", f"a reply to a {target.key_kind} notification")
            return
        store.relay_staff_reply(session, app.notifier, booking, sender, parsed.subject or "", text, now)
        outcome.add("staff_reply", "relayed", booking.ref)
        return
    failed = dmarc_failure(parsed, app.settings.trusted_authserv)
    if failed:
        outcome.add("dmarc", "fail", failed)
        _forward(app, session, booking, parsed, prepared.raw, text, verified=False, now=now)
        outcome.add("forward", "staff", "held: DMARC failed")
        return
    command = prepared.command
    outcome.command = command.kind.value if command else None
    outcome.add(
        "command", command.kind.value if command else "none", text.splitlines()[0][:80] if text else ""
    )
    if command is None:
        _forward(app, session, booking, parsed, prepared.raw, text, verified=True, now=now)
        outcome.add("forward", "staff", "not a command")
        return
    _act(app, session, booking, target, command, sender, outcome, now)
    if any(v["rule"] == "act" and v["verdict"] == "refused" for v in outcome.verdicts):
        _forward(app, session, booking, parsed, prepared.raw, text, verified=True, now=now)
        outcome.add("forward", "staff", "refused request")


def dmarc_failure(parsed: ParsedMessage, trusted: frozenset[str]) -> str | None:
    """The Authentication-Results header of a trusted server that says dmarc=fail, if any."""
    for value in parsed.headers.get("authentication-results", []):
        authserv = value.split(";", 1)[0].strip().split()[0].lower() if value.strip() else ""
        if authserv in trusted and re.search(r"\bdmarc\s*=\s*fail\b", value, re.IGNORECASE):
            return value.strip()[:200]
    return None


# --- acting ------------------------------------------------------------------------


def _customer_actor(sender: str) -> Actor:
    return Actor(ActorKind.CUSTOMER_REPLY, sender)


def _act(
    app: App,
    session: Session,
    booking: Booking,
    target: Target,
    command: Command,
    sender: str,
    outcome: Outcome,
    now: datetime,
) -> None:
    ref = booking.ref  # the booking actions join this transaction (``within``)
    if command.kind is CommandKind.CANCEL:
        try:
            use_cases.cancel_booking(
                app.engine,
                ref,
                reason=None,
                actor=_customer_actor(sender),
                now=now,
                notifier=app.notifier,
                within=session,
            )
        except PolicyRefused as exc:
            outcome.add("act", "refused", exc.reason)
            _refuse(app, session, booking, "cancel", exc.reason, sender, outcome, now)
            return
        outcome.add("act", "cancelled", ref)
        return
    if command.kind is CommandKind.RESCHEDULE:
        decision = decide(load_facts(session, booking), now)
        if not decision.allowed:
            outcome.add("act", "refused", decision.reason.value)
            _refuse(app, session, booking, "reschedule", decision.reason.value, sender, outcome, now)
            return
        count = store.offer_slots(session, app.notifier, booking, now, app.grid)
        outcome.add("act", "options", f"{count} slots offered")
        return
    # A bare number: only an answer to a reschedule_options email, and only a slot it showed.
    offered = target.offered or []
    if (
        target.key_kind != "reschedule_options"
        or command.slot is None
        or not 1 <= command.slot <= len(offered)
    ):
        outcome.add("act", "not_understood", f"slot {command.slot} was not offered")
        if store.may_answer(session, booking, sender, now):
            count = store.offer_slots(session, app.notifier, booking, now, app.grid)
            store.note_answer(session, booking, sender, now)
            outcome.add("answer", "options", f"{count} slots offered")
        return
    chosen = offered[command.slot - 1]
    try:
        use_cases.reschedule_booking(
            app.engine,
            ref,
            start=datetime.fromisoformat(chosen["start"]),
            staff=chosen["staff"],
            actor=_customer_actor(sender),
            now=now,
            within=session,
            **app.booking_kwargs(),
        )
    except PolicyRefused as exc:
        outcome.add("act", "refused", exc.reason)
        _refuse(app, session, booking, "reschedule", exc.reason, sender, outcome, now)
        return
    except (BookingConflict, SlotUnavailable, InvalidInput) as exc:
        outcome.add("act", "slot_gone", str(exc)[:200])
        count = store.offer_slots(session, app.notifier, booking, now, app.grid)
        outcome.add("answer", "options", f"{count} fresh slots offered")
        return
    outcome.add("act", "rescheduled", f"{ref} to slot {command.slot}")


def _refuse(
    app: App,
    session: Session,
    booking: Booking,
    action: str,
    reason: str,
    sender: str,
    outcome: Outcome,
    now: datetime,
) -> None:
    if store.answer_refusal(session, app.notifier, booking, action, reason, sender, now):
        outcome.add("answer", "action_refused", reason)
    else:
        outcome.add("answer", "suppressed", "already answered within the hour")


def _forward(
    app: App,
    session: Session,
    booking: Booking,
    parsed: ParsedMessage,
    raw: bytes,
    text: str,
    *,
    verified: bool,
    now: datetime,
) -> None:
    store.forward_to_staff(
        session,
        app.notifier,
        booking,
        from_name=parsed.from_name,
        from_email=parsed.from_address or "",
        subject=parsed.subject or "",
        text=text,
        raw=raw,
        verified=verified,
        now=now,
    )
