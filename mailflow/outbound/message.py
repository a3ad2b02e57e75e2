"""One booking email, end to end: template, context, manage link, reply key, calendar, MIME.

In two steps. ``prepare`` runs in the transaction of the change it reports, so
the manage token and reply key it mints commit or roll back with that change;
it does no template work. ``finish`` renders and composes, and may run after
the transaction has committed (``mailflow.outbound.notifier``): a slow template
never holds the database's write lock. An edited template that fails or breaks
a limit (``mailflow.outbound.limits``) when finishing gives way to the shipped
default: the email still goes out, and ``TemplateFallback`` says why.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import Session

from mailflow.booking.model import Actor, BookingState, BookingStatus
from mailflow.booking.policy import ManageDecision
from mailflow.kinds import CALENDAR_LINK_KINDS, CUSTOMER_KINDS
from mailflow.outbound.compose import Address, Attachment, Envelope, compose, new_message_id, thread_id
from mailflow.outbound.context import BookingFacts, Reader, decide, email_context
from mailflow.outbound.entries import add_to_calendar_links, calendar_entry
from mailflow.outbound.fallbacks import TemplateFallback, record_fallback
from mailflow.outbound.ics import Method, calendar_bytes
from mailflow.outbound.render import Renderer, RenderError
from mailflow.outbound.template_store import effective_source
from mailflow.outbound.templates import TemplateSource, default_locales, default_source, pick_locale
from mailflow.store.links import mint_manage_token, mint_reply_key
from mailflow.store.tables import Booking, Staff, pk

log = logging.getLogger("mailflow.outbound")

CALENDAR_METHOD = {
    "confirmation": Method.REQUEST,
    "rescheduled": Method.REQUEST,
    "cancelled": Method.CANCEL,
    "booking_created": Method.REQUEST,
    "booking_rescheduled": Method.REQUEST,
    "booking_cancelled": Method.CANCEL,
    "booking_reassigned": Method.REQUEST,  # the staff member it was taken from: CANCEL (``calendar``)
}
DAY_KINDS = frozenset({"daily_agenda"})
"""Kinds about a day of bookings, not one: no booking's thread, no reply key (issue 18)."""
NO_REPLY_KINDS = DAY_KINDS | {"reply_not_relayed"}
"""Kinds whose replies go to the business's address: none of them is read by the pipeline."""


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    kind: str
    recipient: str
    message_id: str
    subject: str
    data: bytes


def _address(data: dict[str, str] | None) -> Address | None:
    return None if data is None else Address(data["email"], data.get("name", ""))


def _address_json(address: Address | None) -> dict[str, str] | None:
    return None if address is None else {"email": address.email, "name": address.name}


@dataclass(frozen=True, slots=True)
class PreparedEmail:
    """One email with everything decided but its rendering: what ``finish`` needs, and no session.

    ``to_json`` keeps it in the outbox row until it is rendered (after the commit, or by a
    dispatcher after a crash); None when its context does not fit JSON (then it is rendered
    at once).
    """

    kind: str
    locale: str
    context: dict[str, Any]
    envelope: Envelope
    calendar: tuple[bytes, Method] | None = None
    attachments: tuple[Attachment, ...] = ()

    def to_json(self) -> dict[str, Any] | None:
        """What to render, as JSON holds it (the outbox row's recipe); None when the context is
        not JSON. The context is not copied: it is written as it is when the row is inserted."""
        try:
            json.dumps(self.context)
        except (TypeError, ValueError):
            return None
        context = self.context
        envelope = self.envelope
        return {
            "kind": self.kind,
            "locale": self.locale,
            "context": context,
            "envelope": {
                "sender": _address_json(envelope.sender),
                "to": _address_json(envelope.to),
                "message_id": envelope.message_id,
                "date": envelope.date.isoformat(),
                "kind": envelope.kind,
                "reply_to": _address_json(envelope.reply_to),
                "thread_id": envelope.thread_id,
                "booking_ref": envelope.booking_ref,
                "in_reply_to": envelope.in_reply_to,
            },
            "calendar": None
            if self.calendar is None
            else {"ics": base64.b64encode(self.calendar[0]).decode(), "method": self.calendar[1].value},
            "attachments": [
                {
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "data": base64.b64encode(a.data).decode(),
                }
                for a in self.attachments
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PreparedEmail:
        given = data["envelope"]
        sender, to = _address(given["sender"]), _address(given["to"])
        assert sender is not None and to is not None
        envelope = Envelope(
            sender=sender,
            to=to,
            message_id=given["message_id"],
            date=datetime.fromisoformat(given["date"]),
            kind=given["kind"],
            reply_to=_address(given["reply_to"]),
            thread_id=given["thread_id"],
            booking_ref=given["booking_ref"],
            in_reply_to=given.get("in_reply_to"),
        )
        calendar = data.get("calendar")
        return cls(
            kind=data["kind"],
            locale=data["locale"],
            context=data["context"],
            envelope=envelope,
            calendar=None
            if calendar is None
            else (base64.b64decode(calendar["ics"]), Method(calendar["method"])),
            attachments=tuple(
                Attachment(a["filename"], a["content_type"], base64.b64decode(a["data"]))
                for a in data.get("attachments", [])
            ),
        )


@dataclass(frozen=True, slots=True)
class MailSettings:
    """The parts of the settings emails need."""

    public_url: str
    inbound_domain: str

    @property
    def message_domain(self) -> str:
        return self.inbound_domain or urlsplit(self.public_url).hostname or "mailflow.localhost"


class EmailBuilder:
    """Builds finished messages; holds the renderer (and its compile cache)."""

    def __init__(self, settings: MailSettings, renderer: Renderer | None = None) -> None:
        self.settings = settings
        self.renderer = renderer or Renderer()

    def build(
        self, session: Session, facts: BookingFacts, kind: str, reader: Reader, **kw: Any
    ) -> OutgoingEmail:
        """Prepare and finish at once, in ``session``'s transaction (a fallback is recorded there)."""
        return self.finish_in(session, self.prepare(session, facts, kind, reader, **kw), pk(facts.business))

    def finish_in(self, session: Session, prepared: PreparedEmail, business_id: int) -> OutgoingEmail:
        """``finish`` with the template in force read in ``session``, recording a fallback there."""
        source = effective_source(session, business_id, prepared.kind, prepared.locale)
        email, fallback = self.finish(prepared, source)
        if fallback is not None:
            record_fallback(session, business_id, fallback, prepared.envelope.date)
        return email

    def finish(
        self, prepared: PreparedEmail, source: TemplateSource
    ) -> tuple[OutgoingEmail, TemplateFallback | None]:
        """Render ``prepared`` with ``source`` and compose the message; no database needed.

        An edited ``source`` that fails or breaks a limit gives way to the shipped default
        (returned with the ``TemplateFallback`` that says why); the default failing is a bug and raises.
        """
        fallback = None
        try:
            rendered = self.renderer.render(source, prepared.context)
        except RenderError as exc:
            if source.version is None:
                raise
            fallback = TemplateFallback(
                prepared.kind,
                prepared.locale,
                source.version,
                getattr(exc, "limit", "render_error"),
                str(exc),
            )
            log.warning(
                "template %s/%s version %s not used, the default was: %s",
                prepared.kind,
                prepared.locale,
                source.version,
                exc,
            )
            rendered = self.renderer.render(default_source(prepared.kind, prepared.locale), prepared.context)
        data = compose(prepared.envelope, rendered, prepared.calendar, prepared.attachments)
        email = OutgoingEmail(
            prepared.kind, prepared.envelope.to.email, prepared.envelope.message_id, rendered.subject, data
        )
        return email, fallback

    def prepare(
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
        answers: str | None = None,
        in_reply_to: str | None = None,
        calendar: tuple[BookingState, Method] | None = None,
    ) -> PreparedEmail:
        """Everything of ``kind`` for ``reader`` about ``facts.booking`` but the rendering: its
        token and reply key minted, its context, headers and calendar part made."""
        settings, business = self.settings, facts.business
        locale = pick_locale(reader.locale, business.default_locale, default_locales())
        reader = Reader(reader.name, reader.email, locale, reader.timezone)
        decision = decision or decide(facts, now)
        booking_id = facts.booking.booking_id
        manage_url = calendar_url = None
        # The .ics download needs a token: one is minted for the calendar links even when the
        # customer may not manage (the page it opens then offers no action); the Manage link
        # itself still only when allowed.
        with_links = kind in CALENDAR_LINK_KINDS and facts.booking.status is BookingStatus.CONFIRMED
        if kind in CUSTOMER_KINDS and (decision.allowed or with_links) and booking_id is not None:
            row = session.get_one(Booking, booking_id)
            link = f"{settings.public_url}/m/{mint_manage_token(session, row, now)}"
            if decision.allowed:
                manage_url = f"{link}?lang={locale}"
            if with_links:
                calendar_url = f"{link}/booking.ics"
        domain = settings.message_domain
        customer_entry = calendar_links = None
        if with_links:
            customer_entry = calendar_entry(facts, facts.booking, locale, domain, now, manage_url=manage_url)
            calendar_links = add_to_calendar_links(customer_entry)
        context = email_context(
            facts,
            reader,
            decision=decision,
            manage_url=manage_url,
            public_url=settings.public_url,
            reply_enabled=bool(settings.inbound_domain),
            calendar_url=calendar_url,
            now=now,
            calendar_links=calendar_links,
            old=old,
            old_staff=old_staff,
            actor=actor,
            extra=extra,
        )
        sender = Address(business.sender_email or business.email, business.sender_name or business.name)
        # The daily agenda lists a day of bookings: it is part of no booking's thread, and a reply
        # to it reaches the business's address, not the pipeline as if about its first booking.
        one_booking = kind not in DAY_KINDS
        if settings.inbound_domain and kind not in NO_REPLY_KINDS:
            key = mint_reply_key(
                session, booking_id, reader.email, now, kind=kind, offered=offered, answers=answers
            )
            reply_to = Address(f"reply+{key}@{settings.inbound_domain}", sender.name)
        else:
            reply_to = Address(business.email, business.name)
        envelope = Envelope(
            sender=sender,
            to=Address(reader.email, reader.name),
            message_id=message_id or new_message_id(domain),
            date=now,
            kind=kind,
            reply_to=reply_to,
            thread_id=thread_id(facts.booking.ref, domain) if one_booking else None,
            booking_ref=facts.booking.ref if one_booking else None,
            in_reply_to=in_reply_to,
        )
        # ``calendar`` overrides the kind's entry: the state and method this reader's calendar needs.
        state, method = calendar or (facts.booking, CALENDAR_METHOD.get(kind))
        part = None
        if method is not None:
            if customer_entry is not None and state is facts.booking:
                entry = customer_entry
            elif kind in CUSTOMER_KINDS:
                entry = calendar_entry(facts, state, locale, domain, now, manage_url=manage_url)
            else:  # staff: the customer's name in the summary, the reader as attendee, the admin page
                admin = f"{settings.public_url}/admin/bookings/{state.ref}"
                entry = calendar_entry(facts, state, locale, domain, now, attendee=reader, admin_url=admin)
            part = (calendar_bytes(entry, method), method)
        return PreparedEmail(kind, locale, context, envelope, part, tuple(attachments))
