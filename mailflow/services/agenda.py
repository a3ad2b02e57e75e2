"""The daily agenda: tomorrow's bookings, emailed to each staff member the evening before.

The worker calls ``queue_due_agendas`` every few minutes: every time zone of active staff
whose local time is between ``AGENDA_AT`` and ``AGENDA_AT + AGENDA_CATCH_UP`` gets its
agendas queued. So a zone that appears after start-up (a new staff member in Lisbon) is
served the same evening, and a worker that was down at 18:00 catches up; each staff member
gets one agenda a day whoever queues it (the Message-ID is unique per staff member and day).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from mailflow.booking.model import BookingStatus
from mailflow.outbound.context import load_facts, staff_reader
from mailflow.outbound.formatting import format_when
from mailflow.store.engine import read_session, write_session
from mailflow.store.tables import Booking, Customer, OutboxMessage, Service, Staff, pk

if TYPE_CHECKING:
    from mailflow.outbound.notifier import Notifier


AGENDA_AT = time(18, 0)
"""Local time (the staff member's zone) at which tomorrow's agenda goes out."""
AGENDA_CATCH_UP = timedelta(hours=2)
"""How long after ``AGENDA_AT`` an agenda not yet queued still goes out (a worker that was down)."""


def agenda_due(zone: str, now: datetime) -> bool:
    """Whether ``now`` is, in ``zone``, within the agenda's window of the day.

    >>> from datetime import UTC
    >>> agenda_due("Europe/Berlin", datetime(2026, 12, 7, 17, 5, tzinfo=UTC))  # 18:05 in Berlin
    True
    >>> agenda_due("Europe/Lisbon", datetime(2026, 12, 7, 17, 5, tzinfo=UTC))  # 17:05 in Lisbon
    False
    """
    local = now.astimezone(ZoneInfo(zone))
    opens = datetime.combine(local.date(), AGENDA_AT, ZoneInfo(zone))
    return opens <= local < opens + AGENDA_CATCH_UP


def queue_due_agendas(engine: Engine, notifier: Notifier, public_url: str, now: datetime) -> int:
    """Queue tomorrow's agendas in every staff time zone where they are due at ``now``
    (``agenda_due``); the zones are read afresh each time. Returns how many were queued."""
    zones = [zone for zone in staff_timezones(engine) if agenda_due(zone, now)]
    return sum(queue_daily_agendas(engine, notifier, public_url, zone, now) for zone in zones)


def staff_timezones(engine: Engine) -> list[str]:
    """The time zones of active staff: the daily agenda runs once a day in each."""
    with read_session(engine) as session:
        return sorted(set(session.exec(select(Staff.timezone).where(col(Staff.active).is_(True))).all()))


def agenda_message_id(staff_id: int, day: date, domain: str) -> str:
    """One Message-ID per staff member and day: a second worker's agenda collides on it."""
    return f"<agenda.{staff_id}.{day.isoformat()}@{domain}>"


def queue_daily_agendas(engine: Engine, notifier: Notifier, public_url: str, zone: str, now: datetime) -> int:
    """Queue tomorrow's agenda for each active staff member in ``zone`` who has bookings then
    (and has not turned it off); each in its own transaction, none twice (the Message-ID is
    unique per staff member and day). Returns how many were queued."""
    tomorrow = now.astimezone(ZoneInfo(zone)).date() + timedelta(days=1)
    start = datetime.combine(tomorrow, time(0), ZoneInfo(zone))
    end = start + timedelta(days=1)
    domain = notifier.builder.settings.message_domain
    with read_session(engine) as session:
        staff_ids = session.exec(
            select(Staff.id).where(Staff.timezone == zone, col(Staff.active).is_(True))
        ).all()
        wanted = {
            staff_id: agenda_message_id(staff_id, tomorrow, domain) for staff_id in staff_ids if staff_id
        }
        done = set(  # queued already (an earlier tick, another worker): not built again
            session.exec(
                select(OutboxMessage.message_id).where(col(OutboxMessage.message_id).in_(wanted.values()))
            ).all()
        )
    queued = 0
    for staff_id in [staff_id for staff_id, message_id in wanted.items() if message_id not in done]:
        try:
            with write_session(engine) as session:
                member = session.get_one(Staff, staff_id)
                queued += _queue_agenda(notifier, public_url, session, member, tomorrow, start, end, now)
        except IntegrityError:  # another process queued this agenda already
            continue
    return queued


def _queue_agenda(
    notifier: Notifier,
    public_url: str,
    session: Session,
    staff: Staff,
    day: date,
    start: datetime,
    end: datetime,
    now: datetime,
) -> int:
    if not staff.notification_prefs.get("daily_agenda", True):
        return 0
    bookings = session.exec(
        select(Booking)
        .where(
            Booking.staff_id == staff.id,
            Booking.status == BookingStatus.CONFIRMED.value,
            col(Booking.start) >= start,
            col(Booking.start) < end,
        )
        .order_by(col(Booking.start))
    ).all()
    if not bookings:
        return 0
    reader = staff_reader(staff)
    public = public_url
    items = []
    for booking in bookings:
        customer = session.get_one(Customer, booking.customer_id)
        service = session.get_one(Service, booking.service_id)
        when = format_when(booking.start, booking.end, reader.locale, reader.timezone, regional=True)
        items.append(
            {
                "time_range": when.time_range,
                "spoken_range": when.spoken_range,
                "service_name": service.name_in(reader.locale),
                "customer_name": customer.name,
                "customer_email": customer.email,
                "customer_phone": customer.phone,
                "ref": booking.ref,
                "url": f"{public}/admin/bookings/{booking.ref}",
            }
        )
    facts = load_facts(session, bookings[0])
    first = format_when(bookings[0].start, bookings[0].end, reader.locale, reader.timezone, regional=True)
    builder = notifier.builder
    prepared = builder.prepare(
        session,
        facts,
        "daily_agenda",
        reader,
        now=now,
        # The button opens the admin calendar of that day (the staff member's own, for staff).
        extra={
            "agenda": {
                "date": first.date,
                "items": items,
                "url": f"{public}/admin/bookings?view=day&day={day}",
            }
        },
        message_id=agenda_message_id(pk(staff), day, builder.settings.message_domain),
    )
    notifier.queue(  # rendered once the transaction commits, not under its lock
        session,
        prepared,
        business_id=staff.business_id,
        booking_id=None,
        envelope_from=notifier.envelope_from(facts),
        now=now,
    )
    session.flush()
    return 1
