"""Real emails of real bookings read as a native speaker writes: subjects with the day and time,
German "Uhr", British or American English by region, one short zone name in both parts."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from babel.dates import format_skeleton
from sqlalchemy import Engine
from sqlmodel import Session

from mailflow import services
from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.outbound.context import customer_reader, load_facts, staff_reader
from mailflow.outbound.message import EmailBuilder
from mailflow.store.queries import booking_by_ref
from tests.conftest import berlin
from tests.integration.test_emails import PUBLIC, SETTINGS, bodies, parse

CLI = Actor(ActorKind.STAFF, "cli")


def book(
    engine: Engine, now: datetime, day: date, hour: int, *, locale: str, timezone: str | None = None
) -> str:
    return services.create_booking(
        engine,
        business="contoso",
        service="haircut",
        staff="bob@contoso.example",
        customer=services.CustomerInput(
            email=f"{locale}{hour}@example.com", name="Grace Hopper", locale=locale, timezone=timezone
        ),
        start=berlin(day, hour),
        origin=Origin.SELF_SERVICE,
        actor=CLI,
        now=now,
        public_url=PUBLIC,
        grid=timedelta(minutes=15),
        notifier=None,
    ).ref


def email_of(
    engine: Engine, ref: str, kind: str, now: datetime, *, staff: bool = False
) -> tuple[str, str, str]:
    """Subject, HTML and text of ``kind`` for ``ref``'s customer (or its staff member), built at ``now``."""
    with Session(engine) as session:
        facts = load_facts(session, booking_by_ref(session, ref))
        reader = staff_reader(facts.staff) if staff else customer_reader(facts)
        out = EmailBuilder(SETTINGS).build(session, facts, kind, reader, now=now, actor=CLI)
        session.commit()
    message = parse(out.data)
    html, text = bodies(message)
    return str(message["Subject"]), html, text


def zone(day: date, hour: int, winter: str, summer: str) -> str:
    return summer if berlin(day, hour).dst() else winter


def test_german_customer_reads_uhr_mez_and_the_day_in_the_subject(
    demo_engine: Engine, next_tuesday: date, now: datetime
) -> None:
    """Bestätigt: …, Di., 15. Dez., 10:00 Uhr · Contoso Salon; "10:00–10:45 Uhr (MEZ)" in both parts."""
    ref = book(demo_engine, now, next_tuesday, 10, locale="de")
    subject, html, text = email_of(demo_engine, ref, "confirmation", now)
    short_day = format_skeleton("MMMEd", next_tuesday, locale="de")
    assert re.fullmatch(rf"Bestätigt: .+, {re.escape(short_day)}, 10:00 Uhr · Contoso Salon", subject), (
        subject
    )
    times = f"10:00–10:45 Uhr ({zone(next_tuesday, 10, 'MEZ', 'MESZ')})"
    assert times in text and times in html
    assert "Mitteleuropäische" not in html + text and "Buchungs-Nr." not in html


def test_german_reminder_says_morgen(demo_engine: Engine, next_tuesday: date, now: datetime) -> None:
    """Sent the day before, the German reminder's subject says "morgen, 10:00 Uhr"."""
    ref = book(demo_engine, now, next_tuesday, 10, locale="de")
    day_before = berlin(next_tuesday - timedelta(days=1), 10)
    subject, _, _ = email_of(demo_engine, ref, "reminder", day_before)
    assert subject.startswith("Erinnerung: ") and ", morgen, 10:00 Uhr · Contoso Salon" in subject


def test_german_staff_email_names_no_tool(demo_engine: Engine, next_tuesday: date, now: datetime) -> None:
    """A booking made on the command line is "Gebucht von: das Team", not "das Team (cli)"."""
    ref = book(demo_engine, now, next_tuesday, 11, locale="de")
    with Session(demo_engine) as session:
        staff = load_facts(session, booking_by_ref(session, ref)).staff
        staff.locale = "de"
        session.add(staff)
        session.commit()
    _, html, text = email_of(demo_engine, ref, "booking_created", now, staff=True)
    assert "(cli)" not in html + text
    assert re.search(r"Gebucht von:\s+das Team\r?\n", text)
    assert "Kunde/Kundin" in text and "11:00–11:45 Uhr" in text


def test_english_customer_in_europe_reads_british_english(
    demo_engine: Engine, next_tuesday: date, now: datetime
) -> None:
    """A customer in Berlin writing English: 24-hour times, day before month, "CET"."""
    ref = book(demo_engine, now, next_tuesday, 10, locale="en")
    subject, html, text = email_of(demo_engine, ref, "confirmation", now)
    short_day = format_skeleton("MMMEd", next_tuesday, locale="en_GB")  # "Tue 15 Dec"
    assert subject == f"Confirmed: Haircut, {short_day}, 10:00 · Contoso Salon"
    times = f"10:00–10:45 ({zone(next_tuesday, 10, 'CET', 'CEST')})"
    assert times in text and times in html
    assert f"Tuesday, {next_tuesday.day} " in text  # "Tuesday, 15 December 2026"
    assert "Central European" not in html + text


def test_english_customer_in_new_york_reads_american_english_and_the_venues_time(
    demo_engine: Engine, next_tuesday: date, now: datetime
) -> None:
    """In New York: "4:00–4:45 AM (EST)", and the salon's own clock beside it (in person)."""
    ref = book(demo_engine, now, next_tuesday, 10, locale="en", timezone="America/New_York")
    subject, html, text = email_of(demo_engine, ref, "confirmation", now)
    local = berlin(next_tuesday, 10).astimezone(__import__("zoneinfo").ZoneInfo("America/New_York"))
    hour = local.hour if local.hour <= 12 else local.hour - 12
    zone_name = "EDT" if local.dst() else "EST"
    times = f"{hour}:00–{hour}:45\u00a0AM ({zone_name})"
    assert times in text and times in html
    assert re.search(rf", {hour}:00\u00a0AM · Contoso Salon$", subject), subject
    assert "in Berlin" in text and "in Berlin" in html


def test_english_staff_email_uses_the_possessive(
    demo_engine: Engine, next_tuesday: date, now: datetime
) -> None:
    """ "Grace Hopper’s appointment … has been cancelled", not "The appointment of Grace Hopper"."""
    ref = book(demo_engine, now, next_tuesday, 12, locale="en")
    services.cancel_booking(demo_engine, ref, reason=None, actor=CLI, now=now, notifier=None)
    _, html, text = email_of(demo_engine, ref, "booking_cancelled", now, staff=True)
    assert "Grace Hopper’s appointment" in text
    assert "appointment of" not in html + text
    assert re.search(r"Cancelled by:\s+staff\r?\n", text)
