"""Booking emails end to end on a real database: the rule in the emails, escaping, calendar, versions."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from icalendar import Calendar
from markupsafe import escape
from sqlalchemy import Engine
from sqlmodel import Session, select

from mailflow import services
from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.outbound.context import change_instructions, customer_reader, decide, load_facts, staff_reader
from mailflow.outbound.message import EmailBuilder, MailSettings
from mailflow.outbound.samples import CUSTOMER_KINDS, KINDS, STAFF_KINDS, sample_context
from mailflow.store.queries import booking_by_ref
from mailflow.store.tables import Business, ReplyKey
from tests.conftest import berlin, html_as_read

STAFF = Actor(ActorKind.STAFF, "bob@contoso.example")
PUBLIC = "https://book.contoso.example"
SETTINGS = MailSettings(public_url=PUBLIC, inbound_domain="replies.contoso.example")
EXTRA_KEYS = ("slots", "refused", "message", "failure", "agenda", "reassigned")
EVIL = "<script>alert(1)</script> Ö'Brien"


class _StrictParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.links.append(dict(attrs).get("href") or "")


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage) and not message.defects
    return message


def bodies(message: EmailMessage) -> tuple[str, str]:
    html, text = message.get_body(("html",)), message.get_body(("plain",))
    assert html is not None and text is not None
    return html_as_read(html), text.get_content()


def make(
    engine: Engine, now: datetime, day: date, hour: int, service_slug: str, origin: Origin, **kw: Any
) -> str:
    return services.create_booking(
        engine,
        business="contoso",
        service=service_slug,
        staff=kw.get("staff", "bob@contoso.example"),
        customer=services.CustomerInput(
            email=kw.get("email", f"c{hour}@example.com"),
            name=kw.get("name", "Ada Lovelace"),
            locale=kw.get("locale"),
        ),
        start=berlin(day, hour),
        origin=origin,
        actor=STAFF,
        now=now,
        public_url=PUBLIC,
        grid=timedelta(minutes=15),
        notifier=None,
    ).ref


def build(
    engine: Engine, ref: str, kind: str, now: datetime, locale: str | None = None, **kw: Any
) -> EmailMessage:
    builder = EmailBuilder(SETTINGS)
    with Session(engine) as session:
        row = booking_by_ref(session, ref)
        facts = load_facts(session, row)
        reader = customer_reader(facts) if kind in CUSTOMER_KINDS else staff_reader(facts.staff)
        if locale:
            reader = type(reader)(reader.name, reader.email, locale, reader.timezone)
        sample = sample_context(kind, "manage", reader.locale)
        extra = {key: sample[key] for key in EXTRA_KEYS if key in sample}
        old = facts.booking if kind in ("rescheduled", "booking_rescheduled", "booking_reassigned") else None
        out = builder.build(session, facts, kind, reader, now=now, old=old, actor=STAFF, extra=extra, **kw)
        session.commit()
    return parse(out.data)


# origin, service -> manage allowed (haircut has the setting off, consultation on)
CASES = [
    (Origin.SELF_SERVICE, "haircut", True),
    (Origin.STAFF, "haircut", False),
    (Origin.STAFF, "consultation", True),
    (Origin.SELF_SERVICE, "consultation", True),
]


@pytest.mark.parametrize("locale", ["en", "de"])
def test_render_matrix_button_exactly_when_allowed(
    demo_engine: Engine, next_tuesday: date, now: datetime, locale: str
) -> None:
    """Every kind in en and de: the manage link exactly when the policy allows, instructions otherwise."""
    refs = [
        (make(demo_engine, now, next_tuesday, 9 + i, svc, origin, locale=locale), allowed)
        for i, (origin, svc, allowed) in enumerate(CASES)
    ]
    with Session(demo_engine) as session:
        business = session.exec(select(Business)).one()
        phone = business.phone
    for ref, allowed in refs:
        with Session(demo_engine) as session:
            assert decide(load_facts(session, booking_by_ref(session, ref)), now).allowed is allowed
        for kind in KINDS:
            message = build(demo_engine, ref, kind, now)
            html, text = bodies(message)
            parser = _StrictParser()
            parser.feed(html)
            # The .ics download (``/m/<token>/booking.ics``, issue 18) is no manage link.
            manage_links = [
                link
                for link in parser.links
                if link.startswith(f"{PUBLIC}/m/") and not link.endswith("/booking.ics")
            ]
            where = f"{kind}/{locale} {ref} allowed={allowed}"
            if kind in STAFF_KINDS:
                assert manage_links == [], where
                continue
            # A cancelled booking has nothing left to manage, nor change instructions (issue 18).
            shown = allowed and kind != "cancelled"
            assert bool(manage_links) is shown, where
            assert bool(re.search(rf"{re.escape(PUBLIC)}/m/[\w-]+\?lang=", text)) is shown, where
            assert (phone in html) and (phone in text), where  # contact details are always there
            with Session(demo_engine) as session:
                facts = load_facts(session, booking_by_ref(session, ref))
                instructions = change_instructions(facts.business, facts.service, locale)
            told = not allowed and kind != "cancelled"
            assert (str(escape(instructions)) in html) is told, where
            assert (instructions in text) is told, where
            assert f"{PUBLIC}/book" in html and f"{PUBLIC}/book" in text, where
            assert message["X-Mailflow-Kind"] == kind


def test_customer_name_is_escaped_in_html_and_intact_elsewhere(
    demo_engine: Engine, next_tuesday: date, now: datetime
) -> None:
    """A hostile name is inert in HTML, and exact in the text part and the To header."""
    ref = make(demo_engine, now, next_tuesday, 10, "consultation", Origin.SELF_SERVICE, name=EVIL)
    message = build(demo_engine, ref, "confirmation", now)
    html, text = bodies(message)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert EVIL in text
    assert message["To"].addresses[0].display_name == EVIL


def test_german_customer_gets_german_email_with_zone_named(
    demo_engine: Engine, next_tuesday: date, now: datetime
) -> None:
    """Locale de: German subject and a Babel date such as 'Dienstag, … 10:00–10:45 (MEZ)'."""
    ref = make(demo_engine, now, next_tuesday, 10, "haircut", Origin.SELF_SERVICE, locale="de")
    message = build(demo_engine, ref, "confirmation", now)
    _, text = bodies(message)
    assert message["Subject"].startswith("Bestätigt: ")
    zone = "MESZ" if berlin(next_tuesday, 10).dst() else "MEZ"
    assert f"Dienstag, {next_tuesday.day}." in text
    assert f"10:00–10:45 Uhr ({zone})" in text


def test_unknown_locale_falls_back_to_business_default(
    demo_engine: Engine, next_tuesday: date, now: datetime
) -> None:
    """A reader whose language has no templates gets the business's default (English here)."""
    ref = make(demo_engine, now, next_tuesday, 10, "haircut", Origin.SELF_SERVICE)
    _, text = bodies(build(demo_engine, ref, "confirmation", now, locale="es"))
    assert "Tuesday" in text


def test_headers_reply_key_and_threading(demo_engine: Engine, next_tuesday: date, now: datetime) -> None:
    """Reply-To carries a fresh key bound to booking and recipient; all emails share the thread anchor."""
    ref = make(demo_engine, now, next_tuesday, 10, "haircut", Origin.SELF_SERVICE, email="ada@example.com")
    first = build(demo_engine, ref, "confirmation", now)
    second = build(demo_engine, ref, "reminder", now)
    keys = []
    for message in (first, second):
        reply_to = message["Reply-To"].addresses[0].addr_spec
        local, domain = reply_to.split("@")
        assert domain == "replies.contoso.example" and local.startswith("reply+")
        keys.append(local.removeprefix("reply+"))
        assert message["References"] == f"<booking.{ref.lower()}@replies.contoso.example>"
        assert message["Auto-Submitted"] == "auto-generated"
        assert message["X-Mailflow-Booking"] == ref
    assert keys[0] != keys[1] and all(k == k.lower() for k in keys)
    assert first["Message-ID"] != second["Message-ID"]
    with Session(demo_engine) as session:
        rows = session.exec(select(ReplyKey).where(ReplyKey.key.in_(keys))).all()  # type: ignore[attr-defined]
        assert {row.recipient for row in rows} == {"ada@example.com"}
        assert len({row.booking_id for row in rows}) == 1


def _calendar(message: EmailMessage) -> Calendar:
    part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return Calendar.from_ical(payload)


def test_calendar_uid_stable_sequence_rises_cancel_on_cancel(
    demo_engine: Engine, next_tuesday: date, now: datetime
) -> None:
    """Confirmation REQUEST seq 0; after a move the same UID with seq 1; after a cancel METHOD:CANCEL."""
    ref = make(demo_engine, now, next_tuesday, 10, "consultation", Origin.SELF_SERVICE)
    first = _calendar(build(demo_engine, ref, "confirmation", now))
    services.reschedule_booking(
        demo_engine,
        ref,
        start=berlin(next_tuesday, 14),
        staff=None,
        actor=STAFF,
        now=now,
        grid=timedelta(minutes=15),
        notifier=None,
    )
    moved = _calendar(build(demo_engine, ref, "rescheduled", now))
    services.cancel_booking(demo_engine, ref, reason="ill", actor=STAFF, now=now, notifier=None)
    cancelled = _calendar(build(demo_engine, ref, "cancelled", now))
    events = [cal.walk("VEVENT")[0] for cal in (first, moved, cancelled)]
    assert [str(cal["METHOD"]) for cal in (first, moved, cancelled)] == ["REQUEST", "REQUEST", "CANCEL"]
    assert len({str(event["UID"]) for event in events}) == 1
    assert [int(event["SEQUENCE"]) for event in events] == [0, 1, 2]
    assert events[1]["DTSTART"].dt == berlin(next_tuesday, 14)
    assert str(events[2]["STATUS"]) == "CANCELLED"
    # Reminders carry no calendar part.
    assert not any(
        p.get_content_type() == "text/calendar" for p in build(demo_engine, ref, "reminder", now).walk()
    )


@pytest.mark.parametrize(("origin", "service", "allowed"), [CASES[1], CASES[3]])
@pytest.mark.parametrize("kind", ["confirmation", "reminder", "rescheduled"])
def test_add_to_calendar_links_in_real_emails_with_and_without_the_button(
    demo_engine: Engine,
    next_tuesday: date,
    now: datetime,
    origin: Origin,
    service: str,
    allowed: bool,
    kind: str,
) -> None:
    """Google, Outlook on the web and the .ics download in HTML and text, filled in from the booking
    (title, UTC times, place); the .ics link opens no Manage link where the customer may not manage."""
    ref = make(demo_engine, now, next_tuesday, 10, service, origin, locale="de")
    message = build(demo_engine, ref, kind, now)
    html, text = bodies(message)
    parser = _StrictParser()
    parser.feed(html)
    google = next(link for link in parser.links if link.startswith("https://calendar.google.com/"))
    outlook = next(link for link in parser.links if link.startswith("https://outlook.live.com/"))
    ics = next(link for link in parser.links if link.endswith("/booking.ics"))
    for link in (google, outlook, ics):
        assert link in text, link  # the text part carries the same links
    assert ics.startswith(f"{PUBLIC}/m/")
    start = berlin(next_tuesday, 10).astimezone(UTC)
    end = start + timedelta(minutes=45 if service == "haircut" else 30)
    given = parse_qs(urlsplit(google).query)
    assert given["action"] == ["TEMPLATE"] and given["text"][0].endswith(" bei Contoso Salon")
    assert given["dates"] == [f"{start:%Y%m%dT%H%M%SZ}/{end:%Y%m%dT%H%M%SZ}"]
    assert "Hauptstraße 1" in given["location"][0] and "+49 30 1234567" in given["details"][0]
    answer = parse_qs(urlsplit(outlook).query)
    assert answer["rru"] == ["addevent"] and answer["path"] == ["/calendar/action/compose"]
    assert answer["startdt"] == [f"{start:%Y-%m-%dT%H:%M:%SZ}"] and answer["enddt"] == [
        f"{end:%Y-%m-%dT%H:%M:%SZ}"
    ]
    assert answer["subject"] == given["text"] and answer["location"] == given["location"]
    manage_links = [link for link in parser.links if link.startswith(f"{PUBLIC}/m/") and link != ics]
    assert bool(manage_links) is allowed
    assert (f"{PUBLIC}/m/" in given["details"][0]) is allowed  # the manage link only when allowed


def test_an_edit_takes_effect_in_the_same_transaction(
    demo_engine: Engine, next_tuesday: date, now: datetime
) -> None:
    """A template saved, rolled back or reset is what the next email of that transaction uses."""
    from mailflow.outbound import template_store
    from mailflow.outbound.templates import default_source

    ref = make(demo_engine, now, next_tuesday, 10, "haircut", Origin.SELF_SERVICE)
    builder = EmailBuilder(SETTINGS)
    with Session(demo_engine) as session:
        row = booking_by_ref(session, ref)
        facts = load_facts(session, row)
        reader = customer_reader(facts)

        def subject() -> str:
            out = builder.build(session, facts, "confirmation", reader, now=now, actor=STAFF)
            return str(parse(out.data)["Subject"])

        default = subject()
        business_id = facts.business.id
        assert business_id is not None
        edited = default_source("confirmation", "en")
        for number in (1, 2):
            changed = type(edited)(
                kind=edited.kind,
                locale=edited.locale,
                subject=f"Edited {number}: {{{{ booking.ref }}}}",
                mjml=edited.mjml,
                text=edited.text,
            )
            template_store.save_version(session, business_id, changed, author="t", now=now)
            assert subject() == f"Edited {number}: {ref}"
        template_store.rollback(session, business_id, "confirmation", "en", 1)
        assert subject() == f"Edited 1: {ref}"
        template_store.reset(session, business_id, "confirmation", "en")
        assert subject() == default
