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

import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, bindparam, event, insert, update
from sqlmodel import Session, col, select

from mailflow import services as use_cases
from mailflow.booking.model import Actor, ActorKind, BookingStatus
from mailflow.errors import BookingConflict, InvalidInput, PolicyRefused, SlotUnavailable
from mailflow.inbound.commands import Command, CommandKind, parse_command
from mailflow.inbound.parse import ParsedMessage, parse_message
from mailflow.inbound.rules import BounceInfo, Classification, RuleContext, classify
from mailflow.inbound.strip import new_text
from mailflow.outbound.context import decide, load_facts
from mailflow.outbound.samples import STAFF_KINDS
from mailflow.store.engine import database_unavailable, read_session, write_session
from mailflow.store.tables import (
    AuditEvent,
    Booking,
    Business,
    Customer,
    InboundMessage,
    OutboxMessage,
    ReplyKey,
    Service,
)

if TYPE_CHECKING:
    from mailflow.app import App

log = logging.getLogger("mailflow.inbound")

KEY_ADDRESS = re.compile(r"^reply\+([a-z0-9]{8,64})@(.+)$")
ANSWER_INTERVAL = timedelta(hours=1)
OPTIONS_COUNT = 5
OPTIONS_DAYS = 21
OPTIONS_CHUNK_DAYS = 3
CLAIM_LEASE = timedelta(minutes=5)
BATCH = 16  # messages per write transaction: few enough that the SMTP side's turn comes soon


@dataclass(frozen=True, slots=True)
class Target:
    """What a reply is about: a booking and the recipient of the email it answers."""

    booking_id: int | None
    recipient: str
    via: str
    key: str | None = None
    key_kind: str | None = None
    offered: list[dict[str, str]] | None = None


@dataclass
class Outcome:
    """The record of one message's way through the pipeline."""

    verdicts: list[dict[str, str]] = field(default_factory=list)
    kind: str | None = None
    command: str | None = None
    booking_id: int | None = None

    def add(self, rule: str, verdict: str, detail: str = "") -> None:
        self.verdicts.append({"rule": rule, "verdict": verdict, "detail": detail[:500]})


# --- storage ---------------------------------------------------------------------


def store_raw(engine: Engine, raw: bytes, *, envelope_from: str, envelope_rcpt: str, now: datetime) -> int:
    """Store ``raw`` as received; returns the row id. Nothing is judged yet."""
    return store_many(engine, [Received(raw, envelope_from, envelope_rcpt)], now)[0]


@dataclass(frozen=True, slots=True)
class Received:
    """A message as an MTA hands it over: bytes and envelope."""

    raw: bytes
    envelope_from: str
    envelope_rcpt: str


def store_many(engine: Engine, messages: list[Received], now: datetime) -> list[int]:
    """Store ``messages`` in one transaction (one commit, one turn at SQLite's lock); their row ids."""
    table = InboundMessage.__table__  # type: ignore[attr-defined]  # SQLModel tables have one
    statement = insert(table).returning(table.c.id)
    ids = []
    with write_session(engine) as session:
        for message in messages:
            values: dict[str, Any] = {
                "message_id": header_message_id(message.raw),
                "sha256": hashlib.sha256(message.raw).hexdigest(),
                "raw": message.raw,
                "envelope_from": message.envelope_from[:254],
                "envelope_rcpt": message.envelope_rcpt[:254],
                "received_at": now,
                "status": "received",
                "verdicts": [],
                "attempts": 0,
            }
            ids.append(int(session.execute(statement, values).scalar_one()))
    return ids


def header_message_id(raw: bytes) -> str | None:
    """The Message-ID from the header block only (storage must be cheap; the body waits)."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0][:65536]
    match = re.search(rb"(?im)^message-id:[ \t]*(<[^>\r\n]{1,990}>)", head)
    return match.group(1).decode("ascii", "replace") if match else None


# --- targets ---------------------------------------------------------------------


def find_target(session: Session, parsed: ParsedMessage, rcpts: list[str], domain: str) -> Target | None:
    """The reply key in the recipients, else our own Message-ID in In-Reply-To/References."""
    candidates = [*rcpts, *parsed.to_addresses, *parsed.delivered_to, *parsed.cc_addresses]
    for address in candidates:
        match = KEY_ADDRESS.match(address.strip().lower())
        if match is None or (domain and match.group(2) != domain):
            continue
        key = session.execute(_KEY_TARGET, {"key": match.group(1)}).first()
        if key is not None:
            return Target(key.booking_id, key.recipient, "reply_key", match.group(1), key.kind, key.offered)
    references = [parsed.in_reply_to, *reversed(parsed.references)]
    for message_id in (ref for ref in references if ref):
        sent = session.execute(_SENT_TARGET, {"message_id": message_id}).first()
        if sent is not None:
            return Target(sent.booking_id, sent.recipient, "references", None, sent.kind, None)
    return None


# --- the pipeline ------------------------------------------------------------------


def inspect_message(app: App, raw: bytes, rcpt: str = "") -> dict[str, Any]:
    """A dry run: what the pipeline would make of ``raw`` (nothing is stored or sent)."""
    parsed = parse_message(raw)
    classification = classify(parsed, _rule_context(app))
    text = new_text(parsed.message) if parsed.message is not None else ""
    command = parse_command(text, parsed.subject or "")
    with read_session(app.engine) as session:
        target = find_target(session, parsed, [rcpt] if rcpt else [], app.settings.inbound_domain)
        ref = None
        if target is not None and target.booking_id is not None:
            booking = session.get(Booking, target.booking_id)
            ref = booking.ref if booking else None
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
    with read_session(app.engine) as session:
        senders = session.exec(select(Business.sender_email, Business.email)).all()
    ours = {address.lower() for pair in senders for address in pair if address}
    return RuleContext(our_addresses=frozenset(ours), inbound_domain=app.settings.inbound_domain)


def has_received(engine: Engine) -> bool:
    """Whether a stored message waits (a read, so a polling worker never takes the write lock)."""
    with read_session(engine) as session:
        waiting = session.exec(select(InboundMessage.id).where(InboundMessage.status == "received").limit(1))
        return waiting.first() is not None


def claim_received(engine: Engine, now: datetime, limit: int, lease: timedelta = CLAIM_LEASE) -> list[int]:
    """Atomically take up to ``limit`` stored messages (or ones whose worker's claim ran out).

    A claim holds for ``lease`` from the moment it is taken, however long the
    message waited before. (A row claimed before ``claimed_until`` existed has
    none: its lease counts from its arrival, as it did then.)
    """
    claimed_until = col(InboundMessage.claimed_until)
    expired = (claimed_until < now) | (
        claimed_until.is_(None) & (col(InboundMessage.received_at) < now - lease)
    )
    due = (col(InboundMessage.status) == "received") | (
        (col(InboundMessage.status) == "processing") & expired
    )
    candidates = (
        select(InboundMessage.id)
        .where(due)
        .order_by(col(InboundMessage.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    with write_session(engine) as session:
        rows = session.execute(
            update(InboundMessage)
            .where(col(InboundMessage.id).in_(candidates.scalar_subquery()))
            .values(status="processing", claimed_until=now + lease, attempts=col(InboundMessage.attempts) + 1)
            .returning(col(InboundMessage.id))
        ).all()
    return sorted(row[0] for row in rows)


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
    with read_session(app.engine) as session:
        found = session.execute(_STORED, {"ids": row_ids}).all()
    stored = {row.id: Stored(row.id, row.sha256, row.envelope_rcpt) for row in found}
    prepared: dict[int, Prepared | Exception] = {}
    for row in found:
        try:
            prepared[row.id] = prepare(row.raw, context)
        except Exception as exc:  # kept on the row below, like a crash in the transaction
            log.exception("inbound message %d failed", row.id, extra={"inbound_id": row.id})
            prepared[row.id] = exc
    try:
        with write_session(app.engine) as session:
            _keep_loaded(session)
            finished = []
            for row_id in (row_id for row_id in row_ids if row_id in stored):
                ready, outcome = prepared[row_id], outcomes[row_id]
                if isinstance(ready, Exception):
                    finished.append(_finish(row_id, outcome, ready))
                    continue
                _pipeline(app, session, stored[row_id], ready, outcome, now)
                finished.append(_finish(row_id, outcome))
            if finished:
                session.execute(_FINISH, finished)
    except Exception as exc:
        if database_unavailable(exc):
            # Nothing is wrong with the messages: kept as claimed, they are taken again when the
            # claim runs out, rather than marked as crashed (error) for a database restart.
            raise
        if len(row_ids) > 1:
            log.warning("inbound batch of %d failed (%s); each message on its own", len(row_ids), exc)
            return [process_one(app, row_id, now, context) for row_id in row_ids]
        log.exception("inbound message %d failed", row_ids[0], extra={"inbound_id": row_ids[0]})
        with write_session(app.engine) as session:
            session.execute(_FINISH, [_finish(row_ids[0], outcomes[row_ids[0]], exc)])
    return [outcomes[row_id] for row_id in row_ids]


@dataclass(frozen=True, slots=True)
class Stored:
    """What the pipeline needs of a stored message's row besides its bytes."""

    id: int
    sha256: str
    envelope_rcpt: str


def _finish(row_id: int, outcome: Outcome, crash: BaseException | None = None) -> dict[str, Any]:
    """The row's final values: ``done`` with the verdicts, or ``error`` with the crash."""
    error = None
    if crash is not None:
        error = f"{type(crash).__name__}: {crash}"
        outcome.add("pipeline", "error", error)
    return {
        "row_id": row_id,
        "new_status": "error" if crash is not None else "done",
        "new_error": error[:2000] if error else None,
        "new_verdicts": outcome.verdicts,
        "new_kind": outcome.kind,
        "new_command": outcome.command,
        "new_booking_id": outcome.booking_id,
    }


def _keep_loaded(session: Session) -> None:
    """Hold every row the session loads until it ends.

    The identity map only holds rows weakly: without this, the business, the
    services and the staff the batch's messages share would be dropped and
    loaded again for every message (and every email).
    """
    kept: list[object] = []
    event.listen(session, "loaded_as_persistent", lambda _session, row: kept.append(row))
    session.info["mailflow_kept"] = kept


def _pipeline(
    app: App, session: Session, row: Stored, prepared: Prepared, outcome: Outcome, now: datetime
) -> None:
    parsed, classification = prepared.parsed, prepared.classification
    outcome.add("parse", "ok" if parsed.message is not None else "malformed", "; ".join(parsed.defects)[:200])
    if _is_duplicate(session, row, parsed):
        outcome.add("deduplicate", "duplicate", parsed.message_id or row.sha256)
        return
    outcome.kind = classification.kind
    for verdict in classification.verdicts:
        outcome.add(verdict.rule, verdict.verdict, verdict.detail)
    if classification.kind == "bounce":
        if classification.bounce is not None:
            _handle_bounce(app, session, classification.bounce, outcome, now)
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
    booking = session.get_one(Booking, target.booking_id)
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
        app.notifier.relay_staff_reply(session, booking, sender, parsed.subject or "", text, now)
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


def _is_duplicate(session: Session, row: Stored, parsed: ParsedMessage) -> bool:
    if parsed.message_id:
        earlier = session.execute(_EARLIER_BY_ID, {"same": parsed.message_id, "id": row.id})
    else:
        earlier = session.execute(_EARLIER_BY_HASH, {"same": row.sha256, "id": row.id})
    return earlier.first() is not None


def _earlier(same: Any) -> Any:
    """Another stored copy of a message, before this one, not given up on."""
    return (
        select(InboundMessage.id)
        .where(same == bindparam("same"), col(InboundMessage.id) < bindparam("id"))
        .where(InboundMessage.status != "error")
        .limit(1)
    )


# Statements built once: the pipeline runs them for every message.
_STORED = select(
    InboundMessage.id, InboundMessage.raw, InboundMessage.sha256, InboundMessage.envelope_rcpt
).where(col(InboundMessage.id).in_(bindparam("ids", expanding=True)))
_INBOUND = InboundMessage.__table__  # type: ignore[attr-defined]  # SQLModel tables have one
_FINISH = (  # Core, not ORM: one executemany for the batch, no objects to keep in step
    update(_INBOUND)
    .where(_INBOUND.c.id == bindparam("row_id"))
    .values(
        status=bindparam("new_status"),
        error=bindparam("new_error"),
        verdicts=bindparam("new_verdicts"),
        kind=bindparam("new_kind"),
        command=bindparam("new_command"),
        booking_id=bindparam("new_booking_id"),
        claimed_until=None,
    )
)
_EARLIER_BY_ID = _earlier(InboundMessage.message_id)
_EARLIER_BY_HASH = _earlier(InboundMessage.sha256)
_KEY_TARGET = select(ReplyKey.booking_id, ReplyKey.recipient, ReplyKey.kind, ReplyKey.offered).where(
    ReplyKey.key == bindparam("key")
)
_SENT_TARGET = (
    select(OutboxMessage.booking_id, OutboxMessage.recipient, OutboxMessage.kind)
    .where(OutboxMessage.message_id == bindparam("message_id"))
    .limit(1)
)
_RECENT_ANSWER = (
    select(AuditEvent.id)
    .where(
        AuditEvent.booking_id == bindparam("booking_id"),
        AuditEvent.action == "inbound.answered",
        AuditEvent.actor_label == bindparam("sender"),
        col(AuditEvent.at) > bindparam("since"),
    )
    .limit(1)
)


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
        count = _offer_slots(app, session, booking, now)
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
        if _may_answer(session, booking, sender, now):
            count = _offer_slots(app, session, booking, now)
            _note_answer(session, booking, sender, now)
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
        count = _offer_slots(app, session, booking, now)
        outcome.add("answer", "options", f"{count} fresh slots offered")
        return
    outcome.add("act", "rescheduled", f"{ref} to slot {command.slot}")


def _may_answer(session: Session, booking: Booking, sender: str, now: datetime) -> bool:
    """Refusals and "not understood" go out at most once per sender and booking per hour."""
    recent = session.execute(
        _RECENT_ANSWER, {"booking_id": booking.id, "sender": sender, "since": now - ANSWER_INTERVAL}
    )
    return recent.first() is None


def _note_answer(session: Session, booking: Booking, sender: str, now: datetime) -> None:
    session.add(
        AuditEvent(
            business_id=booking.business_id,
            booking_id=booking.id,
            at=now,
            actor_kind=ActorKind.CUSTOMER_REPLY.value,
            actor_label=sender,
            action="inbound.answered",
        )
    )
    session.flush()


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
    if _may_answer(session, booking, sender, now):
        app.notifier.send_refusal(session, booking, action, reason, now)
        _note_answer(session, booking, sender, now)
        outcome.add("answer", "action_refused", reason)
    else:
        outcome.add("answer", "suppressed", "already answered within the hour")


def _offer_slots(app: App, session: Session, booking: Booking, now: datetime) -> int:
    business = session.get_one(Business, booking.business_id)
    service = session.get_one(Service, booking.service_id)
    first_day = now.astimezone(_zone(business.timezone)).date()
    last_day = first_day + timedelta(days=OPTIONS_DAYS)
    chosen: list[use_cases.OfferedSlot] = []
    seen = set()
    day = first_day
    while day <= last_day and len(chosen) < OPTIONS_COUNT:
        # A few days at a time: the first free times are usually near, so most searches stop early.
        chunk_end = min(day + timedelta(days=OPTIONS_CHUNK_DAYS - 1), last_day)
        found = use_cases.find_slots(
            session,
            business,
            service,
            day_from=day,
            day_to=chunk_end,
            now=now,
            grid=app.grid,
            exclude_booking_id=booking.id,
        )
        for slot in found:
            if slot.start not in seen and slot.start != booking.start:
                seen.add(slot.start)
                chosen.append(slot)
            if len(chosen) == OPTIONS_COUNT:
                break
        day = chunk_end + timedelta(days=1)
    app.notifier.send_options(session, booking, chosen, now)
    return len(chosen)


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


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
    customer = session.get_one(Customer, booking.customer_id)
    message = {
        "from_name": parsed.from_name or customer.name,
        "from_email": parsed.from_address or "",
        "subject": parsed.subject or "",
        "text": text or "(no text)",
        "verified": verified,
    }
    app.notifier.forward_customer_message(session, booking, message, raw, now)


def _handle_bounce(app: App, session: Session, info: BounceInfo, outcome: Outcome, now: datetime) -> None:
    """Mark permanently failing customer addresses, flag the outbox row, tell the admins."""
    outcome.add("bounce", "permanent" if info.permanent else "temporary", ", ".join(info.recipients)[:200])
    for recipient in info.recipients:
        address = recipient.lower()
        sent = None
        if info.original_message_id:
            sent = session.exec(
                select(OutboxMessage).where(OutboxMessage.message_id == info.original_message_id)
            ).first()
        if sent is None:
            sent = session.exec(
                select(OutboxMessage)
                .where(OutboxMessage.recipient == address, OutboxMessage.status == "sent")
                .order_by(col(OutboxMessage.id).desc())
            ).first()
        if sent is not None:
            sent.last_error = f"bounced: {info.status or ''} {info.diagnostic or ''}".strip()[:500]
            if info.permanent:
                sent.status = "failed"
            session.add(sent)
            outcome.booking_id = outcome.booking_id or sent.booking_id
        if info.permanent:
            for customer in session.exec(select(Customer).where(Customer.email == address)).all():
                customer.bouncing = True
                session.add(customer)
                outcome.add("bounce", "customer_marked_bouncing", address)
        if sent is not None and sent.booking_id is not None and info.action in ("failed", None):
            booking = session.get_one(Booking, sent.booking_id)
            if booking.status == BookingStatus.CONFIRMED.value or info.permanent:
                app.notifier.report_bounce(session, booking, address, sent.kind, info, now)
                outcome.add("bounce", "staff_told", address)
