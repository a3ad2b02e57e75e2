"""Reminders: rows planned in the booking's transaction, turned into emails by the sweep.

One row per (booking, offset). ``plan_reminders`` (on create and on every
move) sets each row's due time from the booking's start; an offset already due
at planning time is ``skipped``. ``drop_reminders`` (on cancel) drops what is
pending. The sweep takes due ``pending`` rows whose booking is still confirmed,
unchanged since planning and not started, and queues the reminder email;
after downtime, overdue reminders still go out as long as the booking has not
started.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Engine, bindparam, update
from sqlmodel import Session, col, select

from mailflow.booking.localtime import to_utc
from mailflow.booking.model import BookingStatus
from mailflow.outbound.template_store import read_in_force
from mailflow.store.batch import batched_inserts
from mailflow.store.engine import RENDER_IN_TRANSACTION, connection_of, write_session
from mailflow.store.tables import Booking, Business, Customer, Reminder, Service, Staff, pk


class ReminderStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    SKIPPED = "skipped"
    DROPPED = "dropped"


def plan_reminders(session: Session, booking: Booking, service: Service, now: datetime) -> None:
    """(Re)plan every reminder of ``booking`` from its current start."""
    existing = {
        row.offset_minutes: row
        for row in session.exec(select(Reminder).where(Reminder.booking_id == booking.id))
    }
    offsets = sorted(set(service.reminder_offsets_minutes))
    for offset in offsets:
        due = to_utc(booking.start) - timedelta(minutes=offset)  # elapsed time: 24 h is 24 h across DST
        row = existing.pop(offset, None) or Reminder(booking_id=pk(booking), offset_minutes=offset)
        row.due_at = due
        row.booking_version = booking.version
        row.sent_at = None
        row.status = ReminderStatus.SKIPPED.value if due <= now else ReminderStatus.PENDING.value
        session.add(row)
    for stale in existing.values():  # an offset the service no longer has
        if stale.status == ReminderStatus.PENDING.value:
            stale.status = ReminderStatus.DROPPED.value
            session.add(stale)


def replan_offsets(session: Session, booking: Booking, offsets: list[int], now: datetime) -> None:
    """After the service's reminder offsets changed: one reminder per offset for ``booking``.

    A reminder already sent stays sent (the customer is not reminded twice of the same
    start); a pending one keeps its time; an offset that is new, or was dropped before and
    comes back (24 h -> 1 h -> 24 h), is pending again when still ahead, else skipped;
    offsets the service no longer has are dropped when pending.
    """
    existing = {
        row.offset_minutes: row
        for row in session.exec(select(Reminder).where(Reminder.booking_id == booking.id))
    }
    wanted = set(offsets)
    for offset in sorted(wanted):
        row = existing.get(offset)
        if row is not None and row.status in (ReminderStatus.SENT.value, ReminderStatus.PENDING.value):
            continue
        due = to_utc(booking.start) - timedelta(minutes=offset)  # elapsed time: 24 h is 24 h across DST
        row = row or Reminder(booking_id=pk(booking), offset_minutes=offset)
        row.due_at = due
        row.booking_version = booking.version
        row.sent_at = None
        row.status = ReminderStatus.SKIPPED.value if due <= now else ReminderStatus.PENDING.value
        session.add(row)
    for offset, row in existing.items():
        if offset not in wanted and row.status == ReminderStatus.PENDING.value:
            row.status = ReminderStatus.DROPPED.value
            session.add(row)


def drop_reminders(session: Session, booking_id: int) -> None:
    """Drop the pending reminders of a cancelled booking."""
    connection_of(session).execute(_DROP, {"dropped_booking": booking_id})


_DROP = (
    update(Reminder)
    .where(
        col(Reminder.booking_id) == bindparam("dropped_booking"),
        col(Reminder.status) == ReminderStatus.PENDING.value,
    )
    .values(status=ReminderStatus.DROPPED.value)
)


ReminderSender = Callable[[Session, Booking, datetime], None]


def sweep_reminders(
    engine: Engine,
    send: ReminderSender,
    now: datetime,
    limit: int = 200,
    stop: Callable[[], bool] | None = None,
) -> int:
    """Queue every due reminder (claimed under lock, so concurrent sweeps never double up).

    ``send(session, booking, now)`` queues the reminder email in the same
    transaction. Reminders are taken ``limit`` at a time, each batch in its own
    transaction, until none is due (or ``stop()`` says so between batches).
    Returns how many were queued.
    """
    queued = 0
    while True:
        claimed, sent = _sweep_batch(engine, send, now, limit)
        queued += sent
        if claimed < limit or (stop is not None and stop()):
            return queued


def _sweep_batch(engine: Engine, send: ReminderSender, now: datetime, limit: int) -> tuple[int, int]:
    """One batch: (reminders claimed, reminder emails queued).

    The rows the emails read are loaded a table at a time for the whole batch (one query per
    table, not five per reminder) and held, so ``send`` finds them in the session; the
    reminders' new states are written in two statements.
    """
    with write_session(engine) as session:
        # On PostgreSQL the reminders are rendered in the batch's transaction: rendering holds
        # only the claimed reminders' row locks, which nobody waits for (SKIP LOCKED), and each
        # outbox row is written once, body included, instead of inserted and then updated in a
        # second transaction. SQLite's one write lock must not wait for rendering: there the
        # emails are rendered after the commit.
        if engine.dialect.name == "postgresql":
            session.info[RENDER_IN_TRANSACTION] = True
        due = session.exec(
            select(Reminder)
            .where(Reminder.status == ReminderStatus.PENDING.value, col(Reminder.due_at) <= now)
            .order_by(col(Reminder.due_at), col(Reminder.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        if not due:
            return 0, 0
        bookings, _held = _load_around(session, {reminder.booking_id for reminder in due})
        sent, dropped = [], []
        with batched_inserts(session):  # the emails' tokens, reply keys and outbox rows: 3 statements
            for reminder in due:
                booking = bookings[reminder.booking_id]
                current = (
                    booking.status == BookingStatus.CONFIRMED.value
                    and booking.version == reminder.booking_version
                    and booking.start > now
                )
                if current:
                    send(session, booking, now)
                    sent.append(pk(reminder))
                else:
                    dropped.append(pk(reminder))
        for ids, values in (
            (sent, {"status": ReminderStatus.SENT.value, "sent_at": now}),
            (dropped, {"status": ReminderStatus.DROPPED.value}),
        ):
            if ids:
                session.execute(
                    update(Reminder)
                    .where(col(Reminder.id).in_(ids))
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
    return len(due), len(sent)


def _load_around(session: Session, booking_ids: set[int]) -> tuple[dict[int, Booking], list[object]]:
    """``booking_ids``' bookings by id, and their businesses, services, staff and customers (kept
    referenced: the session's identity map holds rows only while someone does); the
    businesses' edited templates are read too, one query for all."""
    bookings = {pk(b): b for b in session.exec(select(Booking).where(col(Booking.id).in_(booking_ids))).all()}
    rows = bookings.values()
    held: list[object] = []
    held += session.exec(select(Business).where(col(Business.id).in_({b.business_id for b in rows}))).all()
    held += session.exec(select(Service).where(col(Service.id).in_({b.service_id for b in rows}))).all()
    held += session.exec(select(Staff).where(col(Staff.id).in_({b.staff_id for b in rows}))).all()
    held += session.exec(select(Customer).where(col(Customer.id).in_({b.customer_id for b in rows}))).all()
    read_in_force(session, {b.business_id for b in rows})
    return bookings, held
