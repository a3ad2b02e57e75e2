"""The customer's side of a booking: opening a manage link, what the manage page shows, and
"find my booking" (the confirmations sent again to an address).

Read functions take the caller's read session; ``resend_links`` is an action and opens its
own transaction. What the customer may do is always ``manage_allowed``'s decision (``decide``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from mailflow.booking.model import Actor, ActorKind, BookingStatus
from mailflow.booking.policy import ManageDecision, ManageReason
from mailflow.errors import InvalidInput
from mailflow.i18n import N_, Nn_, gettext, ngettext
from mailflow.outbound.context import BookingFacts, change_instructions, decide, load_facts
from mailflow.outbound.formatting import format_duration, format_when, in_person, venue_time
from mailflow.outbound.i18n import message
from mailflow.services.common import LIMITS, audit, check_text
from mailflow.services.webhook_events import plan_customer_message
from mailflow.store import queries
from mailflow.store.engine import write_session
from mailflow.store.links import rows_for_token
from mailflow.store.queries import state_of
from mailflow.store.tables import AuditEvent, Booking, Customer, Staff

if TYPE_CHECKING:
    from mailflow.outbound.notifier import Notifier

RESEND_LIMIT = 10
"""At most this many upcoming bookings get their confirmation again per "find my booking"."""

MESSAGES_PER_HOUR = 5
"""At most this many messages per booking and hour from the manage page's contact form."""


def open_manage_link(session: Session, token: str, now: datetime) -> BookingFacts | None:
    """The booking a manage link's ``token`` opens, with the rows around it; None when the token
    is unknown, tampered with or expired (alike, so nothing is leaked)."""
    rows = rows_for_token(session, token, now)
    if rows is None:
        return None
    booking, business, service, staff, customer = rows
    return BookingFacts(business, service, staff, customer, state_of(booking), booking.note)


def booking_facts(session: Session, ref: str) -> BookingFacts:
    """Booking ``ref`` with the rows around it (as it is now); ``NotFound`` for an unknown one."""
    return load_facts(session, queries.booking_by_ref(session, ref))


@dataclass(frozen=True, slots=True)
class BookingSummary:
    """A booking as the customer pages describe it, in the reader's language and time zone."""

    ref: str
    status: str
    service_name: str
    duration: str
    when: str
    venue_when: str
    """The start on the venue's clock ("4:00 PM in Berlin") when an in-person appointment is
    shown in another zone, else ""."""
    staff_name: str
    location: str
    cancel_reason: str | None


def summary_of(facts: BookingFacts, locale: str, zone: str | None = None) -> BookingSummary:
    """What the customer pages show of the booking in ``facts``, in ``locale`` and ``zone`` (a
    known zone name; default the customer's), with the venue's time beside it when they differ."""
    booking = facts.booking
    shown = zone or facts.customer.timezone
    when = format_when(booking.start, booking.end, locale, shown)
    at_venue = in_person(facts.service.location)
    return BookingSummary(
        ref=booking.ref,
        status=booking.status.value,
        service_name=facts.service.name_in(locale),
        duration=format_duration(timedelta(minutes=facts.service.duration_minutes), locale),
        when=when.when,
        venue_when=venue_time(booking.start, shown, facts.business.timezone, locale) if at_venue else "",
        staff_name=facts.staff.name or facts.staff.email,
        location=facts.service.location or facts.business.address,
        cancel_reason=booking.cancel_reason,
    )


@dataclass(frozen=True, slots=True)
class ManagePage:
    """What the manage page shows: the booking, what the customer may do and why, whom to call."""

    summary: BookingSummary
    decision: ManageDecision
    reason_text: str
    change_instructions: str


def manage_page(facts: BookingFacts, locale: str, now: datetime, zone: str | None = None) -> ManagePage:
    """The manage page of the booking in ``facts`` at ``now``, in ``locale`` and ``zone`` (default
    the customer's)."""
    decision = decide(facts, now)
    return ManagePage(
        summary=summary_of(facts, locale, zone),
        decision=decision,
        reason_text=" ".join(_why(facts, locale, decision.reason.value)),
        change_instructions=change_instructions(facts.business, facts.service, locale),
    )


def refusal_lines(facts: BookingFacts, locale: str, reason: str) -> list[str]:
    """Why a customer's change was refused (a ``PolicyRefused.reason``, with the service's
    cut-off when that was the reason) and how to reach the business."""
    return [*_why(facts, locale, reason), change_instructions(facts.business, facts.service, locale)]


def _why(facts: BookingFacts, locale: str, reason: str) -> list[str]:
    """The reason's sentence; past the cut-off, followed by what the cut-off is."""
    lines = [message(locale, f"reason.{reason}")]
    if reason == ManageReason.PAST_CUTOFF.value and facts.service.change_cutoff_minutes > 0:
        lines.append(cutoff_text(facts.service.change_cutoff_minutes, locale))
    return lines


def cutoff_text(minutes: int, locale: str) -> str:
    """The cut-off in words, in ``locale``: whole days from two days on, else whole hours,
    else minutes ("Changes are possible up to 24 hours before the appointment.")."""
    if minutes % 1440 == 0 and minutes >= 2 * 1440:
        return ngettext(
            locale,
            "Changes are possible up to {n} day before the appointment.",
            "Changes are possible up to {n} days before the appointment.",
            minutes // 1440,
        )
    if minutes % 60 == 0:
        return ngettext(
            locale,
            "Changes are possible up to {n} hour before the appointment.",
            "Changes are possible up to {n} hours before the appointment.",
            minutes // 60,
        )
    return ngettext(
        locale,
        "Changes are possible up to {n} minute before the appointment.",
        "Changes are possible up to {n} minutes before the appointment.",
        minutes,
    )


def resend_links(engine: Engine, address: str, *, now: datetime, notifier: Notifier) -> int:
    """Send the confirmation again, each with a fresh manage link, for the upcoming confirmed
    bookings of ``address`` (at most ``RESEND_LIMIT``, none to a bouncing address).

    One transaction; each resent confirmation is audited on its booking
    (``booking.confirmation_resent``, by the customer link). Returns how many were queued, so the
    caller knows whether to wake the worker; the customer is never told (nothing to enumerate).
    """
    actor = Actor(ActorKind.CUSTOMER_LINK, address)
    with write_session(engine) as session:
        bookings = session.exec(
            select(Booking)
            .join(Customer, col(Customer.id) == col(Booking.customer_id))
            .where(
                Customer.email == address,
                col(Customer.bouncing).is_(False),
                Booking.status == BookingStatus.CONFIRMED.value,
                col(Booking.start) > now,
            )
            .order_by(col(Booking.start))
            .limit(RESEND_LIMIT)
        ).all()
        for booking in bookings:
            notifier.resend_confirmation(session, booking, now)
            audit(
                session,
                business_id=booking.business_id,
                booking_id=booking.id,
                action="booking.confirmation_resent",
                actor=actor,
                at=now,
            )
    return len(bookings)


def send_customer_message(engine: Engine, ref: str, text: str, *, now: datetime, notifier: Notifier) -> None:
    """Queue the customer's ``text``, written on the manage page of booking ``ref``, to the
    booking's staff as a ``customer_message`` (as a reply by email that is no command would be).

    The text follows the field rules (``LIMITS["message"]``, line breaks kept, no other control
    characters) and may not be empty; at most ``MESSAGES_PER_HOUR`` per booking, counted on the
    audit trail. One transaction, audited as ``booking.customer_message`` by the customer link.
    The staff email's subject says it came through the manage page, not by email.
    ``InvalidInput`` (field ``message``) otherwise, and nothing is queued; ``NotFound`` for an
    unknown ``ref``.
    """
    body = check_text(text, "message", LIMITS["message"], lines=True)
    if not body:
        raise InvalidInput(N_("write your message first"), field="message")
    with write_session(engine) as session:
        # Locked (PostgreSQL): two messages at once are counted one after the other against the cap.
        booking = queries.booking_by_ref(session, ref, for_update=True)
        assert booking.id is not None
        sent = session.exec(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.booking_id == booking.id,
                AuditEvent.action == "booking.customer_message",
                col(AuditEvent.at) > now - timedelta(hours=1),
            )
        ).one()
        if sent >= MESSAGES_PER_HOUR:
            raise InvalidInput(
                Nn_(
                    "at most {n} message an hour can be sent about a booking: please try again later",
                    "at most {n} messages an hour can be sent about a booking: please try again later",
                ),
                n=MESSAGES_PER_HOUR,
                field="message",
            )
        customer = session.get_one(Customer, booking.customer_id)
        staff = session.get_one(Staff, booking.staff_id)
        message_data = {
            "from_name": customer.name,
            "from_email": customer.email,
            "subject": gettext(staff.locale, "contact_form_subject"),
            "text": body,
            "verified": True,  # whoever holds the booking's manage link
        }
        notifier.forward_customer_message(session, booking, message_data, None, now)
        actor = Actor(ActorKind.CUSTOMER_LINK, customer.email)
        plan_customer_message(session, booking, actor, message_data, now)
        audit(
            session,
            business_id=booking.business_id,
            booking_id=booking.id,
            action="booking.customer_message",
            actor=actor,
            at=now,
            after={"length": len(body)},
        )
