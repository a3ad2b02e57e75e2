"""The booking as every reader sees it: the JSON shape of DESIGN §10 (CLI, API, webhooks).

Its own module so that the booking use cases and the webhook events (planned by
them) both build it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from mailflow.services.booking_warnings import BookingWarning
from mailflow.store.tables import Booking, Business, Customer, Service, Staff

__all__ = ["BookingView", "view_of"]


@dataclass(frozen=True, slots=True)
class BookingView:
    """A booking with the names a reader needs: the JSON shape of DESIGN §10."""

    ref: str
    status: str
    origin: str
    service: str
    staff: str
    customer_email: str
    customer_name: str
    customer_locale: str
    customer_timezone: str
    start: datetime
    end: datetime
    sequence: int
    business_timezone: str
    manage_url: str | None = None
    warnings: tuple[BookingWarning, ...] = ()
    """What staff should know about a booking they made anyway (issue 19): API and CLI show it."""

    def to_json(self) -> dict[str, Any]:
        zone = ZoneInfo(self.business_timezone)
        data: dict[str, Any] = {
            "ref": self.ref,
            "status": self.status,
            "origin": self.origin,
            "service": self.service,
            "staff": self.staff,
            "customer": {
                "email": self.customer_email,
                "name": self.customer_name,
                "locale": self.customer_locale,
                "timezone": self.customer_timezone,
            },
            "start": self.start.astimezone(zone).isoformat(),
            "end": self.end.astimezone(zone).isoformat(),
            "sequence": self.sequence,
        }
        if self.manage_url is not None:
            data["manage_url"] = self.manage_url
        if self.warnings:
            data["warnings"] = [warning.to_json() for warning in self.warnings]
        return data


def view_of(
    session: Session,
    booking: Booking,
    manage_url: str | None = None,
    warnings: tuple[BookingWarning, ...] = (),
) -> BookingView:
    service = session.get_one(Service, booking.service_id)
    staff = session.get_one(Staff, booking.staff_id)
    customer = session.get_one(Customer, booking.customer_id)
    business = session.get_one(Business, booking.business_id)
    return BookingView(
        ref=booking.ref,
        status=booking.status,
        origin=booking.origin,
        service=service.slug,
        staff=staff.email,
        customer_email=customer.email,
        customer_name=customer.name,
        customer_locale=customer.locale,
        customer_timezone=customer.timezone,
        start=booking.start,
        end=booking.end,
        sequence=booking.sequence,
        business_timezone=business.timezone,
        manage_url=manage_url,
        warnings=warnings,
    )
