"""The staff calendar: read models of the list, day and booking views, and resending a confirmation.

Read functions take the caller's read session; ``resend_confirmation`` is an action and
opens its own transaction. ``staff_id`` None means an admin's view (every staff member of
the business); a staff member's views hold only their own bookings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from mailflow.booking.model import Actor, BookingStatus
from mailflow.errors import InvalidInput
from mailflow.i18n import N_
from mailflow.services.common import audit
from mailflow.store import queries
from mailflow.store.engine import write_session
from mailflow.store.tables import (
    AuditEvent,
    Booking,
    Business,
    Customer,
    InboundMessage,
    OutboxMessage,
    Service,
    Staff,
    pk,
)

if TYPE_CHECKING:
    from mailflow.outbound.notifier import Notifier


def when_text(start: datetime, end: datetime, zone: str) -> str:
    """``Tue 8 Dec 2026, 10:00–10:45`` in ``zone``."""
    tz = ZoneInfo(zone)
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    return f"{local_start:%a} {local_start.day} {local_start:%b %Y, %H:%M}–{local_end:%H:%M}"


@dataclass(frozen=True)
class Row:
    """A booking as the calendar lists it."""

    ref: str
    status: str
    origin: str
    service: str
    staff: str
    staff_email: str
    customer: str
    customer_email: str
    bouncing: bool
    when: str
    day: date
    start: datetime


def find_booking(session: Session, business_id: int, ref: str) -> Booking | None:
    """Booking ``ref`` (any case, spaces trimmed) of the business; None when unknown or another's."""
    booking = session.exec(select(Booking).where(Booking.ref == ref.strip().upper())).first()
    if booking is None or booking.business_id != business_id:
        return None
    return booking


def bookings_between(
    session: Session, *, business_id: int, staff_id: int | None, first: date, last: date, zone: str
) -> list[Row]:
    """The bookings (cancelled too) starting on exactly the local days ``first``..``last`` in
    ``zone``, by start time; only ``staff_id``'s unless it is None."""
    window = queries.local_days(first, last, zone)
    statement = select(Booking).where(
        col(Booking.business_id) == business_id,
        col(Booking.start) >= window.start,
        col(Booking.start) < window.end,
    )
    if staff_id is not None:
        statement = statement.where(col(Booking.staff_id) == staff_id)
    bookings = session.exec(statement.order_by(col(Booking.start), col(Booking.id))).all()
    return rows_of(session, list(bookings), zone)


def rows_of(session: Session, bookings: list[Booking], zone: str) -> list[Row]:
    """``bookings`` as the calendar lists them, times in ``zone``."""
    services = {pk(s): s for s in session.exec(select(Service)).all()}
    staff = {pk(s): s for s in session.exec(select(Staff)).all()}
    rows = []
    tz = ZoneInfo(zone)
    for booking in bookings:
        customer = session.get_one(Customer, booking.customer_id)
        member = staff[booking.staff_id]
        rows.append(
            Row(
                ref=booking.ref,
                status=booking.status,
                origin=booking.origin,
                service=services[booking.service_id].name,
                staff=member.name or member.email,
                staff_email=member.email,
                customer=customer.name,
                customer_email=customer.email,
                bouncing=customer.bouncing,
                when=when_text(booking.start, booking.end, zone),
                day=booking.start.astimezone(tz).date(),
                start=booking.start,
            )
        )
    return rows


def day_columns(session: Session, *, business_id: int, staff_id: int | None) -> list[str]:
    """The names heading the day view's columns: every active staff member, or only ``staff_id``."""
    members = session.exec(
        select(Staff)
        .where(Staff.business_id == business_id, col(Staff.active).is_(True))
        .order_by(col(Staff.id))
    ).all()
    return [m.name or m.email for m in members if staff_id is None or m.id == staff_id]


@dataclass(frozen=True)
class BookingDetail:
    """One booking as the admin's booking page shows it: the rows around it and what happened."""

    business: Business
    service: Service
    staff: Staff
    customer: Customer
    emails: list[dict[str, Any]]
    replies: list[dict[str, str]]
    history: list[dict[str, str]]


def booking_detail(session: Session, booking: Booking) -> BookingDetail:
    """The booking page's read model of ``booking``: its emails, the replies to it and its audit
    history, oldest first, with times in the business's zone."""
    business = session.get_one(Business, booking.business_id)
    zone = ZoneInfo(business.timezone)
    emails = session.exec(
        select(OutboxMessage)
        .where(OutboxMessage.booking_id == booking.id)
        .order_by(col(OutboxMessage.created_at), col(OutboxMessage.id))
    ).all()
    replies = session.exec(
        select(InboundMessage)
        .where(InboundMessage.booking_id == booking.id)
        .order_by(col(InboundMessage.received_at), col(InboundMessage.id))
    ).all()
    history = session.exec(
        select(AuditEvent).where(AuditEvent.booking_id == booking.id).order_by(col(AuditEvent.at))
    ).all()
    return BookingDetail(
        business=business,
        service=session.get_one(Service, booking.service_id),
        staff=session.get_one(Staff, booking.staff_id),
        customer=session.get_one(Customer, booking.customer_id),
        emails=[
            {
                "kind": e.kind,
                "recipient": e.recipient,
                "status": e.status,
                "attempts": e.attempts,
                "last_error": e.last_error or "",
                "subject": str((e.context or {}).get("subject", "")),
                "created": e.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            }
            for e in emails
        ],
        replies=[
            {
                "received": r.received_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                "sender": r.envelope_from,
                "kind": r.kind or "",
                "command": r.command or "",
                "status": r.status,
                "verdict": _verdict(r.verdicts),
                "error": r.error or "",
            }
            for r in replies
        ],
        history=[
            {
                "at": h.at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                "action": h.action,
                "by": h.actor_label or h.actor_kind,
            }
            for h in history
        ],
    )


def _verdict(verdicts: list[dict[str, Any]]) -> str:
    """The pipeline's last verdict on an inbound message, as one line (``act: cancelled``)."""
    for entry in reversed(verdicts or []):
        rule, verdict = str(entry.get("rule", "")), str(entry.get("verdict", ""))
        if rule or verdict:
            return f"{rule}: {verdict}"
    return ""


def resend_confirmation(engine: Engine, ref: str, *, actor: Actor, now: datetime, notifier: Notifier) -> None:
    """Queue booking ``ref``'s confirmation again, with a fresh manage link, for its customer.

    One transaction, audited on the booking (``booking.confirmation_resent``). Raises
    ``NotFound`` for an unknown booking, ``InvalidInput`` (field ``resend``) when the booking
    is cancelled or the customer's address bounces (the message says what to do instead).
    """
    with write_session(engine) as session:
        booking = queries.booking_by_ref(session, ref)
        customer = session.get_one(Customer, booking.customer_id)
        if booking.status != BookingStatus.CONFIRMED.value:
            raise InvalidInput(
                N_("This booking is cancelled; there is no confirmation to send."), field="resend"
            )
        if customer.bouncing:
            raise InvalidInput(
                N_(
                    "Emails to {email} bounce, so nothing is sent to it. "
                    "Correct the address or clear the flag below, then resend."
                ),
                email=customer.email,
                field="resend",
            )
        notifier.resend_confirmation(session, booking, now)
        audit(
            session,
            business_id=booking.business_id,
            booking_id=booking.id,
            action="booking.confirmation_resent",
            actor=actor,
            at=now,
        )
