"""The variables a template sees, built from a booking and the manage policy.

The contract (names and shapes) is the one ``samples.py`` illustrates and the
validator checks edited templates against. Every customer email asks
``manage_allowed``: the Manage-booking link exists in the context only when
the policy allows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from mailflow.booking.model import Actor, ActorKind, BookingState
from mailflow.booking.policy import ManageDecision, manage_allowed
from mailflow.outbound.formatting import (
    format_duration,
    format_when,
    in_person,
    soon_day_time,
    tel_url,
    venue_time,
)
from mailflow.outbound.i18n import message
from mailflow.store.queries import rules_of, state_of
from mailflow.store.tables import Booking, Business, Customer, Service, Staff


@dataclass(frozen=True, slots=True)
class BookingFacts:
    """One booking and the rows around it, loaded once per change."""

    business: Business
    service: Service
    staff: Staff
    customer: Customer
    booking: BookingState
    note: str | None = None
    """The customer's note to the business (staff emails show it)."""


@dataclass(frozen=True, slots=True)
class Reader:
    """Who reads the email, in which language and time zone."""

    name: str
    email: str
    locale: str
    timezone: str


def change_instructions(business: Business, service: Service, locale: str) -> str:
    """The service's or business's own text in ``locale`` (else in the default language), else a
    default from the business phone and email."""
    return service.instructions_in(locale) or business_change_instructions(business, locale)


def business_change_instructions(business: Business, locale: str) -> str:
    """What a service without instructions of its own gives in ``locale``: the business's text
    (else in the default language), else a default from the business phone and email."""
    custom = business.instructions_in(locale)
    if custom:
        return custom
    if business.phone and business.email:
        return message(locale, "change_instructions", phone=business.phone, email=business.email)
    if business.phone:
        return message(locale, "change_instructions.phone", phone=business.phone)
    if business.email:
        return message(locale, "change_instructions.email", email=business.email)
    return message(locale, "change_instructions.none", business=business.name)


def changed_by_text(actor: Actor, locale: str) -> str:
    """Who made a change, as staff read it: "staff (ada@contoso.example)" for a person; the team
    without a label for the tools' own labels (the CLI's "cli", an API key's name, "demo")."""
    if actor.kind is ActorKind.STAFF:
        if actor.label and "@" in actor.label:
            return message(locale, "changed_by.staff", label=actor.label)
        return message(locale, "changed_by.team")
    return message(locale, f"changed_by.{actor.kind.value}")


def booking_dict(
    facts: BookingFacts, state: BookingState, staff: Staff, reader: Reader, now: datetime | None = None
) -> dict[str, Any]:
    """The ``booking`` of a template: its facts with times formatted for ``reader``.

    ``day_time`` is the short day and start of subjects ("Thu 10 Dec, 11:00"); ``soon`` the
    same from ``now`` ("tomorrow, 11:00", "Thursday, 11:00"; ``day_time`` without ``now``);
    ``venue_time`` the start on the venue's clock ("16:00 in Berlin") for an in-person service
    when the reader's clock reads otherwise, else "".
    """
    when = format_when(state.start, state.end, reader.locale, reader.timezone, regional=True)
    at_venue = in_person(facts.service.location)
    return {
        "ref": state.ref,
        "service_name": facts.service.name_in(reader.locale),
        "staff_name": staff.name or staff.email,
        "when": when.when,
        "date": when.date,
        "time_range": when.time_range,
        "timezone_name": when.timezone_name,
        "day_time": when.day_time,
        "soon": soon_day_time(state.start, now, reader.locale, reader.timezone) if now else when.day_time,
        "spoken_range": when.spoken_range,
        "venue_time": (
            venue_time(state.start, reader.timezone, facts.business.timezone, reader.locale, regional=True)
            if at_venue
            else ""
        ),
        "duration": format_duration(timedelta(minutes=facts.service.duration_minutes), reader.locale),
        "location": facts.service.location,
        "customer_name": facts.customer.name,
        "customer_email": facts.customer.email,
        "customer_phone": facts.customer.phone,
        "status": state.status.value,
        "cancel_reason": state.cancel_reason,
        "note": facts.note or "",
    }


def decide(facts: BookingFacts, now: datetime) -> ManageDecision:
    """The manage decision for this booking, from the one policy function."""
    return manage_allowed(facts.booking, rules_of(facts.service), now)


def email_context(
    facts: BookingFacts,
    reader: Reader,
    *,
    decision: ManageDecision,
    manage_url: str | None,
    public_url: str,
    reply_enabled: bool,
    calendar_url: str | None = None,
    now: datetime | None = None,
    calendar_links: dict[str, str] | None = None,
    old: BookingState | None = None,
    old_staff: Staff | None = None,
    actor: Actor | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The full template context for one email of ``facts.booking`` to ``reader``.

    ``manage_url`` is dropped unless ``decision`` allows managing; ``calendar_url`` (the .ics
    download) and ``calendar_links`` (``add_to_google``, ``add_to_outlook``) are given for the
    kinds about a booking with a time, whatever the decision; staff kinds
    get ``changed_by`` and ``admin_url``; ``extra`` adds kind-specific values
    (``slots``, ``refused``, ``message``, ``failure``, ``agenda``).
    """
    business = facts.business
    book_url = f"{public_url}/book?lang={reader.locale}"  # the pages speak the email's language
    context: dict[str, Any] = {
        "locale": reader.locale,
        "business": {
            "name": business.name,
            "phone": business.phone,
            "phone_url": tel_url(business.phone),
            "email": business.email,
            "address": business.address,
            "website_url": book_url,
        },
        "recipient": {"name": reader.name, "email": reader.email},
        "booking": booking_dict(facts, facts.booking, facts.staff, reader, now),
        "manage": {
            "allowed": decision.allowed,
            "reason": decision.reason.value,
            "reason_text": message(reader.locale, f"reason.{decision.reason.value}"),
        },
        "links": {
            "manage_url": manage_url if decision.allowed else None,
            "new_booking_url": book_url,
            "calendar_url": calendar_url,
            # "Add to calendar" (Google, Outlook on the web) for a booking with a time, allowed or not.
            "add_to_google": (calendar_links or {}).get("add_to_google"),
            "add_to_outlook": (calendar_links or {}).get("add_to_outlook"),
        },
        "change_instructions": change_instructions(business, facts.service, reader.locale),
        "reply_enabled": reply_enabled,
        "changed_by": changed_by_text(actor, reader.locale) if actor else "",
        # Who cancelled, in the customer's words: "as you asked" or "we had to cancel".
        "cancelled_by": "customer" if actor is not None and actor.kind.is_customer else "business",
        "admin_url": f"{public_url}/admin/bookings/{facts.booking.ref}",
    }
    if old is not None:
        previous = booking_dict(facts, old, old_staff or facts.staff, reader)
        context["old_booking"] = {
            key: previous[key] for key in ("when", "staff_name", "date", "time_range", "day_time")
        }
    if extra:
        context.update(extra)
    return context


def load_facts(session: Session, booking: Booking) -> BookingFacts:
    """The rows around ``booking``, for building its emails."""
    return BookingFacts(
        business=session.get_one(Business, booking.business_id),
        service=session.get_one(Service, booking.service_id),
        staff=session.get_one(Staff, booking.staff_id),
        customer=session.get_one(Customer, booking.customer_id),
        booking=state_of(booking),
        note=booking.note,
    )


def customer_reader(facts: BookingFacts) -> Reader:
    customer = facts.customer
    return Reader(customer.name, customer.email, customer.locale, customer.timezone)


def staff_reader(staff: Staff) -> Reader:
    return Reader(staff.name or staff.email, staff.email, staff.locale, staff.timezone)
