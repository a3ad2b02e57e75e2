"""The demo business of DESIGN §10, seeded idempotently, and sample bookings."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.errors import NotFound
from mailflow.services import CustomerInput, create_booking, list_bookings
from mailflow.services.business import create_business, list_businesses
from mailflow.services.catalog import create_service, list_services
from mailflow.services.staff import add_staff, get_staff, list_staff

if TYPE_CHECKING:
    from mailflow.parts import UseCases

SLUG = "contoso"
TIMEZONE = "Europe/Berlin"
WEEKDAYS_9_TO_5 = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
STAFF = (
    ("admin@contoso.example", "Contoso Admin", "admin"),
    ("bob@contoso.example", "Bob Berger", "staff"),
    ("carla@contoso.example", "Carla Castro", "staff"),
)
SERVICES = (
    (
        "haircut",
        {"en": "Haircut", "de": "Haarschnitt"},
        {"en": "Wash, cut and style.", "de": "Waschen, schneiden, föhnen."},
        45,
        False,
    ),
    (
        "consultation",
        {"en": "Consultation", "de": "Beratung"},
        {"en": "A short talk about what suits you.", "de": "Ein kurzes Gespräch darüber, was Ihnen steht."},
        30,
        True,
    ),
)
SEEDER = Actor(ActorKind.SYSTEM, "demo")


def seed_demo(engine: Engine, now: datetime) -> bool:
    """Create the Contoso Salon, or whatever of it is missing, through the service layer (as a
    business would set itself up); returns whether anything was created."""
    created = False
    if not any(view.slug == SLUG for view in list_businesses(engine)):
        create_business(
            engine,
            slug=SLUG,
            name="Contoso Salon",
            timezone=TIMEZONE,
            locale="en",
            languages=["en", "de"],
            phone="+49 30 1234567",
            email="hello@contoso.example",
            address="Hauptstraße 1, 10115 Berlin",
            sender_name="Contoso Salon",
            sender_email="hello@contoso.example",
            actor=SEEDER,
            now=now,
        )
        created = True
    present = {view.email for view in list_staff(engine, SLUG)}
    for email, name, role in STAFF:
        if email not in present:
            hours = WEEKDAYS_9_TO_5
            add_staff(engine, SLUG, email=email, name=name, role=role, hours=hours, actor=SEEDER, now=now)
            created = True
    offered = {view.slug for view in list_services(engine, SLUG)}
    performers = [email for email, _, role in STAFF if role == "staff"]
    for slug, names, descriptions, minutes, can_manage in SERVICES:
        if slug in offered:
            continue
        values = {
            "names": names,
            "descriptions": descriptions,
            "duration": minutes,
            "customer_can_manage": can_manage,
            "staff": performers,
        }
        create_service(engine, SLUG, slug=slug, values=values, actor=SEEDER, now=now)
        created = True
    return created


def _next_weekday_at(now: datetime, days_ahead: int, hour: int) -> datetime:
    zone = ZoneInfo(TIMEZONE)
    day = now.astimezone(zone).date() + timedelta(days=days_ahead)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, time(hour), zone)


def seed_sample_bookings(use_cases: UseCases, now: datetime) -> int:
    """Add a few bookings of both origins when there are none yet, with their emails; returns how many."""
    if list_bookings(use_cases.engine, limit=1):
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
            use_cases.engine,
            business=SLUG,
            service=service,
            staff=staff,
            customer=CustomerInput(email=email, name=name, locale=locale),
            start=_next_weekday_at(now, days, hour),
            origin=origin,
            actor=actor,
            now=now,
            public_url=use_cases.public_url,
            **use_cases.booking_kwargs(),
        )
    return len(samples)


ADMIN_EMAIL = "admin@contoso.example"


def ensure_admin_password(engine: Engine, now: datetime | None = None) -> str | None:
    """Give the demo admin a generated password if it has none; returns it (shown once) or None."""
    from mailflow.errors import InvalidInput
    from mailflow.services.accounts import create_user

    try:
        if get_staff(engine, SLUG, ADMIN_EMAIL).can_sign_in:
            return None
    except NotFound:
        return None
    try:
        created = create_user(
            engine, SLUG, ADMIN_EMAIL, actor=Actor(ActorKind.SYSTEM, "demo"), now=now or datetime.now(UTC)
        )
    except InvalidInput:  # someone gave the admin a password just now
        return None
    return created.password
