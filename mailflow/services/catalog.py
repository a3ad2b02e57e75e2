"""Read functions for what a business offers: the business itself, its services and staff.

They take the caller's read session (``mailflow.store.engine.read_session``), so a page
that shows several of them reads in one session; none of them changes anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from mailflow.booking.model import BookingStatus
from mailflow.errors import NotFound
from mailflow.store import queries
from mailflow.store.tables import Booking, Business, Customer, Service, Staff, pk


def default_business(session: Session) -> Business:
    """The business the customer pages show: the first one created.

    Raises ``NotFound`` while there is none yet.
    """
    business = session.exec(select(Business).order_by(col(Business.id))).first()
    if business is None:
        raise NotFound("business", "(none yet: run `mailflow demo` or create one)")
    return business


def business_by_id(session: Session, business_id: int) -> Business:
    """The business with ``business_id`` (a signed-in member's or an API key's); ``NotFound`` if gone."""
    business = session.get(Business, business_id)
    if business is None:
        raise NotFound("business", str(business_id))
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


def staff_offerings(session: Session, business: Business, services: Sequence[Service]) -> list[StaffOffering]:
    """The active staff members who perform at least one of ``services``, with those services' names."""
    performers = {service.id: queries.staff_for_service(session, service) for service in services}
    offerings = []
    for member in session.exec(
        select(Staff)
        .where(Staff.business_id == pk(business), col(Staff.active).is_(True))
        .order_by(col(Staff.id))
    ).all():
        names = [s.name for s in services if member in performers[s.id]]
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
