"""The demo business of DESIGN §10, seeded idempotently, and sample bookings."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import select

from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.services import CustomerInput, create_booking
from mailflow.store.engine import read_session, write_session
from mailflow.store.tables import Booking, Business, Service, ServiceStaff, Staff, pk

if TYPE_CHECKING:
    from mailflow.app import App

SLUG = "contoso"
TIMEZONE = "Europe/Berlin"
WEEKDAYS_9_TO_5 = {str(day): [["09:00", "17:00"]] for day in range(5)}
STAFF = (
    ("admin@contoso.example", "Contoso Admin", "admin"),
    ("bob@contoso.example", "Bob Berger", "staff"),
    ("carla@contoso.example", "Carla Castro", "staff"),
)
SERVICES = (
    ("haircut", "Haircut", "Wash, cut and style.", 45, False),
    ("consultation", "Consultation", "A short talk about what suits you.", 30, True),
)


def seed_demo(engine: Engine, now: datetime) -> bool:
    """Create the Contoso Salon if it is missing; returns whether anything was created."""
    with write_session(engine) as session:
        if session.exec(select(Business).where(Business.slug == SLUG)).first() is not None:
            return False
        business = Business(
            slug=SLUG,
            name="Contoso Salon",
            timezone=TIMEZONE,
            default_locale="en",
            locales=["en", "de"],
            phone="+49 30 1234567",
            email="hello@contoso.example",
            address="Hauptstraße 1, 10115 Berlin",
            sender_name="Contoso Salon",
            sender_email="hello@contoso.example",
            created_at=now,
        )
        session.add(business)
        session.flush()
        members = []
        for email, name, role in STAFF:
            member = Staff(
                business_id=pk(business),
                email=email,
                name=name,
                role=role,
                locale="en",
                timezone=TIMEZONE,
                weekly_hours=WEEKDAYS_9_TO_5,
            )
            session.add(member)
            members.append(member)
        for slug, name, description, minutes, can_manage in SERVICES:
            service = Service(
                business_id=pk(business),
                slug=slug,
                name=name,
                description=description,
                duration_minutes=minutes,
                customer_can_manage=can_manage,
            )
            session.add(service)
            session.flush()
            for member in members:
                if member.role == "staff":
                    session.add(ServiceStaff(service_id=pk(service), staff_id=pk(member)))
        return True


def _next_weekday_at(now: datetime, days_ahead: int, hour: int) -> datetime:
    zone = ZoneInfo(TIMEZONE)
    day = now.astimezone(zone).date() + timedelta(days=days_ahead)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, time(hour), zone)


def seed_sample_bookings(app: App, now: datetime) -> int:
    """Add a few bookings of both origins when there are none yet, with their emails; returns how many."""
    with write_session(app.engine) as session:
        if session.exec(select(Booking.id).limit(1)).first() is not None:
            return 0
    samples = (
        (
            "consultation",
            "bob@contoso.example",
            "ada@example.com",
            "Ada Lovelace",
            "en",
            Origin.SELF_SERVICE,
            2,
            10,
        ),
        ("haircut", "carla@contoso.example", "grace@example.com", "Grace Hopper", "en", Origin.STAFF, 2, 11),
        (
            "consultation",
            "carla@contoso.example",
            "max@example.de",
            "Max Mustermann",
            "de",
            Origin.STAFF,
            3,
            14,
        ),
        (
            "haircut",
            "bob@contoso.example",
            "erika@example.de",
            "Erika Musterfrau",
            "de",
            Origin.SELF_SERVICE,
            3,
            15,
        ),
    )
    for service, staff, email, name, locale, origin, days, hour in samples:
        actor = Actor(ActorKind.STAFF if origin is Origin.STAFF else ActorKind.SYSTEM, "demo")
        create_booking(
            app.engine,
            business=SLUG,
            service=service,
            staff=staff,
            customer=CustomerInput(email=email, name=name, locale=locale),
            start=_next_weekday_at(now, days, hour),
            origin=origin,
            actor=actor,
            now=now,
            public_url=app.settings.public_url,
            **app.booking_kwargs(),
        )
    return len(samples)


ADMIN_EMAIL = "admin@contoso.example"


def ensure_admin_password(engine: Engine, now: datetime | None = None) -> str | None:
    """Give the demo admin a generated password if it has none; returns it (shown once) or None."""
    from mailflow.errors import InvalidInput
    from mailflow.services.accounts import create_user

    with read_session(engine) as session:
        admin = session.exec(
            select(Staff).join(Business).where(Business.slug == SLUG, Staff.email == ADMIN_EMAIL)
        ).first()
        if admin is None or admin.password_hash:
            return None
    try:
        created = create_user(
            engine, SLUG, ADMIN_EMAIL, actor=Actor(ActorKind.SYSTEM, "demo"), now=now or datetime.now(UTC)
        )
    except InvalidInput:  # someone gave the admin a password just now
        return None
    return created.password
