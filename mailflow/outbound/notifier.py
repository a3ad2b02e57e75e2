"""The notifier: domain events -> outbox rows and reminder rows, in the change's transaction.

- created: customer ``confirmation``; the staff member and every admin
  ``booking_created``; reminders planned.
- rescheduled: customer ``rescheduled``; staff and admins ``booking_rescheduled``
  with old and new. When the staff member changed, the old one gets
  ``booking_cancelled`` and the new one ``booking_created`` instead (admins
  still get ``booking_rescheduled``); reminders re-planned.
- cancelled: customer ``cancelled``; staff and admins ``booking_cancelled`` with
  the reason; pending reminders dropped.

Staff emails say who made the change. A customer whose address is bouncing
gets nothing until staff fix it; staff who turned a kind off do not get it.

The outbox rows are written in the change's transaction, but rendered after it
commits (``render_committed``): no template runs while the write lock is held.
A row whose change committed but whose rendering did not happen (the process
died) is rendered by the dispatcher that claims it (``render_claimed``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Engine, and_
from sqlmodel import Session, col, select

from mailflow.booking.events import BookingCancelled, BookingCreated, BookingRescheduled, DomainEvent
from mailflow.booking.model import BookingStatus
from mailflow.outbound.compose import Attachment
from mailflow.outbound.context import BookingFacts, customer_reader, load_facts, staff_reader
from mailflow.outbound.fallbacks import record_fallback
from mailflow.outbound.formatting import format_when
from mailflow.outbound.i18n import message
from mailflow.outbound.ics import Method
from mailflow.outbound.message import EmailBuilder, PreparedEmail
from mailflow.outbound.outbox import ClaimedMessage, enqueue, enqueue_pending, fill_payloads
from mailflow.outbound.template_store import effective_source
from mailflow.outbound.templates import TemplateSource
from mailflow.services.reminders import drop_reminders, plan_reminders
from mailflow.store.engine import AFTER_COMMIT, RENDER_IN_TRANSACTION, read_session, write_session
from mailflow.store.links import mint_manage_token
from mailflow.store.tables import AdminLink, Booking, Staff, pk

log = logging.getLogger("mailflow.outbound")

_DEFERRED = "mailflow.outbox_to_render"
# An outbox row to render: (id, business id, envelope sender, what to render, the template in force).
_Pending = tuple[int, int, str, PreparedEmail, TemplateSource]


class Notifier:
    """Turns each domain event into the emails and reminders it implies."""

    def __init__(self, builder: EmailBuilder) -> None:
        self.builder = builder

    def envelope_from(self, facts: BookingFacts) -> str:
        """The business's sender: the SMTP return path unless the dispatcher signs one per email (VERP)."""
        return facts.business.sender_email or facts.business.email

    def _send(
        self,
        session: Session,
        facts: BookingFacts,
        kind: str,
        staff: Staff | None,
        now: datetime,
        **kw: Any,
    ) -> None:
        if staff is None:
            if facts.customer.bouncing:
                return
            reader = customer_reader(facts)
        else:
            if not staff.notification_prefs.get(kind, True):
                return
            reader = staff_reader(staff)
        prepared = self.builder.prepare(session, facts, kind, reader, now=now, **kw)
        self.queue(
            session,
            prepared,
            business_id=pk(facts.business),
            booking_id=facts.booking.booking_id,
            envelope_from=self.envelope_from(facts),
            now=now,
        )

    def queue(
        self,
        session: Session,
        prepared: PreparedEmail,
        *,
        business_id: int,
        booking_id: int | None,
        envelope_from: str,
        now: datetime,
    ) -> None:
        """Put ``prepared`` in the outbox in ``session``'s transaction, rendered once it commits.

        In a session that is no ``write_session`` (nothing tells when it commits), one that asks
        for it (``RENDER_IN_TRANSACTION``), or with a context JSON cannot hold, it is rendered at
        once instead.
        """
        deferred = None if session.info.get(RENDER_IN_TRANSACTION) else self._deferred(session)
        recipe = prepared.to_json() if deferred is not None else None
        if deferred is None or recipe is None:
            email = self.builder.finish_in(session, prepared, business_id)
            enqueue(
                session,
                email,
                business_id=business_id,
                booking_id=booking_id,
                envelope_from=envelope_from,
                now=now,
            )
            return
        source = effective_source(session, business_id, prepared.kind, prepared.locale)  # as in force now
        enqueue_pending(
            session,
            recipe,
            kind=prepared.kind,
            recipient=prepared.envelope.to.email,
            message_id=prepared.envelope.message_id,
            business_id=business_id,
            booking_id=booking_id,
            envelope_from=envelope_from,
            now=now,
            then=lambda row_id: deferred.append((row_id, business_id, envelope_from, prepared, source)),
        )

    def _deferred(self, session: Session) -> list[_Pending] | None:
        """The emails of ``session``'s transaction to render once it commits (None: it cannot
        tell, not being a ``write_session``); the first call arranges the rendering."""
        after = session.info.get(AFTER_COMMIT)
        if after is None:
            return None
        pending: list[_Pending] | None = session.info.get(_DEFERRED)
        if pending is None:
            pending = session.info[_DEFERRED] = []
            bind = session.get_bind()
            engine = bind if isinstance(bind, Engine) else bind.engine
            after.append(partial(self.render_committed, engine, pending))
        return pending

    def render_committed(self, engine: Engine, pending: list[_Pending]) -> None:
        """Render the emails of a committed change, with no write lock held while rendering.

        Never raises: the change has committed, and what is left unrendered (the database went
        away meanwhile) the dispatcher renders when it claims it.
        """
        try:
            self._finish_pending(engine, pending)
        except Exception:
            log.exception("outbox %s: left for the dispatcher to render", [item[0] for item in pending])

    def render_claimed(self, engine: Engine, batch: list[ClaimedMessage]) -> list[ClaimedMessage]:
        """``batch`` (claimed by the dispatcher) with the emails its change left unrendered rendered."""
        todo = [m for m in batch if not m.data and m.pending]
        if not todo:
            return batch
        with read_session(engine) as session:
            pending = []
            for m in todo:
                assert m.pending is not None
                prepared = PreparedEmail.from_json(m.pending)
                source = effective_source(session, m.business_id, prepared.kind, prepared.locale)
                pending.append((m.id, m.business_id, m.envelope_from, prepared, source))
        done = self._finish_pending(engine, pending)
        return [replace(m, data=done[m.id]) if m.id in done else m for m in batch]

    def _finish_pending(self, engine: Engine, pending: Sequence[_Pending]) -> dict[int, bytes]:
        """Render pending outbox rows outside any transaction, then store them (and any fallback
        notice) in one short write transaction; the bytes by row id."""
        if not pending:
            return {}
        finished = [
            (
                row_id,
                business_id,
                envelope_from,
                prepared.envelope.date,
                *self.builder.finish(prepared, source),
            )
            for row_id, business_id, envelope_from, prepared, source in pending
        ]
        with write_session(engine) as session:
            fill_payloads(session, [(row_id, email, sender) for row_id, _, sender, _, email, _ in finished])
            for _, business_id, _, at, _, fallback in finished:
                if fallback is not None:
                    record_fallback(session, business_id, fallback, at)
        return {row_id: email.data for row_id, _, _, _, email, _ in finished}

    def _admins(self, session: Session, facts: BookingFacts, *exclude: int) -> list[Staff]:
        # Asked once per transaction and business: a batch of replies shares the answer.
        known: dict[int, list[Staff]] = session.info.setdefault("mailflow_admins", {})
        business_id = pk(facts.business)
        if business_id not in known:
            known[business_id] = list(
                session.exec(
                    select(Staff)
                    .where(
                        Staff.business_id == business_id,
                        Staff.role == "admin",
                        col(Staff.active).is_(True),
                        ~invited_not_accepted(),  # no booking news before they accepted
                    )
                    .order_by(col(Staff.id))
                ).all()
            )
        return [row for row in known[business_id] if row.id not in exclude]

    def notify(self, session: Session, event: DomainEvent, row: Booking, now: datetime) -> None:
        """Queue everything ``event`` implies; call inside the transaction that made it."""
        facts = load_facts(session, row)
        actor = event.actor
        if isinstance(event, BookingCreated):
            self._send(session, facts, "confirmation", None, now, actor=actor)
            for staff in [facts.staff, *self._admins(session, facts, pk(facts.staff))]:
                self._send(session, facts, "booking_created", staff, now, actor=actor)
            plan_reminders(session, row, facts.service, now)
        elif isinstance(event, BookingRescheduled):
            old_staff = session.get_one(Staff, event.old.staff_id)
            self._send(
                session, facts, "rescheduled", None, now, actor=actor, old=event.old, old_staff=old_staff
            )
            if event.staff_changed:  # a hand-over, not a cancellation: the customer still comes
                gone = replace(event.old, status=BookingStatus.CANCELLED, sequence=event.new.sequence)
                moved = (event.old.start, event.old.end) != (event.new.start, event.new.end)
                for staff, direction, other, entry in (
                    (old_staff, "away", facts.staff, (gone, Method.CANCEL)),
                    (facts.staff, "to_you", old_staff, (facts.booking, Method.REQUEST)),
                ):
                    handed = {
                        "direction": direction,
                        "other_staff_name": other.name or other.email,
                        "moved": moved,
                    }
                    self._send(
                        session, facts, "booking_reassigned", staff, now, actor=actor, old=event.old,
                        old_staff=old_staff, extra={"reassigned": handed}, calendar=entry,
                    )  # fmt: skip
                informed = {pk(old_staff), pk(facts.staff)}
            else:
                self._send(
                    session, facts, "booking_rescheduled", facts.staff, now,
                    actor=actor, old=event.old, old_staff=old_staff,
                )  # fmt: skip
                informed = {pk(facts.staff)}
            for admin in self._admins(session, facts, *informed):
                self._send(
                    session,
                    facts,
                    "booking_rescheduled",
                    admin,
                    now,
                    actor=actor,
                    old=event.old,
                    old_staff=old_staff,
                )
            plan_reminders(session, row, facts.service, now)
        elif isinstance(event, BookingCancelled):
            self._send(session, facts, "cancelled", None, now, actor=actor)
            for staff in [facts.staff, *self._admins(session, facts, pk(facts.staff))]:
                self._send(session, facts, "booking_cancelled", staff, now, actor=actor)
            drop_reminders(session, pk(row))

    def resend_confirmation(self, session: Session, booking: Booking, now: datetime) -> None:
        """Send the customer their confirmation again, with a fresh manage link ("find my booking")."""
        self._send(session, load_facts(session, booking), "confirmation", None, now)

    def send_reminder(self, session: Session, booking: Booking, now: datetime) -> None:
        """Queue the customer's reminder for ``booking`` (called by the reminder sweep)."""
        self._send(session, load_facts(session, booking), "reminder", None, now)

    def report_failure(self, session: Session, message: ClaimedMessage, detail: str, now: datetime) -> None:
        """Tell the admins that an email could not be delivered (``delivery_failed``)."""
        if message.booking_id is not None:
            booking = session.get_one(Booking, message.booking_id)
            self._tell_admins(session, booking, message.recipient, message.kind, detail, now)

    def report_bounce(
        self, session: Session, booking: Booking, recipient: str, kind: str, info: Any, now: datetime
    ) -> None:
        """Tell the admins about a bounce of one of this booking's emails."""
        detail = failure_detail(info.status, info.diagnostic)
        self._tell_admins(session, booking, recipient, kind, detail, now)

    def _tell_admins(
        self, session: Session, booking: Booking, recipient: str, kind: str, detail: str, now: datetime
    ) -> None:
        facts = load_facts(session, booking)
        failure = {"recipient": recipient, "kind": kind, "reason": detail, "booking_ref": booking.ref}
        for admin in self._admins(session, facts):
            self._send(session, facts, "delivery_failed", admin, now, extra={"failure": failure})

    def send_refusal(
        self, session: Session, booking: Booking, action: str, reason: str, now: datetime
    ) -> None:
        """Answer a refused reply command politely (``action_refused``), with the change instructions."""
        facts = load_facts(session, booking)
        refused = {"action": action, "reason_text": message(facts.customer.locale, f"reason.{reason}")}
        self._send(session, facts, "action_refused", None, now, extra={"refused": refused})

    def send_options(self, session: Session, booking: Booking, slots: Sequence[Any], now: datetime) -> None:
        """Answer "reschedule" with numbered free slots; the reply key remembers exactly these."""
        facts = load_facts(session, booking)
        customer = facts.customer
        token = mint_manage_token(session, booking, now)
        public = self.builder.settings.public_url
        shown, offered = [], []
        for number, slot in enumerate(slots, start=1):
            when = format_when(slot.start, slot.end, customer.locale, customer.timezone, regional=True)
            day = slot.start.astimezone(ZoneInfo(facts.business.timezone)).date().isoformat()
            # The reschedule page with exactly this time selected: one click on its form confirms.
            value = f"{slot.start.astimezone(UTC).isoformat()}|{slot.staff_email}"
            query = {"day": day, "staff": slot.staff_email, "slot": value, "lang": customer.locale}
            url = f"{public}/m/{token}/reschedule?{urlencode(query)}"
            shown.append({"number": number, "when": when.when, "staff_name": slot.staff_name, "url": url})
            offered.append({"start": slot.start.isoformat(), "staff": slot.staff_email})
        self._send(session, facts, "reschedule_options", None, now, extra={"slots": shown}, offered=offered)

    def relay_staff_reply(
        self,
        session: Session,
        booking: Booking,
        staff_email: str,
        subject: str,
        text: str,
        now: datetime,
        in_reply_to: str | None = None,
    ) -> None:
        """A staff member's answer to a forwarded message reaches the customer, from the business,
        threaded under the customer's own email (``in_reply_to``, its Message-ID) when known."""
        facts = load_facts(session, booking)
        staff = (
            session.exec(
                select(Staff).where(Staff.business_id == booking.business_id, Staff.email == staff_email)
            ).first()
            or facts.staff
        )
        relayed = {
            "from_name": staff.name or staff.email,
            "from_email": staff.email,
            "subject": subject,
            "text": text or "…",
            "verified": True,
        }
        self._send(
            session, facts, "staff_reply", None, now, extra={"message": relayed}, in_reply_to=in_reply_to
        )

    def tell_reply_not_relayed(
        self, session: Session, booking: Booking, staff_email: str, now: datetime
    ) -> None:
        """A staff member answered a notification that is no customer's message: nothing reached the
        customer, so tell them how to reach the customer (a reply to this one goes to the business)."""
        facts = load_facts(session, booking)
        staff = session.exec(
            select(Staff).where(Staff.business_id == booking.business_id, Staff.email == staff_email)
        ).first()
        if staff is not None:
            self._send(session, facts, "reply_not_relayed", staff, now)

    def forward_customer_message(
        self,
        session: Session,
        booking: Booking,
        message_data: dict[str, Any],
        raw: bytes | None,
        now: datetime,
        message_id: str | None = None,
    ) -> None:
        """A customer's reply that is no command reaches the booking's staff, the original ``raw``
        attached (None: written on the manage page, there is no original)."""
        facts = load_facts(session, booking)
        # Opened as an email by the staff's mail client (compose attaches it in 7bit or 8bit).
        original = [] if raw is None else [Attachment("original.eml", "message/rfc822", raw)]
        self._send(
            session,
            facts,
            "customer_message",
            facts.staff,
            now,
            extra={"message": message_data},
            attachments=original,
            answers=message_id,  # a staff answer threads under the customer's own email
        )


def invited_not_accepted() -> ColumnElement[bool]:
    """Staff invited who have not chosen a password yet: an unused invitation and no password."""
    pending = (
        select(AdminLink.id)
        .where(
            col(AdminLink.staff_id) == col(Staff.id),
            AdminLink.purpose == "invite",
            col(AdminLink.used_at).is_(None),
        )
        .exists()
    )
    return and_(col(Staff.password_hash).is_(None), pending)


def failure_detail(status: str | None, diagnostic: str | None) -> str:
    """What the receiving server said, its status code once: the diagnostic when it already
    carries the status ("550 5.1.1 <x>: User unknown", not "5.1.1 550 5.1.1 …"), else both."""
    if status and diagnostic and status in diagnostic:
        return diagnostic
    return " ".join(part for part in (status, diagnostic) if part) or "bounced"
