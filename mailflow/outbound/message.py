"""One booking email, end to end: template, context, manage link, reply key, calendar, MIME.

Called in the transaction of the change it reports (the outbox stores the
bytes), so the manage token and reply key it mints commit or roll back with
that change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import Session

from mailflow.booking.model import Actor, BookingState
from mailflow.booking.policy import ManageDecision
from mailflow.kinds import CUSTOMER_KINDS
from mailflow.outbound.compose import Address, Attachment, Envelope, compose, new_message_id, thread_id
from mailflow.outbound.context import BookingFacts, Reader, decide, email_context
from mailflow.outbound.i18n import message
from mailflow.outbound.ics import CalendarEntry, Method, booking_uid, calendar_bytes
from mailflow.outbound.render import Renderer
from mailflow.outbound.template_store import effective_source
from mailflow.outbound.templates import default_locales, pick_locale
from mailflow.store.links import mint_manage_token, mint_reply_key
from mailflow.store.tables import Booking, Staff, pk

CALENDAR_METHOD = {
    "confirmation": Method.REQUEST,
    "rescheduled": Method.REQUEST,
    "cancelled": Method.CANCEL,
    "booking_created": Method.REQUEST,
    "booking_rescheduled": Method.REQUEST,
    "booking_cancelled": Method.CANCEL,
}


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    kind: str
    recipient: str
    message_id: str
    subject: str
    data: bytes


@dataclass(frozen=True, slots=True)
class MailSettings:
    """The parts of the settings emails need."""

    public_url: str
    inbound_domain: str

    @property
    def message_domain(self) -> str:
        return self.inbound_domain or urlsplit(self.public_url).hostname or "mailflow.localhost"


def calendar_entry(
    facts: BookingFacts, state: BookingState, locale: str, domain: str, now: datetime
) -> CalendarEntry:
    business, customer = facts.business, facts.customer
    service_name = facts.service.name_in(locale)
    return CalendarEntry(
        uid=booking_uid(state.ref, domain),
        sequence=state.sequence,
        start=state.start,
        end=state.end,
        summary=message(locale, "summary", service=service_name, business=business.name),
        location=facts.service.location or business.address,
        description=f"{service_name} · {facts.staff.name or facts.staff.email} · {state.ref}",
        organizer_name=business.sender_name or business.name,
        organizer_email=business.sender_email or business.email,
        attendee_name=customer.name,
        attendee_email=customer.email,
        stamp=now,
    )


class EmailBuilder:
    """Builds finished messages; holds the renderer (and its compile cache)."""

    def __init__(self, settings: MailSettings, renderer: Renderer | None = None) -> None:
        self.settings = settings
        self.renderer = renderer or Renderer()

    def build(
        self,
        session: Session,
        facts: BookingFacts,
        kind: str,
        reader: Reader,
        *,
        now: datetime,
        decision: ManageDecision | None = None,
        old: BookingState | None = None,
        old_staff: Staff | None = None,
        actor: Actor | None = None,
        extra: dict[str, Any] | None = None,
        message_id: str | None = None,
        offered: list[dict[str, str]] | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> OutgoingEmail:
        """Render ``kind`` for ``reader`` about ``facts.booking``, minting its token and reply key."""
        settings, business = self.settings, facts.business
        locale = pick_locale(reader.locale, business.default_locale, default_locales())
        reader = Reader(reader.name, reader.email, locale, reader.timezone)
        decision = decision or decide(facts, now)
        booking_id = facts.booking.booking_id
        manage_url = None
        if kind in CUSTOMER_KINDS and decision.allowed and booking_id is not None:
            row = session.get_one(Booking, booking_id)
            manage_url = f"{settings.public_url}/m/{mint_manage_token(session, row, now)}"
        context = email_context(
            facts,
            reader,
            decision=decision,
            manage_url=manage_url,
            public_url=settings.public_url,
            reply_enabled=bool(settings.inbound_domain),
            calendar_url=f"{manage_url}/booking.ics" if manage_url else None,
            old=old,
            old_staff=old_staff,
            actor=actor,
            extra=extra,
        )
        source = effective_source(session, pk(business), kind, locale)
        rendered = self.renderer.render(source, context)
        sender = Address(business.sender_email or business.email, business.sender_name or business.name)
        if settings.inbound_domain:
            key = mint_reply_key(session, booking_id, reader.email, now, kind=kind, offered=offered)
            reply_to = Address(f"reply+{key}@{settings.inbound_domain}", sender.name)
        else:
            reply_to = Address(business.email, business.name)
        domain = settings.message_domain
        envelope = Envelope(
            sender=sender,
            to=Address(reader.email, reader.name),
            message_id=message_id or new_message_id(domain),
            date=now,
            kind=kind,
            reply_to=reply_to,
            thread_id=thread_id(facts.booking.ref, domain),
            booking_ref=facts.booking.ref,
        )
        method = CALENDAR_METHOD.get(kind)
        calendar = None
        if method is not None:
            calendar = (
                calendar_bytes(calendar_entry(facts, facts.booking, locale, domain, now), method),
                method,
            )
        data = compose(envelope, rendered, calendar, attachments)
        return OutgoingEmail(kind, reader.email, envelope.message_id, rendered.subject, data)
