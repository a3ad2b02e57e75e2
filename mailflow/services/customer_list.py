"""The admin's customer list and one customer's page: read models only.

``search_customers`` pages through a business's customers, found by a part of their name,
address or phone number (any case; a phone number also without its spaces, dashes, dots,
slashes and brackets), the same on SQLite and PostgreSQL; ``customer_detail`` is one customer
with their bookings, upcoming and past. ``staff_id`` None is an admin's view (every customer
of the business); a staff member's views hold the customers they have (had) a booking with
and only those bookings, as their calendar does. Erased customers are left out. The one
action on these pages, clearing a bounce flag, is ``bounces.clear_bouncing``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, or_
from sqlmodel import col, select

from mailflow.booking.model import BookingStatus
from mailflow.errors import NotFound
from mailflow.i18n import N_
from mailflow.services.calendar import Row, rows_of
from mailflow.store.engine import read_session
from mailflow.store.tables import Booking, Business, Customer

PAGE_SIZE = 50
PHONE_PUNCTUATION = " -./()"
"""What people write between the digits of a phone number; ignored when matching one."""


@dataclass(frozen=True, slots=True)
class CustomerRow:
    """A customer as the list shows them."""

    id: int
    name: str
    email: str
    phone: str
    locale: str
    bouncing: bool
    upcoming: int
    """Confirmed bookings that have not ended yet (only the staff member's own in their view)."""


@dataclass(frozen=True, slots=True)
class CustomerPage:
    """One page of the list: its rows, how many customers matched, and which page of how many."""

    rows: list[CustomerRow]
    total: int
    page: int
    pages: int


@dataclass(frozen=True, slots=True)
class CustomerDetail:
    """One customer and their bookings (cancelled ones too), upcoming by start, past newest first."""

    id: int
    name: str
    email: str
    phone: str
    locale: str
    timezone: str
    bouncing: bool
    created_at: datetime
    upcoming: list[Row]
    past: list[Row]


def _like(text: str) -> str:
    """``text`` as a LIKE pattern matching it anywhere, its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _bare_phone(column: Any) -> Any:
    for mark in PHONE_PUNCTUATION:
        column = func.replace(column, mark, "")
    return column


def _matching(query: str) -> list[Any]:
    """The conditions of a search for ``query`` (none when it is blank)."""
    words = query.strip().lower()
    if not words:
        return []
    found = [
        func.lower(col(Customer.name)).like(_like(words), escape="\\"),
        func.lower(col(Customer.email)).like(_like(words), escape="\\"),
        func.lower(col(Customer.phone)).like(_like(words), escape="\\"),
    ]
    digits = "".join(ch for ch in words if ch not in PHONE_PUNCTUATION)
    if digits and any(ch.isdigit() for ch in digits):
        found.append(_bare_phone(col(Customer.phone)).like(_like(digits), escape="\\"))
    return [or_(*found)]


def _scope(business_id: int, staff_id: int | None) -> list[Any]:
    """Whose customers: the business's, not erased; only those with ``staff_id``'s bookings."""
    conditions = [
        col(Customer.business_id) == business_id,
        ~col(Customer.email).like("erased-%@erased.invalid"),  # see customers.erased_address
    ]
    if staff_id is not None:
        theirs = select(Booking.customer_id).where(col(Booking.staff_id) == staff_id)
        conditions.append(col(Customer.id).in_(theirs))
    return conditions


def search_customers(
    engine: Engine,
    business_id: int,
    *,
    now: datetime,
    query: str = "",
    page: int = 1,
    staff_id: int | None = None,
    per_page: int = PAGE_SIZE,
) -> CustomerPage:
    """Page ``page`` (from 1; beyond the last one gives the last) of the business's customers
    matching ``query``, by name, with each one's count of upcoming bookings.

    >>> search_customers(engine, 1, now=now, query="lovelace").rows[0].email
    'ada@example.com'
    """
    conditions = _scope(business_id, staff_id) + _matching(query)
    upcoming = select(func.count(col(Booking.id))).where(
        col(Booking.customer_id) == col(Customer.id),
        col(Booking.status) == BookingStatus.CONFIRMED.value,
        col(Booking.end) > now,
    )
    if staff_id is not None:
        upcoming = upcoming.where(col(Booking.staff_id) == staff_id)
    with read_session(engine) as session:
        total = session.exec(select(func.count(col(Customer.id))).where(*conditions)).one()
        pages = max(1, -(-total // per_page))
        page = min(max(page, 1), pages)
        found = session.exec(
            select(Customer, upcoming.scalar_subquery())
            .where(*conditions)
            .order_by(func.lower(col(Customer.name)), col(Customer.id))
            .offset((page - 1) * per_page)
            .limit(per_page)
        ).all()
        rows = [
            CustomerRow(
                id=int(customer.id or 0),
                name=customer.name,
                email=customer.email,
                phone=customer.phone,
                locale=customer.locale,
                bouncing=customer.bouncing,
                upcoming=int(count or 0),
            )
            for customer, count in found
        ]
    return CustomerPage(rows=rows, total=int(total), page=page, pages=pages)


def customer_detail(
    engine: Engine, business_id: int, customer_id: int, *, now: datetime, staff_id: int | None = None
) -> CustomerDetail:
    """Customer ``customer_id`` of the business with their bookings (only ``staff_id``'s unless
    it is None), times in the business's zone. ``NotFound`` when the business has no such
    customer, or a staff member no booking with them."""
    with read_session(engine) as session:
        customer = session.exec(
            select(Customer).where(col(Customer.id) == customer_id, *_scope(business_id, staff_id))
        ).first()
        if customer is None:
            raise NotFound(N_("customer"), str(customer_id))
        zone = session.get_one(Business, business_id).timezone
        statement = select(Booking).where(col(Booking.customer_id) == customer_id)
        if staff_id is not None:
            statement = statement.where(col(Booking.staff_id) == staff_id)
        bookings = list(session.exec(statement.order_by(col(Booking.start), col(Booking.id))).all())
        ahead = rows_of(session, [b for b in bookings if b.end > now], zone)
        behind = rows_of(session, [b for b in reversed(bookings) if b.end <= now], zone)
        return CustomerDetail(
            id=customer_id,
            name=customer.name,
            email=customer.email,
            phone=customer.phone,
            locale=customer.locale,
            timezone=customer.timezone,
            bouncing=customer.bouncing,
            created_at=customer.created_at,
            upcoming=ahead,
            past=behind,
        )
