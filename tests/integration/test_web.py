"""The customer pages through FastAPI's TestClient on real SQLite and PostgreSQL.

The manage page follows ``manage_allowed``; GET never changes anything; every
POST needs a CSRF token of the same browser session and subject; bad links all
get one 404 page; tokens never reach a log; self-service booking and "find my
booking" queue the right emails and resist abuse.
"""

from __future__ import annotations

import email
import email.policy
import html as htmllib
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from mailflow import services
from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.bootstrap import App, build
from mailflow.config import load_settings
from mailflow.demo import seed_demo
from mailflow.store.tables import (
    AuditEvent,
    Booking,
    Business,
    Customer,
    ManageToken,
    OutboxMessage,
    Reminder,
    Service,
)
from mailflow.web.app import create_web_app
from mailflow.web.deps import clock
from tests.conftest import berlin

STAFF = Actor(ActorKind.STAFF, "admin@contoso.example")
BOB = "bob@contoso.example"
CARLA = "carla@contoso.example"
ADMIN = "admin@contoso.example"
PHONE = "+49 30 1234567"
GENEROUS = {
    "MAILFLOW_TOKEN_FAILURES_PER_IP": "1000",
    "MAILFLOW_BOOKINGS_PER_IP_PER_HOUR": "1000",
    "MAILFLOW_BOOKINGS_PER_EMAIL_PER_DAY": "1000",
    "MAILFLOW_FIND_BOOKING_PER_IP_PER_HOUR": "1000",
}
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
SLOT_RADIO = re.compile(r'name="slot" value="([^"]+)"')
JUST_TAKEN = "Sorry, that time was just taken. Please choose another one."


@dataclass(frozen=True)
class Booked:
    """A booking made for a test: its reference and the path of its manage link."""

    ref: str
    path: str

    @property
    def token(self) -> str:
        return self.path.rsplit("/", 1)[1]


def slot_value(start: datetime, staff: str) -> str:
    """The form value of a slot, as the pages offer it."""
    return f"{start.astimezone(UTC).isoformat()}|{staff}"


def tamper(value: str, at: int = -1) -> str:
    """``value`` with the character at ``at`` replaced by another one of the same alphabet."""
    chars = list(value)
    chars[at] = "b" if chars[at] != "b" else "c"
    return "".join(chars)


def csrf_of(response: Response) -> str:
    """The hidden CSRF value of the form on ``response``'s (200) page."""
    assert response.status_code == 200, response.text
    return csrf_of_any(response)


def csrf_of_any(response: Response) -> str:
    """The hidden CSRF value of the form on ``response``'s page, whatever its status."""
    found = CSRF_FIELD.search(response.text)
    assert found is not None, "the page has no CSRF field"
    return found.group(1)


class Site:
    """One wired app with a browser (cookie jar) and helpers to arrange and inspect its database."""

    def __init__(self, app: App, now: datetime, day: date) -> None:
        self.app = app
        self.now = now
        self.day = day
        self.web = create_web_app(app.web)
        self.client = self.browser()

    def browser(self, ip: str = "testclient") -> TestClient:
        """A fresh browser (own cookies) connecting from ``ip``."""
        return TestClient(self.web, client=(ip, 50000), follow_redirects=False)

    def book(
        self,
        hour: int = 10,
        *,
        service_slug: str = "consultation",
        staff: str = BOB,
        origin: Origin = Origin.SELF_SERVICE,
        customer: str = "ada@example.com",
        locale: str | None = None,
    ) -> Booked:
        view = services.create_booking(
            self.app.engine,
            business="contoso",
            service=service_slug,
            staff=staff,
            customer=services.CustomerInput(email=customer, name="Ada Lovelace", locale=locale),
            start=berlin(self.day, hour),
            origin=origin,
            actor=STAFF,
            now=self.now,
            public_url=self.app.settings.public_url,
            **self.app.booking_kwargs(),
        )
        assert view.manage_url is not None
        return Booked(view.ref, urlsplit(view.manage_url).path)

    def cancel(self, booked: Booked) -> None:
        services.cancel_booking(
            self.app.engine, booked.ref, reason=None, actor=STAFF, now=self.now, notifier=self.app.notifier
        )

    def booking(self, ref: str) -> Booking:
        with Session(self.app.engine) as session:
            return session.exec(select(Booking).where(Booking.ref == ref)).one()

    def bookings(self) -> list[Booking]:
        with Session(self.app.engine) as session:
            return list(session.exec(select(Booking)).all())

    def set_service(self, slug: str, **fields: Any) -> None:
        with Session(self.app.engine) as session:
            session.exec(update(Service).where(col(Service.slug) == slug).values(**fields))
            session.commit()

    def expire_links(self, ref: str) -> None:
        """Make every manage link of ``ref`` expired, as it is a day after the booking ended."""
        booking_id = self.booking(ref).id
        with Session(self.app.engine) as session:
            session.exec(
                update(ManageToken)
                .where(col(ManageToken.booking_id) == booking_id)
                .values(expires_at=self.now - timedelta(minutes=1))
            )
            session.commit()

    def outbox_mark(self) -> int:
        """The highest outbox id so far: ``queued_since`` shows only what came after it."""
        with Session(self.app.engine) as session:
            return int(session.exec(select(func.coalesce(func.max(col(OutboxMessage.id)), 0))).one() or 0)

    def queued_since(self, mark: int) -> list[tuple[str, str]]:
        """Sorted (kind, recipient) of the outbox rows added after ``mark``."""
        with Session(self.app.engine) as session:
            rows = session.exec(select(OutboxMessage).where(col(OutboxMessage.id) > mark)).all()
            return sorted((row.kind, row.recipient) for row in rows)

    def counts(self) -> dict[str, int]:
        """How many rows each table a change would touch holds."""
        with Session(self.app.engine) as session:
            return {
                table.__name__: int(session.exec(select(func.count()).select_from(table)).one())
                for table in (Booking, OutboxMessage, AuditEvent, ManageToken, Customer, Reminder)
            }

    def form(self, path: str, client: TestClient | None = None) -> str:
        """GET ``path`` in ``client`` (default: the site's browser) and return its form's CSRF value."""
        return csrf_of((client or self.client).get(path))


SiteFactory = Callable[..., Site]


@pytest.fixture
def make_site(db_url: str, tmp_path: Path, now: datetime, next_tuesday: date) -> Iterator[SiteFactory]:
    """Build the demo site on ``db_url``; keyword arguments override ``MAILFLOW_*`` settings."""
    built: list[App] = []

    def make(**env: str) -> Site:
        settings = load_settings(
            {
                "MAILFLOW_DATABASE_URL": db_url,
                "MAILFLOW_OUTBOUND_URL": f"memory://web-{uuid.uuid4().hex}",
                "MAILFLOW_DATA_DIR": str(tmp_path),
                "MAILFLOW_PUBLIC_URL": "http://testserver",
                **GENEROUS,
                **env,
            }
        )
        app = build(settings)
        built.append(app)
        seed_demo(app.engine, now)
        return Site(app, now, next_tuesday)

    yield make
    for app in built:
        app.close()


@pytest.fixture
def site(make_site: SiteFactory) -> Site:
    return make_site()


# --- the manage page follows the policy --------------------------------------------------


@pytest.mark.parametrize("cutoff", ["before_cutoff", "inside_cutoff"])
@pytest.mark.parametrize("service_slug", ["haircut", "consultation"])
@pytest.mark.parametrize("origin", [Origin.STAFF, Origin.SELF_SERVICE])
def test_manage_page_offers_changes_exactly_when_policy_allows(
    site: Site, origin: Origin, service_slug: str, cutoff: str
) -> None:
    """Reschedule/Cancel appear only when allowed; otherwise the page says why and how to change it."""
    minutes = 60 if cutoff == "before_cutoff" else 60 * 24 * 60  # the booking is 1-2 weeks ahead
    site.set_service(service_slug, change_cutoff_minutes=minutes)
    booked = site.book(service_slug=service_slug, origin=origin)
    setting_on = service_slug == "consultation"
    allowed = (origin is Origin.SELF_SERVICE or setting_on) and cutoff == "before_cutoff"

    page = site.client.get(booked.path)

    assert page.status_code == 200
    html = page.text
    assert booked.ref in html
    assert (f'href="{booked.path}/reschedule' in html) is allowed
    assert (f'href="{booked.path}/cancel' in html) is allowed
    assert PHONE in html and 'href="/book?lang=en"' in html  # Contact and New booking, always
    if allowed:
        assert "cannot be changed online" not in html
    else:
        assert "/reschedule" not in html and "/cancel" not in html
        assert "This booking cannot be changed online" in html
        assert f"To change or cancel, call us at {PHONE}" in html
        if origin is Origin.STAFF and not setting_on:
            assert "booked for you by our team" in html
        else:
            assert "too close to the appointment" in html
        for action in ("reschedule", "cancel"):  # the action pages send the customer back, offering nothing
            response = site.client.get(f"{booked.path}/{action}")
            assert response.status_code == 303
            assert urlsplit(response.headers["location"]).path == booked.path


@pytest.mark.parametrize("origin", [Origin.STAFF, Origin.SELF_SERVICE])
def test_cancelled_booking_page_shows_cancelled_and_offers_a_new_booking(site: Site, origin: Origin) -> None:
    """A cancelled booking's page says so, offers no changes and links to the booking page."""
    booked = site.book(origin=origin)
    site.cancel(booked)

    html = site.client.get(booked.path).text

    assert "Cancelled" in html and "This booking has been cancelled." in html
    assert "/reschedule" not in html and "/cancel" not in html
    assert 'href="/book?lang=en"' in html


def test_pages_read_the_time_from_the_clock_dependency(site: Site) -> None:
    """Tests set the time with ``dependency_overrides[clock]``: seen once it has begun, a booking offers
    no changes, and its action pages send the customer back."""
    site.set_service("consultation", change_cutoff_minutes=60)
    booked = site.book(10)
    assert f'href="{booked.path}/cancel' in site.client.get(booked.path).text

    site.web.dependency_overrides[clock] = lambda: berlin(site.day, 10) + timedelta(minutes=5)
    try:
        html = site.client.get(booked.path).text
        cancel = site.client.get(f"{booked.path}/cancel")
    finally:
        site.web.dependency_overrides.clear()

    assert booked.ref in html
    assert "/reschedule" not in html and "/cancel" not in html
    assert cancel.status_code == 303 and urlsplit(cancel.headers["location"]).path == booked.path


# --- language and calendar file --------------------------------------------------------------


def test_manage_page_speaks_the_customers_language_unless_asked_otherwise(site: Site) -> None:
    """The customer's locale is the default; ``?lang=`` switches to the other language."""
    german = site.book(10, customer="max@example.de", locale="de")
    english = site.book(12, customer="ada@example.com", locale="en")

    assert '<html lang="de">' in (de_page := site.client.get(german.path).text)
    assert "Ihr Termin" in de_page and "Termin verschieben" in de_page
    en_page = site.client.get(f"{german.path}?lang=en").text
    assert '<html lang="en">' in en_page and "Your booking" in en_page
    assert "Your booking" in site.client.get(english.path).text
    switched = site.client.get(f"{english.path}?lang=de").text
    assert '<html lang="de">' in switched and "Ihr Termin" in switched


def test_calendar_file_is_the_bookings_event_and_cancels_after_cancellation(site: Site) -> None:
    """``booking.ics`` carries the confirmation's UID as a download (METHOD:PUBLISH, no attendee asked
    to answer), and STATUS:CANCELLED with a higher SEQUENCE once cancelled."""
    booked = site.book()
    with Session(site.app.engine) as session:
        confirmation = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "confirmation")).one()
    assert confirmation.payload is not None
    mail = email.message_from_bytes(confirmation.payload, policy=email.policy.default)
    invite = next(part for part in mail.walk() if part.get_content_type() == "text/calendar")
    uid = re.search(r"^UID:(.+?)\r?$", invite.get_content(), re.M)
    assert uid is not None

    response = site.client.get(f"{booked.path}/booking.ics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    assert f"UID:{uid.group(1)}" in response.text and "METHOD:PUBLISH" in response.text
    assert "SEQUENCE:0" in response.text and "STATUS:CONFIRMED" in response.text
    assert "ATTENDEE" not in response.text and "METHOD:REQUEST" not in response.text
    site.cancel(booked)
    cancelled = site.client.get(f"{booked.path}/booking.ics")
    assert cancelled.status_code == 200
    assert f"UID:{uid.group(1)}" in cancelled.text and "METHOD:PUBLISH" in cancelled.text
    assert "STATUS:CANCELLED" in cancelled.text and "SEQUENCE:1" in cancelled.text


# --- CSRF ------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["cancel", "reschedule"])
def test_manage_post_needs_the_csrf_token_of_this_session_and_booking(site: Site, action: str) -> None:
    """Missing, wrong, other-session and other-booking CSRF tokens all get 403, and nothing changes."""
    booked = site.book(10)
    other = site.book(12, customer="grace@example.com")
    data = {"reason": "x", "slot": slot_value(berlin(site.day, 14), CARLA)}
    own = site.form(f"{booked.path}/{action}")
    other_booking = site.form(f"{other.path}/{action}")
    stranger = site.browser()
    other_session = site.form(f"{booked.path}/{action}", client=stranger)
    before, mark = site.booking(booked.ref), site.outbox_mark()

    attempts = {
        "missing": site.client.post(f"{booked.path}/{action}", data=data),
        "wrong": site.client.post(f"{booked.path}/{action}", data={**data, "csrf": tamper(own)}),
        "other session": site.client.post(f"{booked.path}/{action}", data={**data, "csrf": other_session}),
        "other booking": site.client.post(f"{booked.path}/{action}", data={**data, "csrf": other_booking}),
        "no cookie": site.browser().post(f"{booked.path}/{action}", data={**data, "csrf": own}),
    }

    assert {name: r.status_code for name, r in attempts.items()} == dict.fromkeys(attempts, 403)
    assert site.booking(booked.ref) == before
    assert site.queued_since(mark) == []


def test_post_without_csrf_gets_403_whatever_else_is_missing(site: Site) -> None:
    """No CSRF token means 403 before any lookup: not 404 for an unknown token or service, not 422."""
    booked = site.book()
    bogus = "x" * 43
    paths = [f"/m/{bogus}/cancel", f"/m/{bogus}/reschedule", "/m/short/cancel", f"{booked.path}/cancel"]
    paths += ["/book/nope", "/book/haircut", "/m"]
    site.client.get("/book")  # a session cookie exists, so only the CSRF token is missing
    mark, counts = site.outbox_mark(), site.counts()

    with_cookie = {
        path: site.client.post(path, data={"email": "ada@example.com"}).status_code for path in paths
    }
    bare = {path: site.browser().post(path).status_code for path in paths}

    assert with_cookie == bare == dict.fromkeys(paths, 403)
    assert site.queued_since(mark) == [] and site.counts() == counts


def test_csrf_token_with_non_ascii_characters_gets_403_and_changes_nothing(site: Site) -> None:
    """A forged CSRF value with non-ASCII characters is refused like any wrong one (403), not a 500."""
    booked = site.book()
    site.client.get("/m")  # the find form starts a browser session: only the CSRF token is wrong
    assert site.client.cookies.get("mf_session")
    mark, counts, before = site.outbox_mark(), site.counts(), site.booking(booked.ref)
    forged = {"csrf": "é" * 64, "reason": "x", "email": "ada@example.com"}
    paths = [f"{booked.path}/cancel", f"{booked.path}/reschedule", "/book/haircut", "/m"]
    paths += ["/admin/sign-in", "/admin/forgot", "/admin/templates/confirmation/en"]

    statuses = {path: site.client.post(path, data=forged).status_code for path in paths}

    assert statuses == dict.fromkeys(paths, 403)
    assert site.booking(booked.ref) == before
    assert site.queued_since(mark) == [] and site.counts() == counts


def test_nul_characters_get_400_and_change_nothing(site: Site) -> None:
    """A NUL in a path, query or form field (no database text holds one) is refused with 400, nothing kept."""
    booked = site.book()
    mark, counts, before = site.outbox_mark(), site.counts(), site.booking(booked.ref)
    form = booking_form(site, 11, "eve@example.com")
    find = site.form("/m")

    responses = {
        "slug": site.client.get("/book/%00"),
        "query": site.client.get("/book/consultation?day=%00&lang=en"),
        "token": site.client.get("/m/%00"),
        "name": site.client.post("/book/consultation", data={**form, "name": "Eve\x00"}),
        "find": site.client.post("/m", data={"csrf": find, "email": "ada@example.com\x00"}),
        "cancel": site.client.post(f"{booked.path}/cancel", data={"csrf": find, "reason": "\x00"}),
    }

    assert {name: r.status_code for name, r in responses.items()} == dict.fromkeys(responses, 400)
    assert "NUL character" in responses["name"].text
    assert site.booking(booked.ref) == before
    assert site.queued_since(mark) == [] and site.counts() == counts


# --- bad links ---------------------------------------------------------------------------------


def test_bad_links_all_get_the_same_404_page(site: Site) -> None:
    """Tampered, unknown, malformed and expired tokens give 404 with byte-identical bodies."""
    booked = site.book(10)
    expired = site.book(12)
    site.expire_links(expired.ref)
    links = {
        "tampered": f"/m/{tamper(booked.token, 5)}",
        "unknown": f"/m/{'x' * 43}",
        "malformed": "/m/not-a-token",
        "expired": expired.path,
    }
    site.client.get("/book")  # one session for every request, so CSRF fields match

    responses = {name: site.client.get(path) for name, path in links.items()}

    assert {name: r.status_code for name, r in responses.items()} == dict.fromkeys(links, 404)
    bodies = {name: r.content for name, r in responses.items()}
    echoed = [name for name, path in links.items() if path.encode() in bodies[name]]
    assert echoed == [], "the 404 page repeats the requested path (its language link), so bodies differ"
    assert len(set(bodies.values())) == 1
    assert b"This link does not work" in bodies["unknown"]


# --- GET changes nothing ------------------------------------------------------------------------


def test_get_never_changes_anything(site: Site) -> None:
    """Opening every page (as a mail scanner would) leaves bookings, outbox, tokens and audit alone."""
    booked = site.book()
    staff_booked = site.book(12, service_slug="haircut", origin=Origin.STAFF)
    before, counts = site.booking(booked.ref), site.counts()
    slot = slot_value(berlin(site.day, 14), CARLA)
    day = site.day.isoformat()
    pages = [
        booked.path,
        f"{booked.path}?lang=de",
        f"{booked.path}/reschedule",
        f"{booked.path}/reschedule?{urlencode({'day': day, 'staff': CARLA, 'slot': slot})}",
        f"{booked.path}/cancel?reason=spam",
        f"{booked.path}/booking.ics",
        staff_booked.path,
        f"{staff_booked.path}/cancel",
        "/m",
        f"/m/{'x' * 43}",
        "/book",
        f"/book/consultation?day={day}",
        f"/book/consultation?{urlencode({'slot': slot, 'name': 'Eve', 'email': 'eve@example.com'})}",
    ]

    statuses = {page: site.client.get(page).status_code for page in pages}

    assert all(status in (200, 303, 404) for status in statuses.values()), statuses
    assert site.booking(booked.ref) == before
    assert site.counts() == counts


# --- reschedule and cancel through the pages -------------------------------------------------


def reschedule_with_carla(site: Site, booked: Booked) -> tuple[str, str]:
    """Open the reschedule page on the test day filtered to Carla: (its form's action, CSRF value)."""
    page = site.client.get(
        f"{booked.path}/reschedule?{urlencode({'day': site.day.isoformat(), 'staff': CARLA})}"
    )
    assert slot_value(berlin(site.day, 14), CARLA) in SLOT_RADIO.findall(page.text)
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert action is not None
    return htmllib.unescape(action.group(1)), csrf_of(page)


def test_reschedule_moves_the_booking_to_another_staff_member(site: Site) -> None:
    """Choosing a free slot with Carla moves the booking and queues every party's email."""
    booked = site.book(10)
    action, csrf = reschedule_with_carla(site, booked)
    mark = site.outbox_mark()

    response = site.client.post(action, data={"csrf": csrf, "slot": slot_value(berlin(site.day, 14), CARLA)})

    assert response.status_code == 200 and "Your booking has been moved" in response.text
    moved = site.booking(booked.ref)
    assert moved.start == berlin(site.day, 14) and moved.status == "confirmed"
    assert site.queued_since(mark) == sorted(
        [
            ("rescheduled", "ada@example.com"),
            ("booking_reassigned", BOB),
            ("booking_reassigned", CARLA),
            ("booking_rescheduled", ADMIN),
        ]
    )
    assert "Carla Castro" in site.client.get(booked.path).text  # the same link shows the new booking


def test_reschedule_to_a_slot_taken_meanwhile_gets_409_and_fresh_slots(site: Site) -> None:
    """A slot booked by someone else after the page loaded gets 409, "just taken" and free times to pick."""
    booked = site.book(10)
    action, csrf = reschedule_with_carla(site, booked)
    target = slot_value(berlin(site.day, 14), CARLA)
    site.book(14, staff=CARLA, customer="grace@example.com", origin=Origin.STAFF)
    before, mark = site.booking(booked.ref), site.outbox_mark()

    response = site.client.post(action, data={"csrf": csrf, "slot": target})

    assert response.status_code == 409
    assert JUST_TAKEN in response.text
    offered = SLOT_RADIO.findall(response.text)
    assert offered and target not in offered
    assert csrf_of_any(response) == csrf  # the fresh form can be submitted at once
    assert site.booking(booked.ref) == before and site.queued_since(mark) == []


def test_reschedule_conflict_page_keeps_the_chosen_day_and_staff_member(site: Site) -> None:
    """After "just taken" the customer sees the other free times of the day and person they had chosen."""
    booked = site.book(10)
    action, csrf = reschedule_with_carla(site, booked)
    site.book(14, staff=CARLA, customer="grace@example.com", origin=Origin.STAFF)

    response = site.client.post(action, data={"csrf": csrf, "slot": slot_value(berlin(site.day, 14), CARLA)})

    assert response.status_code == 409
    offered = SLOT_RADIO.findall(response.text)
    assert slot_value(berlin(site.day, 15), CARLA) in offered, (
        f"409 page offers other day/staff: {offered[:2]}"
    )


def test_email_offer_link_opens_the_page_with_that_slot_selected_and_one_post_moves(site: Site) -> None:
    """A ``reschedule_options`` link selects its exact time; GET changes nothing, one POST confirms."""
    booked = site.book(10)
    target = slot_value(berlin(site.day, 14), CARLA)
    link = (
        f"{booked.path}/reschedule?{urlencode({'day': site.day.isoformat(), 'staff': CARLA, 'slot': target})}"
    )
    before, counts = site.booking(booked.ref), site.counts()

    page = site.client.get(link)

    assert page.status_code == 200
    checked = re.findall(r'<input type="radio" name="slot" value="([^"]+)" required checked', page.text)
    assert [htmllib.unescape(value) for value in checked] == [target]
    assert page.text.count(" autofocus") == 1
    assert site.booking(booked.ref) == before and site.counts() == counts  # opening it moves nothing
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert action is not None

    response = site.client.post(
        htmllib.unescape(action.group(1)), data={"csrf": csrf_of(page), "slot": target}
    )

    assert response.status_code == 200
    moved = site.booking(booked.ref)
    assert moved.start == berlin(site.day, 14) and moved.status == "confirmed"


def test_email_offer_link_to_a_time_taken_meanwhile_says_so_and_selects_nothing(site: Site) -> None:
    """When the offered time went to someone else, the page says so and shows the day's other times."""
    booked = site.book(10)
    target = slot_value(berlin(site.day, 14), CARLA)
    site.book(14, staff=CARLA, customer="grace@example.com", origin=Origin.STAFF)
    link = (
        f"{booked.path}/reschedule?{urlencode({'day': site.day.isoformat(), 'staff': CARLA, 'slot': target})}"
    )

    page = site.client.get(link)

    assert page.status_code == 200 and JUST_TAKEN in page.text
    assert " checked" not in page.text
    assert slot_value(berlin(site.day, 15), CARLA) in SLOT_RADIO.findall(page.text)


def test_post_is_refused_after_the_setting_was_switched_off(site: Site) -> None:
    """The server re-checks the policy on POST: a form loaded while allowed cannot change it later."""
    booked = site.book(service_slug="consultation", origin=Origin.STAFF)
    csrf = site.form(f"{booked.path}/cancel")
    site.set_service("consultation", customer_can_manage=False)
    before, mark = site.booking(booked.ref), site.outbox_mark()

    moved = site.client.post(
        f"{booked.path}/reschedule", data={"csrf": csrf, "slot": slot_value(berlin(site.day, 14), CARLA)}
    )
    cancelled = site.client.post(f"{booked.path}/cancel", data={"csrf": csrf, "reason": "late"})

    for response in (moved, cancelled):
        assert response.status_code == 403
        assert "This change is not possible" in response.text and PHONE in response.text
    assert site.booking(booked.ref) == before and site.queued_since(mark) == []


def test_cancel_with_a_reason_cancels_and_informs_everyone(site: Site) -> None:
    """Cancelling on the page stores the reason and queues the customer's and staff's emails."""
    booked = site.book()
    csrf = site.form(f"{booked.path}/cancel")
    mark = site.outbox_mark()

    response = site.client.post(f"{booked.path}/cancel", data={"csrf": csrf, "reason": "I caught a cold"})

    assert response.status_code == 200 and "Your booking has been cancelled" in response.text
    row = site.booking(booked.ref)
    assert row.status == "cancelled" and row.cancel_reason == "I caught a cold"
    assert site.queued_since(mark) == sorted(
        [("cancelled", "ada@example.com"), ("booking_cancelled", BOB), ("booking_cancelled", ADMIN)]
    )
    again = site.client.post(f"{booked.path}/cancel", data={"csrf": csrf, "reason": "twice"})
    assert again.status_code == 403 and site.booking(booked.ref).cancel_reason == "I caught a cold"


# --- headers, rate limits, logs ---------------------------------------------------------------


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_manage_pages_send_strict_security_headers_and_no_external_urls(site: Site) -> None:
    """No referrer, a CSP without inline scripts or foreign hosts, no caching, no third-party assets."""
    booked = site.book()
    pages = [booked.path, f"{booked.path}/reschedule", f"{booked.path}/cancel", f"/m/{'x' * 43}"]
    pages += ["/book", f"/book/consultation?day={site.day.isoformat()}"]

    for page in pages:
        response = site.client.get(page)
        assert response.headers["referrer-policy"] == "no-referrer", page
        assert response.headers["cache-control"] == "no-store", page
        csp: dict[str, list[str]] = {
            part.split()[0]: part.split()[1:]
            for part in response.headers["content-security-policy"].split(";")
        }
        scripts = csp.get("script-src", csp.get("default-src", []))
        assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts, page
        sources = {source for values in csp.values() for source in values}
        assert sources <= {"'self'", "'none'", "data:"}, page
        urls = re.findall(r'(?:href|src|action)="([^"]*)"', response.text)
        external = [
            u for u in urls if re.match(r"(?i)(https?:)?//", u) and not u.startswith("http://testserver/")
        ]
        assert external == [], page
        assert "<script>" not in response.text and " style=" not in response.text, (
            page
        )  # CSP would block them


def test_failed_token_lookups_are_rate_limited_per_ip(make_site: SiteFactory) -> None:
    """After five misses an IP gets 429; valid links do not count, and other IPs are unaffected."""
    site = make_site(MAILFLOW_TOKEN_FAILURES_PER_IP="5")
    booked = site.book()
    bogus = f"/m/{'x' * 43}"

    assert [site.client.get(booked.path).status_code for _ in range(8)] == [200] * 8
    assert [site.client.get(bogus).status_code for _ in range(4)] == [404] * 4
    assert site.client.get(booked.path).status_code == 200
    assert site.client.get(f"{bogus}/booking.ics").status_code == 404  # the fifth miss

    blocked = site.client.get(bogus)
    assert blocked.status_code == 429 and "Retry-After" in blocked.headers
    neighbour = site.browser("192.0.2.7")
    assert neighbour.get(booked.path).status_code == 200
    assert neighbour.get(bogus).status_code == 404


def test_access_log_never_contains_a_token(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    """Every request is logged with the token redacted, also on 404 and POST."""
    booked = site.book()
    tampered = tamper(booked.token)
    caplog.set_level(logging.DEBUG, logger="mailflow")

    csrf = site.form(f"{booked.path}/cancel")
    for path in (booked.path, f"{booked.path}/reschedule", f"{booked.path}/booking.ics", f"/m/{tampered}"):
        site.client.get(path)
    site.client.post(f"{booked.path}/cancel", data={"csrf": csrf, "reason": "no"})

    ours = [record for record in caplog.records if record.name.startswith("mailflow")]
    access = [record.getMessage() for record in ours if record.name == "mailflow.access"]
    assert len([line for line in access if "/m/" in line]) >= 6
    for record in ours:
        text = record.getMessage()
        assert booked.token not in text and tampered not in text, text


# --- self-service booking --------------------------------------------------------------------------


def test_book_page_lists_every_service_and_staff_member(site: Site) -> None:
    """The self-service page lists both services and both staff members."""
    html = site.client.get("/book").text

    for name in ("Haircut", "Consultation", "Bob Berger", "Carla Castro"):
        assert name in html
    assert 'href="/book/haircut' in html and 'href="/book/consultation' in html


def test_self_service_booking_from_free_time_to_confirmation(site: Site) -> None:
    """Free times link to a details form whose POST books with origin self_service and queues the emails."""
    times = site.client.get(f"/book/haircut?day={site.day.isoformat()}")
    assert times.status_code == 200
    links = re.findall(r'class="slot" href="([^"]+)"', times.text)
    assert links, "no free times offered"
    details = site.client.get(links[0].replace("&amp;", "&"))
    assert 'name="email"' in details.text and 'name="slot"' in details.text
    slot = re.search(r'name="slot" value="([^"]+)"', details.text)
    assert slot is not None
    mark = site.outbox_mark()

    response = site.client.post(
        "/book/haircut",
        data={"csrf": csrf_of(details), "slot": slot.group(1), "name": "Eve", "email": "Eve@Example.com"},
    )

    assert response.status_code == 200 and "You're booked" in htmllib.unescape(response.text)
    [row] = site.bookings()
    assert row.origin == "self_service" and row.ref in response.text
    staff = slot.group(1).split("|")[1]
    assert site.queued_since(mark) == sorted(
        [("confirmation", "eve@example.com"), ("booking_created", staff), ("booking_created", ADMIN)]
    )
    with Session(site.app.engine) as session:
        told = session.exec(
            select(OutboxMessage).where(
                OutboxMessage.kind == "booking_created", OutboxMessage.recipient == staff
            )
        ).one()
        actors = session.exec(select(AuditEvent.actor_kind).where(AuditEvent.booking_id == row.id)).all()
    assert told.payload is not None
    staff_text = email.message_from_bytes(told.payload, policy=email.policy.default)
    body = staff_text.get_body(preferencelist=("plain",))
    assert body is not None
    # The staff email names the self-service page, not the manage page (issue 17, item 6).
    assert "the customer on the self-service booking page" in " ".join(body.get_content().split())
    assert set(actors) == {"customer_self_service"}


def booking_form(site: Site, hour: int, address: str, **extra: str) -> dict[str, str]:
    """The details form for consultation with Bob at ``hour`` (opened from the day's times), filled in."""
    slot = slot_value(berlin(site.day, hour), BOB)
    csrf = site.form(f"/book/consultation?{urlencode({'day': site.day.isoformat(), 'slot': slot})}")
    return {"csrf": csrf, "slot": slot, "name": "Eve", "email": address, **extra}


def post_booking(site: Site, hour: int, address: str, **extra: str) -> Response:
    """Book consultation with Bob at ``hour`` through the details form, as a browser does."""
    response: Response = site.client.post(
        "/book/consultation", data=booking_form(site, hour, address, **extra)
    )
    return response


def test_double_submission_creates_one_booking(site: Site) -> None:
    """Submitting the same form twice books once and shows the same booked page twice."""
    data = booking_form(site, 11, "eve@example.com")

    first = site.client.post("/book/consultation", data=data)
    second = site.client.post("/book/consultation", data=data)

    assert first.status_code == second.status_code == 200
    [row] = site.bookings()
    assert row.ref in first.text and first.text == second.text


def test_double_submission_counts_once_against_the_per_email_limit(make_site: SiteFactory) -> None:
    """A double click is one booking, so it uses one of the address's bookings per day, not two."""
    site = make_site(MAILFLOW_BOOKINGS_PER_EMAIL_PER_DAY="2")
    data = booking_form(site, 11, "eve@example.com")
    site.client.post("/book/consultation", data=data)
    site.client.post("/book/consultation", data=data)

    assert post_booking(site, 13, "eve@example.com").status_code == 200
    assert len(site.bookings()) == 2


def test_self_service_slot_taken_meanwhile_shows_that_days_other_times(site: Site) -> None:
    """A time taken while the form was open gets 409, "just taken" and that same day's other times."""
    data = booking_form(site, 11, "eve@example.com")
    site.book(11, customer="grace@example.com")
    site.book(11, staff=CARLA, customer="heidi@example.com")

    response = site.client.post("/book/consultation?lang=en", data=data)

    assert response.status_code == 409 and JUST_TAKEN in response.text
    assert len(site.bookings()) == 2
    shown = re.search(r'day=([0-9-]+)" class="day free selected"', response.text)
    assert shown is not None and shown.group(1) == site.day.isoformat(), "the calendar jumped to another day"


def test_honeypot_filled_books_nothing(site: Site) -> None:
    """A form with the hidden ``website`` field filled in (a bot) creates no booking and no email."""
    mark = site.outbox_mark()

    response = post_booking(site, 11, "bot@example.com", website="http://spam.example")

    assert response.status_code == 200
    assert site.bookings() == [] and site.queued_since(mark) == []


def test_bookings_per_email_are_limited(make_site: SiteFactory) -> None:
    """With two bookings per address and day, the third one gets 429 and is not booked."""
    site = make_site(MAILFLOW_BOOKINGS_PER_EMAIL_PER_DAY="2")

    statuses = [post_booking(site, hour, "eve@example.com").status_code for hour in (10, 11, 12)]

    assert statuses == [200, 200, 429]
    assert len(site.bookings()) == 2
    assert post_booking(site, 13, "other@example.com").status_code == 200


def test_invalid_email_reshows_the_form_with_the_error(site: Site) -> None:
    """A bad address gets 400 with the details form, the entered values and the error; nothing is booked."""
    mark = site.outbox_mark()

    response = post_booking(site, 11, "not-an-email")

    assert response.status_code == 400
    assert site.bookings() == [] and site.queued_since(mark) == []
    assert "Please check your details" in response.text
    assert 'value="not-an-email"' in response.text and 'value="Eve"' in response.text
    assert slot_value(berlin(site.day, 11), BOB) in response.text


@pytest.mark.parametrize("zone", ["Europe", "x" * 300])
def test_unknown_time_zone_reshows_the_form_with_the_error(site: Site, zone: str) -> None:
    """A folder of the zone database or a huge name is an unknown zone: 400 with the form, nothing booked."""
    mark = site.outbox_mark()

    response = post_booking(site, 11, "eve@example.com", timezone=zone)

    assert response.status_code == 400
    assert "unknown time zone" in htmllib.unescape(response.text)
    assert site.bookings() == [] and site.queued_since(mark) == []


def test_days_at_the_ends_of_the_calendar_are_ignored_or_refused_not_a_server_error(site: Site) -> None:
    """Years 1 and 9999 in a calendar link show this month; a slot there is refused; nothing changes."""
    booked = site.book(10)
    before, mark = site.booking(booked.ref), site.outbox_mark()
    far = ("9999-12-31", "0001-01-01")
    pages = [f"/book/haircut?day={day}&from={day}" for day in far]
    pages += [f"{booked.path}/reschedule?day={day}&from={day}" for day in far]
    slots = ["9999-12-31T23:59:00-14:00|bob@contoso.example", "0001-01-01T00:00:00+14:00|bob@contoso.example"]

    shown = {path: site.client.get(path).status_code for path in pages}
    booking = {slot: post_booking(site, 11, "eve@example.com", slot=slot).status_code for slot in slots}
    moving = {
        slot: site.client.post(
            f"{booked.path}/reschedule", data={"csrf": site.form(f"{booked.path}/reschedule"), "slot": slot}
        ).status_code
        for slot in slots
    }

    assert shown == dict.fromkeys(pages, 200)
    assert booking == dict.fromkeys(slots, 400) and moving == dict.fromkeys(slots, 409)
    assert site.bookings() == [before] and site.queued_since(mark) == []


def test_slot_naming_no_staff_member_is_refused_not_a_server_error(site: Site) -> None:
    """A tampered slot value with an unknown staff member: 400 on booking, 409 on moving; nothing changes."""
    booked = site.book(10)
    before, mark = site.booking(booked.ref), site.outbox_mark()
    slot = slot_value(berlin(site.day, 11), "nobody@contoso.example")

    booking = post_booking(site, 11, "eve@example.com", slot=slot)
    moving = site.client.post(
        f"{booked.path}/reschedule", data={"csrf": site.form(f"{booked.path}/reschedule"), "slot": slot}
    )

    assert (booking.status_code, moving.status_code) == (400, 409)
    assert site.bookings() == [before] and site.queued_since(mark) == []


def test_bouncing_customer_gets_no_confirmation_but_staff_are_told(site: Site) -> None:
    """A customer whose address bounces gets no email queued; staff and admins still do."""
    with Session(site.app.engine) as session:
        business_id = session.exec(select(Business.id)).one()
        assert business_id is not None
        session.add(
            Customer(
                business_id=business_id,
                email="gone@example.com",
                name="Gone",
                timezone="Europe/Berlin",
                bouncing=True,
                created_at=site.now,
            )
        )
        session.commit()
    mark = site.outbox_mark()

    assert post_booking(site, 11, "gone@example.com").status_code == 200

    assert len(site.bookings()) == 1
    assert site.queued_since(mark) == sorted([("booking_created", BOB), ("booking_created", ADMIN)])


# --- find my booking -------------------------------------------------------------------------------


def find(site: Site, address: str) -> Response:
    """Submit "find my booking" for ``address`` as a browser does."""
    response: Response = site.client.post("/m", data={"csrf": site.form("/m"), "email": address})
    return response


def test_find_my_booking_emails_links_without_revealing_addresses(site: Site) -> None:
    """A known address gets a fresh confirmation, an unknown one nothing, and both see the same page."""
    site.book()
    mark = site.outbox_mark()

    known = find(site, "Ada@Example.com")
    queued = site.queued_since(mark)
    unknown = find(site, "nobody@example.com")

    assert queued == [("confirmation", "ada@example.com")]
    assert site.queued_since(mark) == queued
    assert known.status_code == unknown.status_code == 200
    assert known.content == unknown.content


def test_find_my_booking_is_rate_limited_per_ip(make_site: SiteFactory) -> None:
    """Past the per-IP limit, "find my booking" answers 429 and sends nothing."""
    site = make_site(MAILFLOW_FIND_BOOKING_PER_IP_PER_HOUR="3")
    site.book()
    assert [find(site, f"probe{i}@example.com").status_code for i in range(3)] == [200] * 3
    mark = site.outbox_mark()

    assert find(site, "ada@example.com").status_code == 429
    assert site.queued_since(mark) == []
