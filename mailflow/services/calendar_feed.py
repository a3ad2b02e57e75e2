"""The staff calendar feed (issue 19): a private iCalendar subscription per staff member.

``new_feed_url`` mints ``{public_url}/cal/{token}.ics`` (256 random bits; only the
SHA-256 is stored, as for manage tokens; a new one replaces the old, which then
answers 404). ``read_feed`` answers a calendar app's poll: the member's confirmed
bookings from ``FEED_PAST`` ago to the furthest booking horizon of the business's
services, each event with the customer's name, phone and email, and the same UID as
the booking emails' calendar parts (``booking_uid``), so a subscribed calendar and an
invitation in the inbox are one event.

An admin's own feed covers the whole business (every staff member's bookings, each
summary naming the staff member): one subscription per person, and what an admin sees
follows their role at every poll.

The ETag is a digest of the rows the feed is made of (one narrow query, no ICS written),
so an unchanged feed is answered 304 without building the body.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, delete, select

from mailflow.booking.model import Actor, BookingStatus
from mailflow.booking.tokens import hash_token, looks_like_token, new_token
from mailflow.outbound.i18n import message
from mailflow.outbound.ics import CalendarEntry, booking_uid, feed_bytes
from mailflow.services.common import audit
from mailflow.store import queries
from mailflow.store.engine import read_session, write_session
from mailflow.store.tables import Booking, Business, CalendarFeed, Customer, Service, Staff, pk

__all__ = ["FEED_PAST", "REFRESH_MINUTES", "Feed", "feed_created_at", "new_feed_url", "read_feed"]

FEED_PAST = timedelta(days=30)
REFRESH_MINUTES = 15
ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Feed:
    """A feed's ETag, and the body, built only when asked for (a 304 needs none)."""

    etag: str
    build: Callable[[], bytes]


def new_feed_url(
    engine: Engine, business: str | None, email: str, *, public_url: str, actor: Actor, now: datetime
) -> str:
    """A new private feed URL for the staff member ``email``; their previous one stops working.

    Raises ``NotFound`` for an unknown business or staff member.
    """
    token = new_token()
    with write_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        member = queries.staff_by_email(session, biz, email)
        replaced = session.exec(delete(CalendarFeed).where(col(CalendarFeed.staff_id) == pk(member)))
        session.add(CalendarFeed(staff_id=pk(member), token_hash=hash_token(token), created_at=now))
        audit(
            session,
            business_id=pk(biz),
            action="staff.calendar_feed_created",
            actor=actor,
            at=now,
            after={"staff": member.email, "replaced": bool(replaced.rowcount)},
        )
    return f"{public_url}/cal/{token}.ics"


def feed_created_at(engine: Engine, business: str | None, email: str) -> datetime | None:
    """When the staff member's current feed URL was made (None: they have none)."""
    with read_session(engine) as session:
        member = queries.staff_by_email(session, queries.business_by_slug(session, business), email)
        return session.exec(select(CalendarFeed.created_at).where(CalendarFeed.staff_id == member.id)).first()


# The columns an event is made of, in one query (with the services and staff members apart): a
# change to any of them changes the ETag.
_COLUMNS: tuple[Any, ...] = (
    Booking.ref,
    Booking.sequence,
    Booking.start,
    Booking.end,
    Booking.updated_at,
    Booking.note,
    Customer.name,
    Customer.email,
    Customer.phone,
    Booking.service_id,
    Booking.staff_id,
)


def read_feed(engine: Engine, token: str, now: datetime, *, public_url: str, domain: str) -> Feed | None:
    """The feed a token opens, or None (unknown, replaced or malformed token, inactive member).

    ``domain`` is the message domain of the booking emails' UIDs.
    """
    if not looks_like_token(token):
        return None
    with read_session(engine) as session:
        member = session.exec(
            select(Staff)
            .join(CalendarFeed, col(CalendarFeed.staff_id) == col(Staff.id))
            .where(CalendarFeed.token_hash == hash_token(token))
        ).first()
        if member is None or not member.active:
            return None
        business = session.get_one(Business, member.business_id)
        whole_business = member.role == ADMIN
        rows = _rows(session, business, member, now, whole_business=whole_business)
        # The few services and staff apart: their names (a JSON map) are not read once per booking.
        services = {
            pk(row): (row.name, row.names, row.location)
            for row in session.exec(select(Service).where(Service.business_id == business.id))
        }
        staff = {
            pk(row): (row.name, row.email)
            for row in session.exec(select(Staff).where(Staff.business_id == business.id))
        }
        facts = (business.name, business.address, business.sender_name, business.sender_email)
        facts_of_member = (business.email, member.locale, member.name, member.email)
    digest = hashlib.sha256(
        repr(
            (facts, facts_of_member, whole_business, sorted(services.items()), sorted(staff.items()), rows)
        ).encode()
    ).hexdigest()[:32]

    def build() -> bytes:
        name = business.name if whole_business else f"{business.name} – {member.name or member.email}"
        entries = [
            _entry(
                row[:9] + services[row[9]] + staff[row[10]],
                business,
                member.locale,
                public_url,
                domain,
                whole_business=whole_business,
            )
            for row in rows
        ]
        return feed_bytes(name, entries, REFRESH_MINUTES)

    return Feed(etag=f'"{digest}"', build=build)


def _rows(
    session: Session, business: Business, member: Staff, now: datetime, *, whole_business: bool
) -> list[tuple[Any, ...]]:
    horizon = session.exec(
        select(func.max(Service.horizon_days)).where(Service.business_id == business.id)
    ).first()
    statement = (
        select_columns(*_COLUMNS)
        .join(Customer, col(Customer.id) == col(Booking.customer_id))
        .where(
            col(Booking.business_id) == business.id,
            col(Booking.status) == BookingStatus.CONFIRMED.value,
            col(Booking.end) > now - FEED_PAST,
            col(Booking.start) < now + timedelta(days=(horizon or 0) + 1),
        )
        .order_by(col(Booking.start), col(Booking.id))
    )
    if not whole_business:
        statement = statement.where(col(Booking.staff_id) == member.id)
    return [tuple(row) for row in session.connection().execute(statement)]


def _entry(
    row: tuple[Any, ...],
    business: Business,
    locale: str,
    public_url: str,
    domain: str,
    *,
    whole_business: bool,
) -> CalendarEntry:
    (ref, sequence, start, end, updated_at, note, customer, email, phone) = row[:9]
    (service_name, service_names, location, staff_name, staff_email) = row[9:]
    service = service_names.get(locale) or service_name
    summary = message(locale, "calendar.staff_summary", customer=customer, service=service)
    if whole_business:
        summary = f"{summary} · {staff_name or staff_email}"
    admin_url = f"{public_url}/admin/bookings/{ref}"
    lines = [message(locale, "calendar.customer", name=customer)]
    if phone:
        lines.append(message(locale, "calendar.phone", phone=phone))
    lines.append(message(locale, "calendar.email", email=email))
    if note:
        lines.append(message(locale, "calendar.note", note=note))
    lines += [
        f"{service} · {staff_name or staff_email} · {ref}",
        message(locale, "calendar.admin", url=admin_url),
    ]
    return CalendarEntry(
        uid=booking_uid(ref, domain),
        sequence=sequence,
        start=start,
        end=end,
        summary=summary,
        location=location or business.address,
        description="\n".join(lines),
        organizer_name=business.sender_name or business.name,
        organizer_email=business.sender_email or business.email,
        attendee_name=staff_name or staff_email,
        attendee_email=staff_email,
        stamp=updated_at,  # the last change: the body stays the same while nothing changes
        url=admin_url,
    )
