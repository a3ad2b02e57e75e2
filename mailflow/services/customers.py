"""Read models of a business's customers (listing and one by address).

Customers are made and updated by booking (``bookings``); exporting and erasing
what is held about one is ``mailflow.customers``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, select

from mailflow.errors import NotFound
from mailflow.store import queries
from mailflow.store.engine import read_session
from mailflow.store.tables import Customer


@dataclass(frozen=True, slots=True)
class CustomerView:
    """A customer as the API shows them."""

    email: str
    name: str
    phone: str
    locale: str
    timezone: str
    bouncing: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "name": self.name,
            "phone": self.phone,
            "locale": self.locale,
            "timezone": self.timezone,
            "bouncing": self.bouncing,
        }


def _view(row: Customer) -> CustomerView:
    return CustomerView(row.email, row.name, row.phone, row.locale, row.timezone, row.bouncing)


def list_customers(
    engine: Engine, business: str | None, *, email: str | None = None, limit: int = 100, offset: int = 0
) -> list[CustomerView]:
    """The business's customers by address (only ``email``'s, any case, when given)."""
    with read_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        statement = select(Customer).where(Customer.business_id == biz.id)
        if email is not None:
            statement = statement.where(Customer.email == email.strip().lower())
        rows = session.exec(statement.order_by(col(Customer.email)).offset(offset).limit(limit))
        return [_view(row) for row in rows]


def get_customer(engine: Engine, business: str | None, email: str) -> CustomerView:
    """One customer by address (any case); ``NotFound`` when the business has none."""
    address = email.strip().lower()
    with read_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        row = queries.customer_for(session, biz, address) if "@" in address else None
        if row is None:
            raise NotFound("customer", email)
        return _view(row)
