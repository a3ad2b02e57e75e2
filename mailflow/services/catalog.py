"""The services a business offers: create, change, archive (never delete), show.

A service's name, description and change instructions are kept per language
(``{"en": "Haircut", "de": "Haarschnitt"}``) and shown to each customer in
theirs, falling back to the business's default language. A new duration or
new buffers apply to bookings made from then on; the bookings already made keep
their times. Changed reminder offsets re-plan the pending reminders of every
upcoming booking of the service at once, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from mailflow.booking.model import Actor, BookingStatus
from mailflow.errors import InvalidInput, NoBusinessYet, NotFound
from mailflow.i18n import N_, Nn_, Term
from mailflow.services.common import (
    LIMITS,
    apply_changes,
    audit,
    check_slug,
    check_text,
    check_texts,
    normalize_email,
    unknown_fields,
)
from mailflow.services.reminders import replan_offsets
from mailflow.store import queries
from mailflow.store.engine import read_session, write_session
from mailflow.store.tables import Booking, Business, Customer, Service, ServiceStaff, Staff, pk

MAX_MINUTES = 60 * 24 * 365
MAX_REMINDERS = 10
NUMBERS = {
    # field: (column, lowest, highest, what)
    "duration": ("duration_minutes", 5, 24 * 60, N_("the duration (minutes)")),
    "buffer_before": ("buffer_before_minutes", 0, 24 * 60, N_("the buffer before (minutes)")),
    "buffer_after": ("buffer_after_minutes", 0, 24 * 60, N_("the buffer after (minutes)")),
    "min_notice": ("min_notice_minutes", 0, MAX_MINUTES, N_("the minimum notice (minutes)")),
    "horizon_days": ("horizon_days", 1, 730, N_("the horizon (days)")),
    "change_cutoff": ("change_cutoff_minutes", 0, MAX_MINUTES, N_("the change cut-off (minutes)")),
}
FIELDS = {
    *NUMBERS,
    "names",
    "descriptions",
    "change_instructions",
    "customer_can_manage",
    "reminders",
    "location",
    "staff",
    "active",
}


@dataclass(frozen=True, slots=True)
class ServiceView:
    """A service as the CLI and the API show it (``name`` etc. in the default language)."""

    slug: str
    name: str
    description: str
    names: dict[str, str]
    descriptions: dict[str, str]
    change_instructions: dict[str, str]
    active: bool
    duration_minutes: int
    buffer_before_minutes: int
    buffer_after_minutes: int
    customer_can_manage: bool
    change_cutoff_minutes: int
    min_notice_minutes: int
    horizon_days: int
    reminder_offsets_minutes: list[int]
    location: str
    staff: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "name": self.name,
            "description": self.description,
            "names": dict(self.names),
            "descriptions": dict(self.descriptions),
            "change_instructions": dict(self.change_instructions),
            "active": self.active,
            "duration_minutes": self.duration_minutes,
            "buffer_before_minutes": self.buffer_before_minutes,
            "buffer_after_minutes": self.buffer_after_minutes,
            "customer_can_manage": self.customer_can_manage,
            "change_cutoff_minutes": self.change_cutoff_minutes,
            "min_notice_minutes": self.min_notice_minutes,
            "horizon_days": self.horizon_days,
            "reminder_offsets_minutes": list(self.reminder_offsets_minutes),
            "location": self.location,
            "staff": list(self.staff),
        }


def service_view(session: Session, service: Service) -> ServiceView:
    return ServiceView(
        slug=service.slug,
        name=service.name,
        description=service.description,
        names=dict(service.names)
        or {session.get_one(Business, service.business_id).default_locale: service.name},
        descriptions=dict(service.descriptions),
        change_instructions=dict(service.instructions),
        active=service.active,
        duration_minutes=service.duration_minutes,
        buffer_before_minutes=service.buffer_before_minutes,
        buffer_after_minutes=service.buffer_after_minutes,
        customer_can_manage=service.customer_can_manage,
        change_cutoff_minutes=service.change_cutoff_minutes,
        min_notice_minutes=service.min_notice_minutes,
        horizon_days=service.horizon_days,
        reminder_offsets_minutes=sorted(service.reminder_offsets_minutes, reverse=True),
        location=service.location,
        staff=[member.email for member in _eligible_now(session, service)],
    )


def _eligible_now(session: Session, service: Service) -> list[Staff]:
    """Every staff member linked to ``service`` (deactivated ones too), by id."""
    return list(
        session.exec(
            select(Staff)
            .join(ServiceStaff, col(ServiceStaff.staff_id) == col(Staff.id))
            .where(ServiceStaff.service_id == service.id)
            .order_by(col(Staff.id))
        )
    )


def _whole(value: Any, field: str) -> int:
    _column, low, high, what = NUMBERS[field]
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(N_("{what} must be a whole number"), what=Term(what), field=field) from None
    if isinstance(value, float) and value != number:
        raise InvalidInput(N_("{what} must be a whole number"), what=Term(what), field=field)
    if not low <= number <= high:
        raise InvalidInput(
            N_("{what} must be between {low} and {high}"), what=Term(what), low=low, high=high, field=field
        )
    return number


def _offsets(values: list[int]) -> list[int]:
    offsets = sorted({int(value) for value in values}, reverse=True)
    if len(offsets) > MAX_REMINDERS:
        raise InvalidInput(
            Nn_("at most {n} reminder", "at most {n} reminders"), n=MAX_REMINDERS, field="reminders"
        )
    if any(not 1 <= offset <= MAX_MINUTES for offset in offsets):
        raise InvalidInput(
            N_("each reminder must be 1 to {most} minutes before the start"),
            most=MAX_MINUTES,
            field="reminders",
        )
    return offsets


def _members(session: Session, business: Business, emails: list[str]) -> list[Staff]:
    if not emails:
        raise InvalidInput(
            N_("a service needs at least one staff member, or nobody can be booked for it"), field="staff"
        )
    members = []
    for email in dict.fromkeys(normalize_email(e, field="staff") for e in emails):
        member = session.exec(
            select(Staff).where(Staff.business_id == business.id, Staff.email == email)
        ).first()
        if member is None:
            raise InvalidInput(
                N_("no staff member {email!r} in {business}: add them first"),
                email=email,
                business=business.slug,
                field="staff",
            )
        members.append(member)
    return members


def _columns(business: Business, values: dict[str, Any]) -> dict[str, Any]:
    """The service columns for ``values`` (checked); text maps keep ``""`` for a language to
    remove (``_merge_texts`` applies them)."""
    languages = list(business.locales)
    columns: dict[str, Any] = {}
    for field, (column, *_) in NUMBERS.items():
        if field in values:
            columns[column] = _whole(values[field], field)
    if "customer_can_manage" in values:
        columns["customer_can_manage"] = bool(values["customer_can_manage"])
    if "active" in values:
        columns["active"] = bool(values["active"])
    if "reminders" in values:
        columns["reminder_offsets_minutes"] = _offsets(list(values["reminders"]))
    if "location" in values:
        columns["location"] = check_text(values["location"] or "", "location", LIMITS["location"])
    for key, column, limit, lines in (
        ("names", "names", LIMITS["name"], False),
        ("descriptions", "descriptions", LIMITS["description"], True),
        ("change_instructions", "instructions", LIMITS["instructions"], True),
    ):
        if key in values:
            given = dict(values[key] or {})
            columns[column] = check_texts(given, languages, key, limit, keep_empty=True, lines=lines)
    return columns


def _merge_texts(service: Service | None, columns: dict[str, Any], default: str) -> None:
    """Given languages replace theirs (an empty text removes one); the default-language text
    mirrors into the single columns."""
    for key in ("names", "descriptions", "instructions"):
        if key in columns:
            given = columns[key]
            current = dict(getattr(service, key) or {}) if service is not None else {}
            current.update(given)
            columns[key] = {lang: text for lang, text in current.items() if text}
    if "names" in columns:
        if default not in columns["names"]:
            raise InvalidInput(
                N_("the service needs a name in {language}, the default language"),
                language=default,
                field="names",
            )
        columns["name"] = columns["names"][default]
    if "descriptions" in columns:
        columns["description"] = columns["descriptions"].get(default, "")
    if "instructions" in columns:
        columns["change_instructions"] = columns["instructions"].get(default)


def create_service(
    engine: Engine,
    business: str | None,
    *,
    slug: str,
    values: dict[str, Any],
    actor: Actor,
    now: datetime,
) -> ServiceView:
    """Create a service. ``values``: ``names`` ({language: text}, the default language's
    required), ``duration`` (minutes, required), ``staff`` (emails, at least one), and
    optionally ``descriptions``, ``change_instructions`` (maps), ``buffer_before``,
    ``buffer_after``, ``min_notice``, ``change_cutoff`` (minutes), ``horizon_days``,
    ``customer_can_manage``, ``reminders`` (minutes before the start), ``location``.

    Raises ``InvalidInput`` naming the field: slug in use or malformed, no staff, unknown
    language, a number out of range.
    """
    unknown = set(values) - FIELDS
    if unknown:
        raise unknown_fields(unknown)
    if "duration" not in values:
        raise InvalidInput(N_("a service needs a duration in minutes"), field="duration")
    with write_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        slug = check_slug(slug)
        taken = session.exec(
            select(Service.id).where(Service.business_id == biz.id, Service.slug == slug)
        ).first()
        if taken is not None:
            raise InvalidInput(
                N_("the slug {slug!r} is in use by another service: choose another"), slug=slug, field="slug"
            )
        columns = _columns(biz, {"names": {}, **values})
        members = _members(session, biz, list(values.get("staff") or []))
        _merge_texts(None, columns, biz.default_locale)
        service = Service(business_id=pk(biz), slug=slug, **columns)
        session.add(service)
        session.flush()
        for member in members:
            session.add(ServiceStaff(service_id=pk(service), staff_id=pk(member)))
        session.flush()
        view = service_view(session, service)
        audit(
            session, business_id=pk(biz), action="service.created", actor=actor, at=now, after=view.to_json()
        )
        return view


def update_service(
    engine: Engine,
    business: str | None,
    slug: str,
    values: dict[str, Any],
    *,
    actor: Actor,
    now: datetime,
) -> ServiceView:
    """Change a service: the keys of ``create_service``'s ``values`` (plus ``active``), only
    those given. Text maps replace the languages given (an empty text removes one; the
    default language's name stays required). Changed reminders re-plan the pending reminders
    of upcoming bookings in the same transaction. Audited with before and after.
    """
    unknown = set(values) - FIELDS
    if unknown:
        raise unknown_fields(unknown)
    with write_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        service = queries.service_by_slug(session, biz, slug)
        columns = _columns(biz, values)
        _merge_texts(service, columns, biz.default_locale)
        old_offsets = sorted(service.reminder_offsets_minutes)
        before, after = apply_changes(service, columns)
        if "staff" in values:
            members = _members(session, biz, list(values["staff"] or []))
            current = [m.email for m in _eligible_now(session, service)]
            wanted = [m.email for m in members]
            if sorted(current) != sorted(wanted):
                session.execute(delete(ServiceStaff).where(col(ServiceStaff.service_id) == pk(service)))
                for member in members:
                    session.add(ServiceStaff(service_id=pk(service), staff_id=pk(member)))
                before["staff"], after["staff"] = current, wanted
        if after:
            session.add(service)
            session.flush()
            if sorted(service.reminder_offsets_minutes) != old_offsets:
                replan_service_reminders(session, service, now)
            audit(
                session,
                business_id=pk(biz),
                action="service.updated",
                actor=actor,
                at=now,
                before={"service": service.slug, **before},
                after=after,
            )
        return service_view(session, service)


def replan_service_reminders(session: Session, service: Service, now: datetime) -> int:
    """Bring the reminders of every upcoming confirmed booking of ``service`` in line with its
    offsets (see ``replan_offsets``); returns how many bookings were looked at."""
    bookings = session.exec(
        select(Booking).where(
            Booking.service_id == service.id,
            Booking.status == BookingStatus.CONFIRMED.value,
            col(Booking.start) > now,
        )
    ).all()
    for booking in bookings:
        replan_offsets(session, booking, service.reminder_offsets_minutes, now)
    return len(bookings)


def archive_service(
    engine: Engine, business: str | None, slug: str, *, actor: Actor, now: datetime
) -> ServiceView:
    """Take a service off the booking pages; it is never deleted (bookings refer to it) and
    its bookings stay as they are. ``restore`` is ``update_service(…, {"active": True})``."""
    return update_service(engine, business, slug, {"active": False}, actor=actor, now=now)


def list_services(
    engine: Engine, business: str | None, *, include_archived: bool = True
) -> list[ServiceView]:
    with read_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        statement = select(Service).where(Service.business_id == biz.id).order_by(col(Service.id))
        if not include_archived:
            statement = statement.where(col(Service.active).is_(True))
        return [service_view(session, row) for row in session.exec(statement)]


def get_service(engine: Engine, business: str | None, slug: str) -> ServiceView:
    with read_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        return service_view(session, queries.service_by_slug(session, biz, slug))


# --- what the customer pages read (in the caller's read session) ----------------------------


def default_business(session: Session) -> Business:
    """The business the customer pages show: the first one created.

    Raises ``NotFound`` while there is none yet.
    """
    business = session.exec(select(Business).order_by(col(Business.id))).first()
    if business is None:
        raise NoBusinessYet(
            N_("business"), message=N_("there is no business yet: run `mailflow demo` or create one")
        )
    return business


def business_by_id(session: Session, business_id: int) -> Business:
    """The business with ``business_id`` (a signed-in member's or an API key's); ``NotFound`` if gone."""
    business = session.get(Business, business_id)
    if business is None:
        raise NotFound(N_("business"), str(business_id))
    return business


def active_services(session: Session, business: Business) -> Sequence[Service]:
    """The business's services that can be booked (not archived), in the order they were created."""
    return session.exec(
        select(Service)
        .where(Service.business_id == pk(business), col(Service.active).is_(True))
        .order_by(col(Service.id))
    ).all()


@dataclass(frozen=True, slots=True)
class StaffOffering:
    """A staff member as the self-service page introduces them: name and the services they do."""

    name: str
    services: list[str]


def staff_offerings(
    session: Session, business: Business, services: Sequence[Service], locale: str
) -> list[StaffOffering]:
    """The active staff members who perform at least one of ``services``, with those services'
    names in ``locale``."""
    performers = {service.id: queries.staff_for_service(session, service) for service in services}
    offerings = []
    for member in session.exec(
        select(Staff)
        .where(Staff.business_id == pk(business), col(Staff.active).is_(True))
        .order_by(col(Staff.id))
    ).all():
        names = [s.name_in(locale) for s in services if member in performers[s.id]]
        if names:
            offerings.append(StaffOffering(name=member.name or member.email, services=names))
    return offerings


def confirmed_booking_ref(
    session: Session, *, customer_email: str, service_slug: str, staff_email: str, start: datetime
) -> str | None:
    """The reference of the customer's confirmed booking of exactly this slot, if there is one.

    The self-service page asks it to recognise a double submission of its form.
    """
    return session.exec(
        select(Booking.ref)
        .join(Customer, col(Customer.id) == col(Booking.customer_id))
        .join(Service, col(Service.id) == col(Booking.service_id))
        .join(Staff, col(Staff.id) == col(Booking.staff_id))
        .where(
            Customer.email == customer_email,
            Service.slug == service_slug,
            Staff.email == staff_email,
            Booking.start == start,
            Booking.status == BookingStatus.CONFIRMED.value,
        )
    ).first()
