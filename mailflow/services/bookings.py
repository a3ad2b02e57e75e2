"""Bookings: create, reschedule, cancel, look up and list (free slots: ``free_slots``).

Each function loads what the core needs, asks the core (``mailflow.booking``)
to decide, and writes the result together with its audit record and the
notifier's outbox and reminder rows in the same transaction: a change never
commits without its emails, and no email exists for a change that rolled back.
Callers (CLI, web, API, inbound) pass the clock in.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

if TYPE_CHECKING:
    from mailflow.outbound.notifier import Notifier

from mailflow import booking as core
from mailflow.booking.model import Actor, BookingState, Interval, Origin
from mailflow.booking.tokens import new_ref
from mailflow.errors import BookingConflict, InvalidInput, SlotUnavailable
from mailflow.i18n import N_
from mailflow.services.booking_view import BookingView as BookingView
from mailflow.services.booking_view import view_of as view_of
from mailflow.services.booking_warnings import booking_warnings
from mailflow.services.common import LIMITS, audit, check_text, check_timezone, normalize_email
from mailflow.services.webhook_events import plan_booking_event
from mailflow.store import queries
from mailflow.store.engine import read_session, write_session
from mailflow.store.links import extend_tokens, mint_manage_token
from mailflow.store.tables import Booking, Business, Customer, Service, Staff, pk

EXCLUSION_VIOLATION = "23P01"  # PostgreSQL: the booking_no_overlap constraint
REF_ATTEMPTS = 5
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(8999, 12, 31)
"""The days a booking or a slot search may concern. Near ``date.min`` and ``date.max`` the
arithmetic around a day (its window, a booking's buffers, time zones) leaves datetime's range."""
OUT_OF_RANGE = "out_of_range"  # SlotUnavailable.problem for a start outside FIRST_DAY..LAST_DAY


@dataclass(frozen=True, slots=True)
class CustomerInput:
    """Customer details as given when booking; empty values take the business's defaults."""

    email: str
    name: str
    phone: str = ""
    locale: str | None = None
    timezone: str | None = None


def _snapshot(state: BookingState, staff_email: str) -> dict[str, Any]:
    return {
        "status": state.status.value,
        "staff": staff_email,
        "start": state.start.isoformat(),
        "end": state.end.isoformat(),
        "sequence": state.sequence,
        "cancel_reason": state.cancel_reason,
    }


def _audit(
    session: Session,
    booking: Booking,
    action: str,
    actor: Actor,
    at: datetime,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    audit(
        session,
        business_id=booking.business_id,
        booking_id=booking.id,
        action=action,
        actor=actor,
        at=at,
        before=before,
        after=after,
    )


_ACTIONS = {
    core.BookingCreated: "booking.created",
    core.BookingRescheduled: "booking.rescheduled",
    core.BookingCancelled: "booking.cancelled",
}


def _record(
    session: Session,
    row: Booking,
    event: core.DomainEvent,
    notifier: Notifier | None,
    *,
    old_staff: str | None,
    new_staff: str,
) -> None:
    """Persist ``row``, audit ``event`` and queue its emails and reminders: one transaction."""
    session.add(row)
    session.flush()
    before = None
    if not isinstance(event, core.BookingCreated) and old_staff is not None:
        before = _snapshot(event.old, old_staff)
    after = _snapshot(event.booking, new_staff)
    _audit(session, row, _ACTIONS[type(event)], event.actor, event.at, before, after)
    if notifier is not None:
        notifier.notify(session, event, row, event.at)
    plan_booking_event(session, row, event)  # beside the emails: every door's change reaches webhooks


def _apply(row: Booking, state: BookingState, rules: core.ServiceRules, now: datetime) -> None:
    blocked = state.blocked(rules)
    row.staff_id = state.staff_id
    row.status = state.status.value
    row.start, row.end = state.start, state.end
    row.block_start, row.block_end = blocked.start, blocked.end
    row.sequence, row.version = state.sequence, state.version
    row.cancel_reason = state.cancel_reason
    row.updated_at = now


@contextmanager
def _booking_transaction(engine: Engine, within: Session | None = None) -> Iterator[Session]:
    """A write transaction that turns a lost race for a slot into ``BookingConflict``.

    With ``within``, the change joins that session's transaction (as a savepoint, so a
    refused or conflicting change leaves the caller's work intact): the inbound pipeline
    records a reply and its effect in one transaction.
    """
    try:
        if within is None:
            with write_session(engine) as session:
                yield session
        else:
            with within.begin_nested():
                yield within
    except IntegrityError as exc:
        if getattr(exc.orig, "sqlstate", None) == EXCLUSION_VIOLATION:
            raise BookingConflict() from None
        raise


def _upsert_customer(session: Session, business: Business, given: CustomerInput, now: datetime) -> Customer:
    email = normalize_email(given.email, field="customer.email")
    name = check_text(given.name, "customer.name", LIMITS["name"])
    if not name:
        raise InvalidInput(N_("the customer's name is empty"), field="customer.name")
    phone = check_text(given.phone, "customer.phone", LIMITS["phone"])
    locale = (given.locale or "").strip() or None
    if locale is not None and locale not in business.locales:
        raise InvalidInput(
            N_("locale {locale!r} is not offered by {business}: use one of {languages}"),
            locale=locale,
            business=business.slug,
            languages=", ".join(business.locales),
        )
    timezone = check_timezone(given.timezone) if given.timezone else None
    customer = queries.customer_for(session, business, email)
    if customer is None:
        customer = Customer(
            business_id=pk(business),
            email=email,
            name=name,
            phone=phone,
            locale=locale or business.default_locale,
            timezone=timezone or business.timezone,
            created_at=now,
        )
    else:
        customer.name = name
        customer.phone = phone or customer.phone
        customer.locale = locale or customer.locale
        customer.timezone = timezone or customer.timezone
    session.add(customer)
    session.flush()
    return customer


def in_calendar(day: date) -> bool:
    """Whether ``day`` lies in ``FIRST_DAY``..``LAST_DAY``, the days bookings may concern."""
    return FIRST_DAY <= day <= LAST_DAY


def _check_start(start: datetime) -> None:
    """``SlotUnavailable`` for a start outside the calendar (its own date, so no conversion overflows)."""
    if not in_calendar(start.date()):
        raise SlotUnavailable(OUT_OF_RANGE, when=start.isoformat())


def _window(start: datetime, rules: core.ServiceRules) -> Interval:
    """The span whose bookings, time off and closures can matter for a booking at ``start``."""
    span = rules.duration + rules.buffer_before + rules.buffer_after
    return Interval(start - span - timedelta(days=1), start + span + timedelta(days=1))


def create_booking(
    engine: Engine,
    *,
    business: str | None,
    service: str,
    staff: str,
    customer: CustomerInput,
    start: datetime,
    origin: Origin,
    actor: Actor,
    now: datetime,
    public_url: str,
    grid: timedelta,
    notifier: Notifier | None,
    note: str | None = None,
) -> BookingView:
    """Create a booking and return it with a fresh ``manage_url``.

    ``notifier`` queues the emails and reminders in the same transaction
    (``None`` only where no email may result, such as tests of the store).
    ``note`` is the customer's note to the business (``LIMITS["note"]``, line breaks kept),
    shown to staff.

    Raises ``NotFound`` for an unknown business, service or staff member,
    ``InvalidInput`` for bad customer details, ``SlotUnavailable`` (or its
    ``BookingConflict``) when the time cannot be booked.
    """
    note = check_text(note or "", "note", LIMITS["note"], lines=True) or None
    for _ in range(REF_ATTEMPTS):
        try:
            with _booking_transaction(engine) as session:
                biz = queries.business_by_slug(session, business)
                svc = queries.service_by_slug(session, biz, service)
                member = queries.staff_by_email(session, biz, staff)
                if member.id not in {s.id for s in queries.staff_for_service(session, svc)}:
                    raise InvalidInput(
                        N_("{email} does not perform {service}"), email=member.email, service=svc.slug
                    )
                _check_start(start)
                person = _upsert_customer(session, biz, customer, now)
                rules = queries.rules_of(svc)
                window = _window(start, rules)
                assert svc.id is not None and person.id is not None
                schedule = queries.schedule_of(session, member, window)
                event = core.create(
                    ref=new_ref(),
                    service_id=svc.id,
                    customer_id=person.id,
                    rules=rules,
                    schedule=schedule,
                    start=start,
                    origin=origin,
                    actor=actor,
                    now=now,
                    closures=queries.closures_of(session, biz, window),
                    grid=grid,
                )
                row = Booking(
                    business_id=pk(biz),
                    ref=event.booking.ref,
                    service_id=svc.id,
                    staff_id=event.booking.staff_id,
                    customer_id=person.id,
                    origin=event.booking.origin.value,
                    status=event.booking.status.value,
                    note=note,
                    created_at=now,
                )
                _apply(row, event.booking, rules, now)
                _record(session, row, event, notifier, old_staff=None, new_staff=member.email)
                token = mint_manage_token(session, row, now)
                warnings = booking_warnings(rules, schedule, start, actor, member.email)
                return view_of(session, row, manage_url=f"{public_url}/m/{token}", warnings=warnings)
        except IntegrityError as exc:
            if "ref" not in str(exc.orig).lower():
                raise
    raise InvalidInput(N_("could not allocate a booking reference; try again"))  # pragma: no cover


def reschedule_booking(
    engine: Engine,
    ref: str,
    *,
    start: datetime,
    staff: str | None,
    actor: Actor,
    now: datetime,
    grid: timedelta,
    notifier: Notifier | None,
    within: Session | None = None,
) -> BookingView:
    """Move a booking to ``start`` (and optionally to another staff member).

    ``within`` joins a caller's transaction instead of opening one.
    """
    with _booking_transaction(engine, within) as session:
        row = queries.booking_by_ref(session, ref, for_update=True)
        biz = session.get_one(Business, row.business_id)
        svc = session.get_one(Service, row.service_id)
        old_staff = session.get_one(Staff, row.staff_id)
        member = old_staff if staff is None else queries.staff_by_email(session, biz, staff)
        if member.id not in {s.id for s in queries.staff_for_service(session, svc)}:
            raise InvalidInput(N_("{email} does not perform {service}"), email=member.email, service=svc.slug)
        _check_start(start)
        rules = queries.rules_of(svc)
        window = _window(start, rules)
        schedule = queries.schedule_of(session, member, window)
        event = core.reschedule(
            queries.state_of(row),
            rules=rules,
            schedule=schedule,
            start=start,
            actor=actor,
            now=now,
            closures=queries.closures_of(session, biz, window),
            grid=grid,
        )
        _apply(row, event.new, rules, now)
        extend_tokens(session, row)
        _record(session, row, event, notifier, old_staff=old_staff.email, new_staff=member.email)
        return view_of(session, row, warnings=booking_warnings(rules, schedule, start, actor, member.email))


def cancel_booking(
    engine: Engine,
    ref: str,
    *,
    reason: str | None,
    actor: Actor,
    now: datetime,
    notifier: Notifier | None,
    within: Session | None = None,
) -> BookingView:
    """Cancel a booking; its slot is free again at once. ``within`` joins a caller's transaction."""
    if reason:
        reason = check_text(reason, "reason", LIMITS["reason"], lines=True) or None
    with _booking_transaction(engine, within) as session:
        row = queries.booking_by_ref(session, ref, for_update=True)
        svc = session.get_one(Service, row.service_id)
        staff = session.get_one(Staff, row.staff_id)
        rules = queries.rules_of(svc)
        event = core.cancel(queries.state_of(row), rules=rules, actor=actor, now=now, reason=reason)
        _apply(row, event.booking, rules, now)
        row.cancelled_at = now
        _record(session, row, event, notifier, old_staff=staff.email, new_staff=staff.email)
        return view_of(session, row)


def get_booking(engine: Engine, ref: str) -> BookingView:
    with read_session(engine) as session:
        return view_of(session, queries.booking_by_ref(session, ref))


def calendar_bounds(
    start_from: datetime | None, start_to: datetime | None
) -> tuple[datetime | None, datetime | None] | None:
    """A ``[start_from, start_to)`` search moved into the calendar (``FIRST_DAY``..``LAST_DAY``).

    A bound beyond the calendar is no bound (the same answer, and 0001-01-01 in
    Berlin never overflows on its way to UTC); None when the range lies wholly
    outside it, so nothing can match.
    """
    if (start_from is not None and start_from.date() > LAST_DAY) or (
        start_to is not None and start_to.date() < FIRST_DAY
    ):
        return None
    lower = start_from if start_from is not None and start_from.date() >= FIRST_DAY else None
    upper = start_to if start_to is not None and start_to.date() <= LAST_DAY else None
    return lower, upper


def list_bookings(
    engine: Engine,
    *,
    start_from: datetime | None = None,
    start_to: datetime | None = None,
    business_id: int | None = None,
    status: str | None = None,
    service: str | None = None,
    staff: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[BookingView]:
    """Every booking (cancelled too) by start time, optionally within ``[start_from, start_to)``.

    The other filters narrow it to one business, one ``status`` (``confirmed``/``cancelled``),
    one service (slug) or staff member (email); ``offset`` and ``limit`` page through the result.
    """
    bounds = calendar_bounds(start_from, start_to)
    if bounds is None:
        return []
    start_from, start_to = bounds
    with read_session(engine) as session:
        statement = select(Booking)
        if business_id is not None:
            statement = statement.where(Booking.business_id == business_id)
        if start_from is not None:
            statement = statement.where(col(Booking.start) >= start_from)
        if start_to is not None:
            statement = statement.where(col(Booking.start) < start_to)
        if status is not None:
            statement = statement.where(Booking.status == status)
        if service is not None:
            statement = statement.join(Service, col(Service.id) == col(Booking.service_id)).where(
                Service.slug == service
            )
        if staff is not None:
            statement = statement.join(Staff, col(Staff.id) == col(Booking.staff_id)).where(
                Staff.email == staff.strip().lower()
            )
        statement = statement.order_by(col(Booking.start), col(Booking.id)).offset(offset).limit(limit)
        return [view_of(session, row) for row in session.exec(statement)]
