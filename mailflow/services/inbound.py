"""Inbound mail in the pipeline: the changes a reply makes, and its recorded outcome.

Messages are stored and claimed by ``mailflow.services.inbound_store``; what a
reply is about is ``mailflow.services.reply_targets``. The worker runs the
pipeline (``mailflow.inbound.process``) over a batch inside one
``pipeline_transaction``, calling the steps here that read or change the store
(de-duplication, answers, forwards) and ``finish_messages`` at the end. The
inbound log is ``mailflow.services.mail_log``.

The statements of the hot path are built once, at import, and run as Core.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, bindparam, event, update
from sqlmodel import Session, col, select

from mailflow.booking.model import Actor, ActorKind, Slot
from mailflow.i18n import ngettext
from mailflow.kinds import InboundStatus
from mailflow.outbound.forwarded import DroppedAttachment, slim_original
from mailflow.services.common import audit
from mailflow.services.free_slots import choose_offered, remember_searches, slots_by_chunk
from mailflow.services.webhook_events import plan_customer_message
from mailflow.store import queries
from mailflow.store.batch import batched_inserts
from mailflow.store.engine import connection_of, read_session, write_session
from mailflow.store.links import INSERTS_NEVER_READ_BACK
from mailflow.store.tables import (
    AuditEvent,
    Booking,
    Business,
    Customer,
    InboundMessage,
    OutboxMessage,
    Service,
    Staff,
)

if TYPE_CHECKING:
    from mailflow.outbound.notifier import Notifier

MESSAGE_ID = re.compile(r"<[!-;=?-~]{1,250}>")
"""A Message-ID we repeat in a header: printable ASCII in angle brackets, no space, not too long."""
ANSWER_INTERVAL = timedelta(hours=1)
OPTIONS_COUNT = 5
OPTIONS_DAYS = 21
OPTIONS_CHUNK_DAYS = 3
OPTIONS_FIRST_CHUNKS = 3  # the schedules' first load: nine days, where most searches end
OPTIONS_PER_HOUR = 3
"""Answers with free times (``reschedule_options``) per booking in any hour. A customer asks once,
perhaps again when the time they picked was taken meanwhile: a third answer covers that. Beyond
it, a loop or someone replaying "reschedule" would have each reply run a slot search inside the
write transaction and mail the customer again; the request goes to staff instead."""


@dataclass(frozen=True, slots=True)
class Stored:
    """What the pipeline needs of a stored message's row besides its bytes."""

    id: int
    sha256: str
    envelope_rcpt: str


@dataclass
class Outcome:
    """The record of one message's way through the pipeline.

    ``verdicts`` are stored on the row; ``steps`` (the names of the steps that ran) are not.
    """

    verdicts: list[dict[str, str]] = field(default_factory=list)
    kind: str | None = None
    command: str | None = None
    booking_id: int | None = None
    steps: list[str] = field(default_factory=list)

    def add(self, rule: str, verdict: str, detail: str = "") -> None:
        self.verdicts.append({"rule": rule, "verdict": verdict, "detail": detail[:500]})


# --- storing ---------------------------------------------------------------------


# --- claiming --------------------------------------------------------------------


# --- reading ---------------------------------------------------------------------


def our_addresses(engine: Engine) -> frozenset[str]:
    """Every business's own addresses (sender and contact), lower case: mail from them is a loop."""
    with read_session(engine) as session:
        senders = session.exec(select(Business.sender_email, Business.email)).all()
    return frozenset(address.lower() for pair in senders for address in pair if address)


# --- the pipeline's transaction ----------------------------------------------------


@contextmanager
def pipeline_transaction(engine: Engine) -> Iterator[Session]:
    """One write transaction for a batch of claimed messages: commits on success, rolls back on error.

    Every row it loads is held until it ends, so what the batch's messages share (the
    business, its services and staff) is loaded once, and so are the schedules their offers
    search while no reply of the batch changes a booking (``remember_searches``). The reply
    keys and manage tokens its answers mint are written at its end, one statement per table.
    The steps below take this session; the booking use cases join it with ``within``.
    """
    with write_session(engine) as session, batched_inserts(session, only=INSERTS_NEVER_READ_BACK):
        _keep_loaded(session)
        remember_searches(session)
        yield session


def _keep_loaded(session: Session) -> None:
    """Hold every row the session loads until it ends.

    The identity map only holds rows weakly: without this, the business, the
    services and the staff the batch's messages share would be dropped and
    loaded again for every message (and every email).
    """
    kept: list[object] = []
    event.listen(session, "loaded_as_persistent", lambda _session, row: kept.append(row))
    session.info["mailflow_kept"] = kept


def finish_messages(session: Session, finished: Sequence[tuple[int, Outcome, BaseException | None]]) -> None:
    """Record each ``(row id, outcome, crash)``: ``done`` with its verdicts, or ``error`` with the crash.

    A crash is added to its outcome's verdicts. The claim is released. One statement for all.
    """
    if finished:
        connection_of(session).execute(
            _FINISH, [_finished(row_id, outcome, crash) for row_id, outcome, crash in finished]
        )


def finish_crashed(engine: Engine, row_id: int, outcome: Outcome, crash: BaseException) -> None:
    """In a transaction of its own: message ``row_id`` ends as ``error`` with ``crash`` (bytes kept)."""
    with write_session(engine) as session:
        finish_messages(session, [(row_id, outcome, crash)])


def _finished(row_id: int, outcome: Outcome, crash: BaseException | None) -> dict[str, Any]:
    """The row's final values: ``done`` with the verdicts, or ``error`` with the crash."""
    error = None
    if crash is not None:
        error = f"{type(crash).__name__}: {crash}"
        outcome.add("pipeline", "error", error)
    return {
        "row_id": row_id,
        "new_status": (InboundStatus.ERROR if crash is not None else InboundStatus.DONE).value,
        "new_error": error[:2000] if error else None,
        "new_verdicts": outcome.verdicts,
        "new_kind": outcome.kind,
        "new_command": outcome.command,
        "new_booking_id": outcome.booking_id,
    }


# --- steps inside the transaction --------------------------------------------------


def prefetch_duplicates(session: Session, rows: Sequence[tuple[Stored, str | None]]) -> None:
    """Answer ``is_duplicate`` for a batch's ``(row, Message-ID)`` pairs with one statement.

    The rows' statuses do not change while their batch's transaction runs (they are
    finished at its end), so what this reads stays true for every message of the batch.
    """
    ids = {message_id for _, message_id in rows if message_id}
    hashes = {row.sha256 for row, message_id in rows if not message_id}
    first_by_id: dict[str, int] = {}
    first_by_hash: dict[str, int] = {}
    for row_id, message_id, sha256 in connection_of(session).execute(
        _COPIES, {"ids": sorted(ids), "hashes": sorted(hashes)}
    ):
        if message_id in ids:
            first_by_id[message_id] = min(row_id, first_by_id.get(message_id, row_id))
        first_by_hash[sha256] = min(row_id, first_by_hash.get(sha256, row_id))
    known: dict[int, bool] = session.info.setdefault(_DUPLICATES, {})
    for row, message_id in rows:
        first = first_by_id.get(message_id) if message_id else first_by_hash.get(row.sha256)
        known[row.id] = first is not None and first < row.id


def is_duplicate(session: Session, row: Stored, message_id: str | None) -> bool:
    """Whether an earlier copy (same Message-ID, else same bytes) is stored and not given up on
    (read with the rest of the batch by ``prefetch_duplicates``, or now for this row alone)."""
    if row.id not in session.info.get(_DUPLICATES, {}):
        prefetch_duplicates(session, [(row, message_id)])
    known: dict[int, bool] = session.info[_DUPLICATES]
    return known[row.id]


def booking_by_id(session: Session, booking_id: int) -> Booking:
    """The booking ``booking_id`` (a reply's target); it exists, as targets come from our own rows.
    Its customer, staff member and service come with it: the answers read them all."""
    return queries.booking_with_people(session, booking_id)


def may_answer(session: Session, booking: Booking, sender: str, now: datetime) -> bool:
    """Refusals and "not understood" go out at most once per sender and booking per hour."""
    recent = connection_of(session).execute(
        _RECENT_ANSWER, {"booking_id": booking.id, "sender": sender, "since": now - ANSWER_INTERVAL}
    )
    return recent.first() is None


def note_answer(session: Session, booking: Booking, sender: str, now: datetime) -> None:
    """Record that ``sender`` was answered about ``booking`` now (``inbound.answered``)."""
    audit(
        session,
        business_id=booking.business_id,
        booking_id=booking.id,
        action="inbound.answered",
        actor=Actor(ActorKind.CUSTOMER_REPLY, sender),
        at=now,
    )


def answer_refusal(
    session: Session,
    notifier: Notifier,
    booking: Booking,
    action: str,
    reason: str,
    sender: str,
    now: datetime,
) -> bool:
    """Queue the polite ``action_refused`` answer unless ``sender`` had one within the hour; whether sent."""
    if not may_answer(session, booking, sender, now):
        return False
    notifier.send_refusal(session, booking, action, reason, now)
    note_answer(session, booking, sender, now)
    return True


def options_capped(session: Session, booking: Booking, now: datetime) -> bool:
    """Whether ``booking`` had ``OPTIONS_PER_HOUR`` answers with free times in the last hour."""
    sent = connection_of(session).execute(
        _RECENT_OPTIONS, {"booking_id": booking.id, "since": now - ANSWER_INTERVAL}
    )
    return len(sent.all()) >= OPTIONS_PER_HOUR


def offer_slots(
    session: Session, notifier: Notifier, booking: Booking, now: datetime, grid: timedelta
) -> int:
    """Queue ``reschedule_options`` with up to five free times in the next three weeks; how many.

    Spread over the first days with a free time and over times of day, the
    current staff member and the booking's own time of day first (``choose_offered``).
    """
    business = session.get_one(Business, booking.business_id)
    service = session.get_one(Service, booking.service_id)
    zone = ZoneInfo(business.timezone)
    first_day = now.astimezone(zone).date()
    last_day = first_day + timedelta(days=OPTIONS_DAYS)
    found: dict[date, list[Slot]] = {}
    staff: dict[int, Staff] = {}
    # The choice takes its offers from the first OPTIONS_COUNT days with a free time: search a
    # few days at a time until there are that many, so most searches stop early.
    for chunk in slots_by_chunk(
        session,
        business,
        service,
        day_from=first_day,
        day_to=last_day,
        chunk_days=OPTIONS_CHUNK_DAYS,
        first_chunks=OPTIONS_FIRST_CHUNKS,
        now=now,
        grid=grid,
        exclude_booking_id=booking.id,
    ):
        staff.update(chunk.staff)
        for day, slots in chunk.by_day.items():
            other = [slot for slot in slots if slot.start != booking.start]
            if other:
                found[day] = other
        if len(found) >= OPTIONS_COUNT:
            break
    chosen = choose_offered(
        session,
        business,
        found,
        staff,
        current_staff_id=booking.staff_id,
        usual_time=booking.start.astimezone(zone).time(),
        count=OPTIONS_COUNT,
        exclude_booking_id=booking.id,
    )
    notifier.send_options(session, booking, chosen, now)
    return len(chosen)


def forward_to_staff(
    session: Session,
    notifier: Notifier,
    booking: Booking,
    *,
    from_name: str | None,
    from_email: str,
    subject: str,
    text: str,
    raw: bytes,
    verified: bool,
    now: datetime,
    max_bytes: int = 5 * 1024 * 1024,
    message_id: str | None = None,
) -> None:
    """Queue a customer's message to the booking's staff, the original ``raw`` attached (its
    largest attachments left out, with a note, when it has more than ``max_bytes``).

    ``from_name`` empty: the customer's name; ``text`` empty: "(no text)"; ``verified``
    says whether the sender is the booking's customer.
    """
    customer = session.get_one(Customer, booking.customer_id)
    original, dropped = slim_original(raw, max_bytes)
    text = text or "(no text)"
    if dropped:
        staff = session.get_one(Staff, booking.staff_id)
        text += "\n\n" + dropped_note(staff.locale, dropped, max_bytes)
    message = {
        "from_name": from_name or customer.name,
        "from_email": from_email,
        "subject": subject,
        "text": text,
        "verified": verified,
    }
    answered = message_id if message_id and MESSAGE_ID.fullmatch(message_id) else None
    notifier.forward_customer_message(session, booking, message, original, now, message_id=answered)
    plan_customer_message(session, booking, Actor(ActorKind.CUSTOMER_REPLY, from_email), message, now)


def dropped_note(locale: str, dropped: Sequence[DroppedAttachment], max_bytes: int) -> str:
    """What a forward says about the attachments it left out, in the reader's language."""
    names = ", ".join(f"{item.filename} ({item.size // 1024} KB)" for item in dropped)
    return ngettext(
        locale,
        "[mailflow: {n} attachment was left out of this forward, the original being over {limit} MB: "
        "{names}. Ask the customer to send it another way.]",
        "[mailflow: {n} attachments were left out of this forward, the original being over {limit} MB: "
        "{names}. Ask the customer to send them another way.]",
        len(dropped),
        limit=max_bytes // (1024 * 1024) or 1,
        names=names,
    )


def relay_staff_reply(
    session: Session,
    notifier: Notifier,
    booking: Booking,
    staff_email: str,
    subject: str,
    text: str,
    now: datetime,
    in_reply_to: str | None = None,
) -> None:
    """Queue a staff member's answer to a forwarded message to the customer, from the business
    (threaded under the customer's own email ``in_reply_to`` when known)."""
    notifier.relay_staff_reply(session, booking, staff_email, subject, text, now, in_reply_to)


def tell_reply_not_relayed(
    session: Session, notifier: Notifier, booking: Booking, staff_email: str, now: datetime
) -> bool:
    """Tell a staff member that their reply to a notification reached nobody, and how to reach the
    customer; at most once an hour per staff member and booking (False: told already)."""
    if not may_answer(session, booking, staff_email, now):
        return False
    notifier.tell_reply_not_relayed(session, booking, staff_email, now)
    note_answer(session, booking, staff_email, now)
    return True


_DUPLICATES = "mailflow_duplicates"  # session.info: row id -> whether an earlier copy is stored
_COPIES = select(InboundMessage.id, InboundMessage.message_id, InboundMessage.sha256).where(
    col(InboundMessage.message_id).in_(bindparam("ids", expanding=True))
    | col(InboundMessage.sha256).in_(bindparam("hashes", expanding=True)),
    InboundMessage.status != InboundStatus.ERROR.value,
)


# Statements built once: the pipeline runs them for every message.
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
_RECENT_OPTIONS = (
    select(OutboxMessage.id)
    .where(
        OutboxMessage.booking_id == bindparam("booking_id"),
        OutboxMessage.kind == "reschedule_options",
        col(OutboxMessage.created_at) > bindparam("since"),
    )
    .limit(OPTIONS_PER_HOUR)
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
