"""The inbound pipeline: stored raw first, then a list of small named steps, each recorded.

parse -> ``STEPS`` (:mod:`mailflow.inbound.steps`): deduplicate -> classify (loop,
auto-reply, bounce, feedback) -> target -> verify_sender -> check_dmarc ->
staff_reply -> calendar_reply -> strip -> command -> act -> answer_or_forward.

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
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mailflow.inbound.commands import parse_command
from mailflow.inbound.itip import calendar_reply
from mailflow.inbound.parse import parse_message
from mailflow.inbound.rules import RuleContext, classify
from mailflow.inbound.steps import (
    STEPS,
    Inbound,
    Prepared,
    dmarc_failure,
    run_steps,
    target_addresses,
    target_references,
)
from mailflow.inbound.strip import new_text
from mailflow.services import inbound as store
from mailflow.services.inbound import Outcome, Stored
from mailflow.services.inbound_store import (
    CLAIM_LEASE,
    Received,
    claim_received,
    has_received,
    header_message_id,
    load_stored,
    store_many,
    store_raw,
)
from mailflow.services.reply_targets import Target, prefetch_targets, reply_keys_in, target_ref
from mailflow.store.engine import database_unavailable

if TYPE_CHECKING:
    from sqlmodel import Session

    from mailflow.parts import Mailroom

__all__ = [
    "BATCH",
    "CLAIM_LEASE",
    "STEPS",
    "Outcome",
    "Prepared",
    "Received",
    "Stored",
    "Target",
    "claim_received",
    "dmarc_failure",
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
BACKLOG_BATCH = 32
"""Messages per write transaction when a claim comes back full (a backlog waits): a reply then
waits for those before it anyway, and a larger transaction spends fewer commits and fewer reads
of what a batch shares (the staff's schedules, the business, its admins) on each."""


# --- the pipeline ------------------------------------------------------------------


def inspect_message(room: Mailroom, raw: bytes, rcpt: str = "") -> dict[str, Any]:
    """A dry run: what the pipeline would make of ``raw`` (nothing is stored or sent)."""
    parsed = parse_message(raw)
    classification = classify(parsed, _rule_context(room))
    text = new_text(parsed.message) if parsed.message is not None else ""
    command = parse_command(text, parsed.subject or "")
    ref = target_ref(
        room.engine,
        target_addresses(parsed, [rcpt] if rcpt else []),
        target_references(parsed),
        room.inbound_domain,
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


def _rule_context(room: Mailroom) -> RuleContext:
    return RuleContext(our_addresses=store.our_addresses(room.engine), inbound_domain=room.inbound_domain)


def process_pending(room: Mailroom, now: datetime, limit: int = 100) -> int:
    """Run the pipeline over every stored message; returns how many were processed."""
    context = _rule_context(room)
    done = 0
    while True:
        ids = claim_received(room.engine, now, limit, room.claim_lease)
        if not ids:
            return done
        size = BACKLOG_BATCH if len(ids) == limit else BATCH
        for first in range(0, len(ids), size):
            process_batch(room, ids[first : first + size], now, context)
        done += len(ids)
        if len(ids) < limit:
            return done


def prepare(raw: bytes, context: RuleContext) -> Prepared:
    """Parse, classify and (for a person's reply) strip and read the command; no database."""
    parsed = parse_message(raw)
    classification = classify(parsed, context)
    text, command, calendar = "", None, None
    if classification.may_act:
        text = new_text(parsed.message) if parsed.message is not None else ""
        command = parse_command(text, parsed.subject or "")
        calendar = calendar_reply(parsed.message)
    return Prepared(raw, parsed, classification, text, command, calendar)


def process_one(room: Mailroom, row_id: int, now: datetime, context: RuleContext | None = None) -> Outcome:
    """Run the pipeline for one stored message; a crash is kept on the row, never lost."""
    return process_batch(room, [row_id], now, context)[0]


def process_batch(
    room: Mailroom, row_ids: list[int], now: datetime, context: RuleContext | None = None
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
    context = context or _rule_context(room)
    outcomes = {row_id: Outcome() for row_id in row_ids}
    found = load_stored(room.engine, row_ids)
    stored = {row.id: Stored(row.id, row.sha256, row.envelope_rcpt) for row in found}
    prepared: dict[int, Prepared | Exception] = {}
    for row in found:
        try:
            prepared[row.id] = prepare(row.raw, context)
        except Exception as exc:  # kept on the row below, like a crash in the transaction
            log.exception("inbound message %d failed", row.id, extra={"inbound_id": row.id})
            prepared[row.id] = exc
    try:
        with store.pipeline_transaction(room.engine) as session:
            store.prefetch_duplicates(
                session,
                [
                    (stored[i], item.parsed.message_id)
                    for i, item in prepared.items()
                    if isinstance(item, Prepared)
                ],
            )
            prefetch_targets(session, _keys_to_act_on(stored, prepared, room.inbound_domain))
            finished: list[tuple[int, Outcome, BaseException | None]] = []
            for row_id in (row_id for row_id in row_ids if row_id in stored):
                ready, outcome = prepared[row_id], outcomes[row_id]
                if isinstance(ready, Exception):
                    finished.append((row_id, outcome, ready))
                    continue
                _pipeline(room, session, stored[row_id], ready, outcome, now)
                finished.append((row_id, outcome, None))
            store.finish_messages(session, finished)
    except Exception as exc:
        if database_unavailable(exc):
            # Nothing is wrong with the messages: kept as claimed, they are taken again when the
            # claim runs out, rather than marked as crashed (error) for a database restart.
            raise
        if len(row_ids) > 1:
            log.warning("inbound batch of %d failed (%s); each message on its own", len(row_ids), exc)
            return [process_one(room, row_id, now, context) for row_id in row_ids]
        log.exception("inbound message %d failed", row_ids[0], extra={"inbound_id": row_ids[0]})
        store.finish_crashed(room.engine, row_ids[0], outcomes[row_ids[0]], exc)
    return [outcomes[row_id] for row_id in row_ids]


def _keys_to_act_on(
    stored: dict[int, Stored], prepared: dict[int, Prepared | Exception], domain: str
) -> set[str]:
    """The reply keys of the batch's messages that may act (the others never look for a target)."""
    keys: set[str] = set()
    for row_id, ready in prepared.items():
        if isinstance(ready, Prepared) and ready.classification.may_act:
            rcpts = [stored[row_id].envelope_rcpt] if stored[row_id].envelope_rcpt else []
            keys.update(reply_keys_in(target_addresses(ready.parsed, rcpts), domain))
    return keys


def _pipeline(
    room: Mailroom, session: Session, row: Stored, prepared: Prepared, outcome: Outcome, now: datetime
) -> None:
    """Record what parsing found, then run ``STEPS`` (see :mod:`mailflow.inbound.steps`)."""
    parsed = prepared.parsed
    outcome.add("parse", "ok" if parsed.message is not None else "malformed", "; ".join(parsed.defects)[:200])
    run_steps(Inbound(room, session, row, prepared, outcome, now))
