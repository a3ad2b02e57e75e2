"""The admin pages through FastAPI's TestClient on real SQLite and PostgreSQL.

Sign-in, sign-out, rate limits, reset and invitation links, the account page,
settings (with the Manage toggle applying to existing bookings) and the staff
calendar. Emails are read back from the outbox rows the pages queued.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from mailflow import services
from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.booking.tokens import hash_token
from mailflow.bootstrap import App, build
from mailflow.config import load_settings
from mailflow.demo import seed_demo
from mailflow.services.accounts import create_user
from mailflow.services.api_keys import create_api_key
from mailflow.store.tables import (
    AdminLink,
    ApiKey,
    Booking,
    Business,
    Customer,
    InboundMessage,
    OutboxMessage,
    Reminder,
    Service,
    ServiceStaff,
    Staff,
)
from mailflow.web.admin.settings import MANAGE_EXPLANATION, MANAGE_LABEL
from mailflow.web.app import create_web_app
from tests.conftest import berlin, html_as_read

MANAGE_LINK = re.compile(r"/m/[\w-]+(?![\w-]|/booking\.ics)")  # not the .ics download (issue 18)

ADMIN = "admin@contoso.example"
BOB = "bob@contoso.example"
CARLA = "carla@contoso.example"
PASSWORD = "a long passphrase"
TEST = Actor(ActorKind.STAFF, "test")
NEW_PASSWORD = "another long passphrase"
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
SLOT_RADIO = re.compile(r'name="slot" value="([^"]+)"')
HTML = {"accept": "text/html"}
FORM = re.compile(r'<form[^>]*action="([^"]*)"[^>]*>(.*?)</form>', re.S)


def csrf_of(response: Response, action: str | None = None) -> str:
    """The CSRF value of the form posting to ``action`` (default: the first form but the sign-out one)."""
    for target, body in FORM.findall(response.text):
        if target == action or (action is None and target != "/admin/sign-out"):
            found = CSRF_FIELD.search(body)
            if found is not None:
                return found.group(1)
    raise AssertionError(f"no such form with a CSRF field ({response.status_code}): {response.text[:300]}")


def parsed(row: OutboxMessage) -> EmailMessage:
    message = email.message_from_bytes(row.payload or b"", policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def text_of(row: OutboxMessage) -> str:
    part = parsed(row).get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


def html_of(row: OutboxMessage) -> str:
    part = parsed(row).get_body(preferencelist=("html",))
    return html_as_read(part) if part is not None else ""


class Admin:
    """One wired app with helpers: browsers, sign-in, the outbox, the database."""

    def __init__(self, app: App, now: datetime, day: date) -> None:
        self.app = app
        self.now = now
        self.day = day
        self.web = create_web_app(app.web)
        for address in (ADMIN, BOB, CARLA):
            create_user(app.engine, "contoso", address, password=PASSWORD, reset=True, actor=TEST, now=now)

    def browser(self, ip: str = "testclient") -> TestClient:
        return TestClient(self.web, client=(ip, 50000), follow_redirects=False)

    def sign_in(self, address: str, password: str = PASSWORD, ip: str = "testclient") -> TestClient:
        client = self.browser(ip)
        response = self.try_sign_in(client, address, password)
        assert response.status_code == 303, response.text
        return client

    @staticmethod
    def try_sign_in(client: TestClient, address: str, password: str, next_path: str = "") -> Response:
        token = csrf_of(client.get("/admin/sign-in"))
        return client.post(
            "/admin/sign-in", data={"csrf": token, "email": address, "password": password, "next": next_path}
        )

    def book(
        self, hour: int = 10, *, slug: str = "haircut", staff: str = BOB, customer: str = "ada@example.com"
    ) -> str:
        view = services.create_booking(
            self.app.engine,
            business="contoso",
            service=slug,
            staff=staff,
            customer=services.CustomerInput(email=customer, name="Ada Lovelace"),
            start=berlin(self.day, hour),
            origin=Origin.STAFF,
            actor=Actor(ActorKind.STAFF, ADMIN),
            now=self.now,
            public_url=self.app.settings.public_url,
            **self.app.booking_kwargs(),
        )
        return view.ref

    def db(self) -> Session:
        return Session(self.app.engine, expire_on_commit=False)

    def mark(self) -> int:
        with self.db() as session:
            return int(session.exec(select(func.coalesce(func.max(col(OutboxMessage.id)), 0))).one() or 0)

    def outbox_since(self, mark: int, kind: str | None = None) -> list[OutboxMessage]:
        with self.db() as session:
            query = select(OutboxMessage).where(col(OutboxMessage.id) > mark).order_by(col(OutboxMessage.id))
            rows = session.exec(query).all()
        return [row for row in rows if kind is None or row.kind == kind]

    def booking(self, ref: str) -> Booking:
        with self.db() as session:
            return session.exec(select(Booking).where(Booking.ref == ref)).one()

    def service_row(self, slug: str) -> Service:
        with self.db() as session:
            return session.exec(select(Service).where(Service.slug == slug)).one()

    def staff_row(self, address: str) -> Staff:
        with self.db() as session:
            return session.exec(select(Staff).where(Staff.email == address)).one()

    def execute(self, statement: Any) -> None:
        with self.db() as session:
            session.execute(statement)
            session.commit()

    def link_token(self, row: OutboxMessage, path: str) -> str:
        found = re.search(rf"/admin/{path}/([A-Za-z0-9_-]{{43}})", text_of(row))
        assert found is not None, text_of(row)
        return found.group(1)


AdminFactory = Callable[..., Admin]


@pytest.fixture
def make_admin(db_url: str, tmp_path: Path, now: datetime, next_tuesday: date) -> Iterator[AdminFactory]:
    built: list[App] = []

    def make(**env: str) -> Admin:
        settings = load_settings(
            {
                "MAILFLOW_DATABASE_URL": db_url,
                "MAILFLOW_OUTBOUND_URL": f"memory://admin-{uuid.uuid4().hex}",
                "MAILFLOW_DATA_DIR": str(tmp_path),
                "MAILFLOW_PUBLIC_URL": "http://testserver",
                **env,
            }
        )
        app = build(settings)
        built.append(app)
        seed_demo(app.engine, now)
        return Admin(app, now, next_tuesday)

    yield make
    for app in built:
        app.close()


@pytest.fixture
def site(make_admin: AdminFactory) -> Admin:
    return make_admin()


# --- who may see what -------------------------------------------------------------------

PAGES = [
    "/admin",
    "/admin/bookings",
    "/admin/bookings/new",
    "/admin/account",
    "/admin/services",
    "/admin/staff",
]


def test_signed_out_visitors_are_sent_to_sign_in_or_get_401(site: Admin) -> None:
    """A browser is redirected to the sign-in page with ``next``; anything else gets 401."""
    client = site.browser()
    for path in PAGES:
        page = client.get(path, headers=HTML)
        assert page.status_code == 303 and page.headers["location"].startswith("/admin/sign-in?next=")
        assert client.get(path, headers={"accept": "application/json"}).status_code == 401
    booking = site.book()
    assert client.get(f"/admin/bookings/{booking}", headers=HTML).status_code == 303
    # A POST with a valid form token but no session is refused too.
    token = csrf_of(client.get("/admin/sign-in"))
    assert client.post("/admin/account/notifications", data={"csrf": token}).status_code in (401, 403)


def test_staff_get_403_on_admin_only_pages(site: Admin) -> None:
    """Bob (staff) can use his calendar and account, not the settings or the team."""
    bob = site.sign_in(BOB)
    assert bob.get("/admin/bookings").status_code == 200
    assert bob.get("/admin/account").status_code == 200
    assert bob.get("/admin/services").status_code == 403
    assert bob.get("/admin/staff").status_code == 403
    form = csrf_of(site.sign_in(ADMIN).get("/admin/services"))
    before = site.service_row("haircut").customer_can_manage
    refused = bob.post("/admin/services/haircut", data={"csrf": form, "customer_can_manage": "on"})
    assert refused.status_code == 403
    assert site.service_row("haircut").customer_can_manage == before
    assert "/admin/services" not in bob.get("/admin/bookings").text  # no Settings link for staff


POSTS = [
    "/admin/sign-in",
    "/admin/sign-out",
    "/admin/forgot",
    "/admin/account/notifications",
    "/admin/account/password",
    "/admin/staff/invite",
    "/admin/services/haircut",
    "/admin/business",
    "/admin/bookings/new",
]


def test_every_form_without_its_csrf_token_gets_403(site: Admin) -> None:
    """Missing or foreign CSRF tokens get 403, signed in or not, and change nothing."""
    ref = site.book()
    admin = site.sign_in(ADMIN)
    paths = [*POSTS, *(f"/admin/bookings/{ref}/{action}" for action in ("cancel", "resend", "customer"))]
    stranger = site.browser()
    foreign = csrf_of(stranger.get("/admin/sign-in"))  # a token of another browser session
    for path in paths:
        assert admin.post(path, data={}).status_code == 403, path
        assert admin.post(path, data={"csrf": foreign}).status_code == 403, path
        assert stranger.post(path, data={}).status_code == 403, path
    assert site.booking(ref).status == "confirmed"
    assert admin.get("/admin/bookings").status_code == 200  # the sign-out POST did nothing


# --- sign-in, sign-out, rate limits -------------------------------------------------------


def test_sign_in_follows_only_local_admin_next_paths(site: Admin) -> None:
    """``next`` leads back to an admin page; other sites and other paths are ignored."""
    client = site.browser()
    page = client.get("/admin/services", headers=HTML)
    target = page.headers["location"]
    assert client.get(target).status_code == 200
    cases = {
        "/admin/services": "/admin/services",
        "https://evil.example/admin": "/admin/bookings",
        "//evil.example/admin": "/admin/bookings",
        "/book": "/admin/bookings",
        "/admin/../book": "/admin/bookings",
    }
    for given, expected in cases.items():
        fresh = site.browser()
        landed = site.try_sign_in(fresh, ADMIN, PASSWORD, given)
        assert landed.status_code == 303 and landed.headers["location"] == expected, given


def test_session_cookie_flags_follow_the_public_url(make_admin: AdminFactory) -> None:
    """``mf_admin`` is HttpOnly and SameSite=Lax; Secure when the public URL is https."""
    plain = make_admin().browser()
    cookie = Admin.try_sign_in(plain, ADMIN, PASSWORD).headers["set-cookie"]
    assert "mf_admin=" in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()
    # Behind a proxy that ends TLS the hop to mailflow is plain http: the public URL decides.
    site = make_admin(MAILFLOW_PUBLIC_URL="https://book.contoso.example")
    secure = TestClient(site.web, base_url="https://testserver", follow_redirects=False)
    answer = Admin.try_sign_in(secure, ADMIN, PASSWORD)
    cookies = answer.headers.get_list("set-cookie")
    assert answer.status_code == 303 and {c.split("=")[0] for c in cookies} >= {"mf_admin", "mf_session"}
    assert all("; secure" in cookie.lower() for cookie in cookies)
    assert "; secure" in site.browser().get("/admin/sign-in").headers["set-cookie"].lower()


def test_wrong_password_is_refused_and_sign_out_ends_the_session(site: Admin) -> None:
    """A wrong password gets the form again; signing out makes the old cookie worthless."""
    client = site.browser()
    wrong = site.try_sign_in(client, ADMIN, "not the password")
    assert wrong.status_code == 400 and "Wrong email address or password" in wrong.text
    assert 'value="admin@contoso.example"' in wrong.text  # the address is kept
    client = site.sign_in(ADMIN)
    cookie = client.cookies.get("mf_admin")
    page = client.get("/admin/bookings")
    out = client.post("/admin/sign-out", data={"csrf": csrf_of(page, "/admin/sign-out")})
    assert out.status_code == 303
    replay = site.browser()
    replay.cookies.set("mf_admin", cookie or "")
    assert replay.get("/admin/bookings").status_code == 401


def test_failed_sign_ins_are_limited_per_address(site: Admin) -> None:
    """After five failures for one address from one client even its right password waits there;
    the owner elsewhere and other addresses do not (no lockout a stranger can trigger)."""
    client = site.browser()
    for _ in range(5):
        assert site.try_sign_in(client, BOB, "wrong password").status_code == 400
    blocked = site.try_sign_in(client, BOB, PASSWORD)
    assert blocked.status_code == 429 and "Too many sign-in attempts" in blocked.text
    assert 1 <= int(blocked.headers["retry-after"]) <= 60  # the first wait is short; later ones grow
    assert site.try_sign_in(site.browser("10.0.0.9"), BOB, PASSWORD).status_code == 303
    assert site.try_sign_in(client, CARLA, PASSWORD).status_code == 303


def test_failed_sign_ins_are_limited_per_client_address(site: Admin) -> None:
    """Twenty attempts from one IP in a minute (any addresses) make it wait; another IP signs in."""
    client = site.browser("10.1.1.1")
    for number in range(20):
        assert site.try_sign_in(client, f"guess{number}@contoso.example", "wrong").status_code == 400
    blocked = site.try_sign_in(client, CARLA, PASSWORD)
    assert blocked.status_code == 429 and "Too many sign-in attempts" in blocked.text
    assert site.try_sign_in(site.browser("10.2.2.2"), CARLA, PASSWORD).status_code == 303


# --- password reset -----------------------------------------------------------------------


def ask_reset(site: Admin, address: str) -> Response:
    client = site.browser()
    return client.post("/admin/forgot", data={"csrf": csrf_of(client.get("/admin/forgot")), "email": address})


def test_reset_link_is_emailed_once_and_unknown_addresses_get_the_same_answer(site: Admin) -> None:
    """Known and unknown addresses see the same page; only a staff member gets an email with a link."""
    mark = site.mark()
    known, unknown = ask_reset(site, BOB), ask_reset(site, "nobody@example.com")
    assert known.status_code == unknown.status_code == 200
    assert re.sub(CSRF_FIELD, "", known.text) == re.sub(CSRF_FIELD, "", unknown.text)
    rows = site.outbox_since(mark)
    assert [(row.kind, row.recipient) for row in rows] == [("admin_password_reset", BOB)]
    token = site.link_token(rows[0], "reset")
    assert token in html_of(rows[0])
    with site.db() as session:
        link = session.exec(select(AdminLink)).one()
        assert link.token_hash != token and link.purpose == "reset"
        assert timedelta(minutes=59) < link.expires_at - link.created_at <= timedelta(hours=1)


def test_reset_sets_the_password_ends_sessions_and_works_only_once(site: Admin) -> None:
    """The link sets a new password, signs every browser out, and is spent afterwards."""
    old_browser = site.sign_in(BOB)
    mark = site.mark()
    ask_reset(site, BOB)
    token = site.link_token(site.outbox_since(mark)[0], "reset")
    client = site.browser()
    form = client.get(f"/admin/reset/{token}")
    assert form.status_code == 200 and BOB in form.text
    short = client.post(
        f"/admin/reset/{token}", data={"csrf": csrf_of(form), "password": "short", "confirm": "short"}
    )
    assert short.status_code == 400 and "at least 10 characters" in short.text
    done = client.post(
        f"/admin/reset/{token}",
        data={"csrf": csrf_of(form), "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert done.status_code == 303 and done.headers["location"] == "/admin/sign-in?done=reset"
    assert old_browser.get("/admin/bookings").status_code == 401
    assert site.try_sign_in(site.browser(), BOB, PASSWORD).status_code == 400
    site.sign_in(BOB, NEW_PASSWORD)
    again = client.post(
        f"/admin/reset/{token}", data={"csrf": csrf_of(form), "password": PASSWORD, "confirm": PASSWORD}
    )
    assert again.status_code == 404 and "no longer works" in again.text
    assert client.get(f"/admin/reset/{token}").status_code == 404


def test_reset_links_expire_after_an_hour_and_serve_only_their_purpose(site: Admin) -> None:
    """An hour-old link is dead; a reset token does not open the invitation page."""
    mark = site.mark()
    ask_reset(site, CARLA)
    token = site.link_token(site.outbox_since(mark)[0], "reset")
    client = site.browser()
    assert client.get(f"/admin/welcome/{token}").status_code == 404
    assert client.get(f"/admin/reset/{token}").status_code == 200
    site.execute(update(AdminLink).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert client.get(f"/admin/reset/{token}").status_code == 404
    assert client.get("/admin/reset/" + "x" * 43).status_code == 404


def test_reset_email_reaches_the_maildir_and_dev_mail(make_admin: AdminFactory, tmp_path: Path) -> None:
    """The reset email goes through the outbox and the dispatcher into the maildir shown at /dev/mail."""
    site = make_admin(MAILFLOW_OUTBOUND_URL=f"maildir://{tmp_path / 'outbox'}", MAILFLOW_DEV_MAIL="1")
    ask_reset(site, BOB)
    report = asyncio.run(site.app.dispatcher.run_once(datetime.now(UTC)))
    assert report.sent == 1
    listing = site.browser().get("/dev/mail")
    assert "admin_password_reset" in listing.text and BOB in listing.text
    files = list((tmp_path / "outbox" / "new").iterdir())
    assert len(files) == 1 and b"/admin/reset/" in files[0].read_bytes().replace(b"=\r\n", b"")


# --- invitations --------------------------------------------------------------------------


def invite(site: Admin, admin: TestClient, address: str, role: str = "staff") -> Response:
    form = csrf_of(admin.get("/admin/staff"), "/admin/staff/invite")
    return admin.post(
        "/admin/staff/invite", data={"csrf": form, "email": address, "name": "Dana Diaz", "role": role}
    )


def test_invitation_creates_staff_and_its_link_sets_a_password_once(site: Admin) -> None:
    """An invited person gets an email; its link (7 days) lets them choose a password, once."""
    admin = site.sign_in(ADMIN)
    mark = site.mark()
    page = invite(site, admin, "Dana@Contoso.example")
    assert page.status_code == 200 and "Invitation sent to dana@contoso.example" in page.text
    assert "invitation pending" in page.text
    dana = site.staff_row("dana@contoso.example")
    assert dana.role == "staff" and dana.password_hash is None and dana.name == "Dana Diaz"
    rows = site.outbox_since(mark)
    assert [(row.kind, row.recipient) for row in rows] == [("admin_invitation", "dana@contoso.example")]
    token = site.link_token(rows[0], "welcome")
    with site.db() as session:
        link = session.exec(select(AdminLink).where(AdminLink.purpose == "invite")).one()
        assert timedelta(days=6, hours=23) < link.expires_at - link.created_at <= timedelta(days=7)
    client = site.browser()
    form = client.get(f"/admin/welcome/{token}")
    assert form.status_code == 200 and "Welcome" in form.text
    data = {"csrf": csrf_of(form), "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    assert client.post(f"/admin/welcome/{token}", data=data).status_code == 303
    site.sign_in("dana@contoso.example", NEW_PASSWORD)
    assert client.post(f"/admin/welcome/{token}", data=data).status_code == 404
    again = invite(site, admin, "dana@contoso.example")
    assert again.status_code == 400 and "can already sign in" in again.text


def test_invitation_links_expire_and_bad_invitations_are_explained(site: Admin) -> None:
    """A week-old invitation is dead; a malformed address or role comes back with the form as typed."""
    admin = site.sign_in(ADMIN)
    mark = site.mark()
    invite(site, admin, "erin@contoso.example")
    token = site.link_token(site.outbox_since(mark)[0], "welcome")
    site.execute(update(AdminLink).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert site.browser().get(f"/admin/welcome/{token}").status_code == 404
    bad = invite(site, admin, "not an address")
    assert (
        bad.status_code == 400
        and "is not an email address" in bad.text
        and 'value="not an address"' in bad.text
    )
    assert invite(site, admin, "fay@contoso.example", role="owner").status_code == 400


# --- the account page ---------------------------------------------------------------------


def test_notification_preferences_are_what_the_notifier_obeys(site: Admin) -> None:
    """Bob turns off new-booking emails and picks German; the next booking skips him, not the admin."""
    bob = site.sign_in(BOB)
    page = bob.get("/admin/account")
    for key in ("booking_created", "booking_rescheduled", "booking_cancelled", "daily_agenda"):
        assert f'value="{key}" checked' in page.text
    saved = bob.post(
        "/admin/account/notifications",
        data={"csrf": csrf_of(page), "notify": ["booking_cancelled", "daily_agenda"], "language": "de"},
    )
    assert saved.status_code == 200 and "saved" in saved.text
    member = site.staff_row(BOB)
    assert member.locale == "de"
    assert member.notification_prefs == {
        "booking_created": False,
        "booking_rescheduled": False,
        "booking_cancelled": True,
        "daily_agenda": True,
    }
    mark = site.mark()
    site.book()
    staff_mails = [(r.kind, r.recipient) for r in site.outbox_since(mark) if r.kind == "booking_created"]
    assert staff_mails == [("booking_created", ADMIN)]
    bad = bob.post("/admin/account/notifications", data={"csrf": csrf_of(page), "language": "fr"})
    assert bad.status_code == 400 and site.staff_row(BOB).locale == "de"


def test_changing_the_password_keeps_this_browser_and_signs_out_the_others(site: Admin) -> None:
    """The current password is required; afterwards only this browser stays signed in."""
    here, elsewhere = site.sign_in(CARLA), site.sign_in(CARLA)
    page = here.get("/admin/account")
    wrong = here.post(
        "/admin/account/password",
        data={
            "csrf": csrf_of(page, "/admin/account/password"),
            "current_password": "nope",
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )
    assert wrong.status_code == 400 and "current password is wrong" in wrong.text
    mismatch = here.post(
        "/admin/account/password",
        data={
            "csrf": csrf_of(page, "/admin/account/password"),
            "current_password": PASSWORD,
            "password": NEW_PASSWORD,
            "confirm": "x" * 12,
        },
    )
    assert mismatch.status_code == 400 and "differ" in mismatch.text
    done = here.post(
        "/admin/account/password",
        data={
            "csrf": csrf_of(page, "/admin/account/password"),
            "current_password": PASSWORD,
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )
    assert done.status_code == 200
    assert here.get("/admin/account").status_code == 200
    assert elsewhere.get("/admin/account").status_code == 401
    site.sign_in(CARLA, NEW_PASSWORD)


# --- settings -----------------------------------------------------------------------------


def service_form(**changes: Any) -> dict[str, Any]:
    """A valid form for the demo haircut (Bob and Carla), with ``changes``."""
    return {
        "change_cutoff": "0",
        "reminders": "24 h",
        "duration": "45",
        "buffer_before": "0",
        "buffer_after": "0",
        **changes,
    }


def staff_ids(site: Admin) -> list[str]:
    """The staff checkboxes' values of the demo haircut (the members' addresses)."""
    return [BOB, CARLA]


def test_settings_page_shows_the_toggle_with_its_label_and_explanation(site: Admin) -> None:
    """Each service (and the new-service form) has the Manage toggle, labelled as in Microsoft Bookings."""
    page = site.sign_in(ADMIN).get("/admin/services")
    assert page.status_code == 200
    assert (
        page.text.count(MANAGE_LABEL) == 3 and page.text.count(MANAGE_EXPLANATION.replace("'", "&#39;")) == 3
    )
    assert 'name="customer_can_manage" value="on" aria-describedby' in page.text  # haircut: off
    assert 'value="24 h"' in page.text and "Contoso Salon" in page.text


def test_turning_the_toggle_on_applies_to_existing_bookings_from_the_next_email(site: Admin) -> None:
    """A staff haircut booking had no Manage link; after the switch its page and next email have it."""
    ref = site.book()
    mark_confirmation = site.outbox_since(0, "confirmation")
    assert mark_confirmation and not MANAGE_LINK.search(html_of(mark_confirmation[-1]))
    admin = site.sign_in(ADMIN)
    page = admin.get("/admin/services")
    saved = admin.post(
        "/admin/services/haircut",
        data=service_form(csrf=csrf_of(page), customer_can_manage="on", staff=staff_ids(site)),
    )
    assert saved.status_code == 303 and saved.headers["location"].startswith("/admin/services?saved=haircut")
    assert site.service_row("haircut").customer_can_manage is True
    mark = site.mark()
    detail = admin.get(f"/admin/bookings/{ref}")
    assert admin.post(f"/admin/bookings/{ref}/resend", data={"csrf": csrf_of(detail)}).status_code == 303
    (again,) = site.outbox_since(mark, "confirmation")
    links = re.findall(r'href="(http://testserver/m/[A-Za-z0-9_-]+)\?lang=en"', html_of(again))
    assert links, "the resent confirmation has no Manage link"
    manage = site.browser().get(links[0].removeprefix("http://testserver"))
    assert manage.status_code == 200 and "Reschedule" in manage.text
    # Off again: the same link's page stops offering changes at once.
    admin.post("/admin/services/haircut", data=service_form(csrf=csrf_of(page), staff=staff_ids(site)))
    assert "Reschedule" not in site.browser().get(links[0].removeprefix("http://testserver")).text


def test_invalid_service_settings_are_shown_inline_and_nothing_is_lost(site: Admin) -> None:
    """Bad values come back as typed with a message at each field; the service is unchanged."""
    admin = site.sign_in(ADMIN)
    page = admin.get("/admin/services")
    before = site.service_row("haircut")
    bad = admin.post(
        "/admin/services/haircut",
        data={
            "csrf": csrf_of(page),
            "customer_can_manage": "on",
            "change_cutoff": "soon",
            "reminders": "24 h, tomorrow",
            "duration": "0",
            "buffer_before": "-5",
            "buffer_after": "10",
        },
    )
    assert bad.status_code == 400
    # Times that are no times are found by the page, all at once; ranges by the service layer.
    for message in ("&#39;soon&#39; is not a time", "&#39;tomorrow&#39; is not a time"):
        assert message in bad.text, message
    for typed in ('value="soon"', 'value="24 h, tomorrow"', 'value="0"', 'value="-5"', 'value="10"'):
        assert typed in bad.text, typed
    assert 'value="on" checked' in bad.text  # the toggle as it was posted
    out_of_range = admin.post(
        "/admin/services/haircut",
        data=service_form(csrf=csrf_of(page), duration="0", staff=staff_ids(site)),
    )
    assert out_of_range.status_code == 400
    assert "the duration (minutes) must be between 5 and 1440" in out_of_range.text
    no_staff = admin.post("/admin/services/haircut", data=service_form(csrf=csrf_of(page)))
    assert no_staff.status_code == 400 and "a service needs at least one staff member" in no_staff.text
    after = site.service_row("haircut")
    assert after.model_dump() == before.model_dump()


def test_valid_service_settings_are_saved_and_reminders_replanned(site: Admin) -> None:
    """Cut-off, two reminders, duration, buffers and staff are stored; upcoming bookings are replanned."""
    ref = site.book(hour=14, staff=CARLA)
    admin = site.sign_in(ADMIN)
    page = admin.get("/admin/services")
    carla = CARLA
    saved = admin.post(
        "/admin/services/haircut",
        data=service_form(
            csrf=csrf_of(page),
            change_cutoff="1 d",
            reminders="24 h; 1h",
            duration="60",
            buffer_before="5",
            buffer_after="10",
            staff=[carla],
        ),
    )
    assert saved.status_code == 303
    row = site.service_row("haircut")
    assert (row.change_cutoff_minutes, row.reminder_offsets_minutes) == (1440, [1440, 60])
    assert (row.duration_minutes, row.buffer_before_minutes, row.buffer_after_minutes) == (60, 5, 10)
    with site.db() as session:
        performers = session.exec(
            select(ServiceStaff.staff_id).where(ServiceStaff.service_id == row.id)
        ).all()
        assert list(performers) == [site.staff_row(CARLA).id]
        booking = session.exec(select(Booking).where(Booking.ref == ref)).one()
        reminders = session.exec(select(Reminder).where(Reminder.booking_id == booking.id)).all()
        assert sorted((r.offset_minutes, r.status) for r in reminders) == [(60, "pending"), (1440, "pending")]
    page = admin.get("/admin/services")
    assert 'value="24 h, 1 h"' in page.text and 'value="24 h"' in page.text


def test_business_settings_validate_and_save(site: Admin) -> None:
    """Contact details, instructions, language, zone and sender: bad ones are explained, good ones stored."""
    admin = site.sign_in(ADMIN)
    page = admin.get("/admin/services")
    data = {
        "csrf": csrf_of(page),
        "phone": "+49 30 7654321",
        "email": "desk@contoso.example",
        "address": "Neue Straße 2, 10117 Berlin",
        "instructions_de": "Call us, please.",
        "locale": "de",
        "timezone": "Mars/Olympus",
        "sender_name": "Contoso",
        "sender_email": "not-an-address",
    }
    bad = admin.post("/admin/business", data=data)
    assert bad.status_code == 400
    assert "not-an-address" in bad.text and 'aria-describedby="biz-sender-email-error"' in bad.text
    assert 'value="Mars/Olympus"' in bad.text and "Call us, please." in bad.text
    bad_zone = admin.post("/admin/business", data={**data, "sender_email": "mail@contoso.example"})
    assert bad_zone.status_code == 400 and "unknown time zone" in bad_zone.text
    with site.db() as session:
        assert session.exec(select(Business)).one().phone == "+49 30 1234567"
    good = admin.post(
        "/admin/business", data={**data, "timezone": "Europe/Vienna", "sender_email": "Mail@Contoso.example"}
    )
    assert good.status_code == 303
    with site.db() as session:
        business = session.exec(select(Business)).one()
    assert (business.phone, business.email, business.default_locale) == (
        "+49 30 7654321",
        "desk@contoso.example",
        "de",
    )
    assert (business.timezone, business.sender_email, business.change_instructions) == (
        "Europe/Vienna",
        "mail@contoso.example",
        "Call us, please.",
    )


@pytest.mark.parametrize("zone", ["Europe", "x" * 300])
def test_business_time_zone_that_is_no_zone_gets_400_and_changes_nothing(site: Admin, zone: str) -> None:
    """A folder of the zone database or a huge name is an unknown time zone (400), not a server error."""
    admin = site.sign_in(ADMIN)
    page = admin.get("/admin/services")
    data = {"csrf": csrf_of(page), "phone": "+49 30 7654321", "locale": "en", "timezone": zone}
    data |= dict.fromkeys(("email", "address", "instructions_en", "sender_name", "sender_email"), "")

    response = admin.post("/admin/business", data=data)

    assert response.status_code == 400 and "unknown time zone" in response.text
    with site.db() as session:
        business = session.exec(select(Business)).one()
    assert (business.phone, business.timezone) == ("+49 30 1234567", "Europe/Berlin")


def test_nul_characters_in_admin_requests_get_400_and_change_nothing(site: Admin) -> None:
    """A NUL in a path, query or form field of an admin page is refused with 400; nothing is stored."""
    admin = site.sign_in(ADMIN)
    ref = site.book()
    page = admin.get("/admin/services")
    data = {"csrf": csrf_of(page), "phone": "+49 30 7654321", "locale": "en", "timezone": "UTC"}
    data |= dict.fromkeys(("email", "address", "instructions_en", "sender_name", "sender_email"), "")

    responses = {
        "ref": admin.get("/admin/bookings/%00", headers=HTML),
        "query": admin.get("/admin/bookings?from=%00", headers=HTML),
        "form": admin.post("/admin/business", data={**data, "address": "Hauptstra\x00e 1"}),
        "sign-in": site.browser().post("/admin/sign-in", data={"email": "\x00", "password": PASSWORD}),
    }

    assert {name: r.status_code for name, r in responses.items()} == dict.fromkeys(responses, 400)
    with site.db() as session:
        business = session.exec(select(Business)).one()
    assert (business.phone, business.timezone) == ("+49 30 1234567", "Europe/Berlin")
    assert site.booking(ref).status == "confirmed"


# --- the calendar ---------------------------------------------------------------------------


def test_staff_see_only_their_bookings_and_admins_see_all(site: Admin) -> None:
    """Bob's list and day view hold his booking only; Carla's booking is 403 for him; the admin sees both."""
    bobs, carlas = site.book(10, staff=BOB), site.book(11, staff=CARLA, customer="grace@example.com")
    query = f"?from={site.day.isoformat()}&to={site.day.isoformat()}"
    bob, admin = site.sign_in(BOB), site.sign_in(ADMIN)
    for path in (f"/admin/bookings{query}", f"/admin/bookings?view=day&day={site.day.isoformat()}"):
        mine = bob.get(path).text
        assert bobs in mine and carlas not in mine
        everything = admin.get(path).text
        assert bobs in everything and carlas in everything
    assert bob.get(f"/admin/bookings/{carlas}").status_code == 403
    own = bob.get(f"/admin/bookings/{bobs}")
    assert own.status_code == 200
    offered = SLOT_RADIO.findall(own.text)  # times to move to: his own calendar only
    assert offered and all(slot.endswith(f"|{BOB}") for slot in offered)
    assert any(
        slot.endswith(f"|{CARLA}") for slot in SLOT_RADIO.findall(admin.get(f"/admin/bookings/{bobs}").text)
    )
    assert admin.get("/admin/bookings/BK-NOSUCH").status_code == 404
    assert "Carla Castro" in admin.get(f"/admin/bookings?view=day&day={site.day.isoformat()}").text


def new_booking(client: TestClient, site: Admin, **fields: str) -> Response:
    page = client.get(f"/admin/bookings/new?service=haircut&staff={BOB}&day={site.day.isoformat()}")
    data = {"csrf": csrf_of(page), "service": "haircut", "staff": BOB, "day": site.day.isoformat()}
    data |= {"email": "lin@example.com", "name": "Lin Wu", **fields}
    return client.post("/admin/bookings/new", data=data)


def test_admin_books_a_free_slot_on_a_customers_behalf(site: Admin) -> None:
    """A free slot becomes a staff-origin booking; the customer's confirmation has no Manage button."""
    admin = site.sign_in(ADMIN)
    page = admin.get(f"/admin/bookings/new?service=haircut&staff={BOB}&day={site.day.isoformat()}")
    slots = SLOT_RADIO.findall(page.text)
    assert slots and all(slot.endswith(f"|{BOB}") for slot in slots)
    mark = site.mark()
    done = new_booking(admin, site, slot=slots[0])
    assert done.status_code == 303
    ref = done.headers["location"].split("/")[-1].split("?")[0]
    booking = site.booking(ref)
    assert booking.origin == "staff" and booking.start == datetime.fromisoformat(slots[0].split("|")[0])
    confirmation = site.outbox_since(mark, "confirmation")
    assert [row.recipient for row in confirmation] == ["lin@example.com"]
    assert not MANAGE_LINK.search(html_of(confirmation[0]))  # haircut: the setting is off
    detail = admin.get(done.headers["location"])
    assert "Booked." in detail.text and "confirmation" in detail.text and "lin@example.com" in detail.text


def test_forcing_a_time_books_off_grid_but_never_over_the_calendar(site: Admin) -> None:
    """10:05 (off the grid) can be forced; 20:00 (after hours) is refused with the explanation."""
    admin = site.sign_in(ADMIN)
    forced = new_booking(
        admin, site, when="force", force_day=site.day.isoformat(), force_time="10:05", force_staff=BOB
    )
    assert forced.status_code == 303
    ref = forced.headers["location"].split("/")[-1].split("?")[0]
    assert site.booking(ref).start == berlin(site.day, 10, 5)
    count = len(site.outbox_since(0, "confirmation"))
    late = new_booking(
        admin, site, when="force", force_day=site.day.isoformat(), force_time="20:00", force_staff=BOB
    )
    assert late.status_code == 409 and "Double bookings cannot be forced" in late.text
    assert 'value="20:00"' in late.text and 'value="Lin Wu"' in late.text
    over = new_booking(
        admin, site, when="force", force_day=site.day.isoformat(), force_time="10:15", force_staff=BOB
    )
    assert over.status_code == 409
    assert len(site.outbox_since(0, "confirmation")) == count
    missing = new_booking(admin, site, name="", email="nope")
    assert missing.status_code == 400 and "enter the customer&#39;s name" in missing.text


def test_staff_book_only_for_themselves(site: Admin) -> None:
    """Bob cannot book Carla's calendar; his own works."""
    bob = site.sign_in(BOB)
    refused = new_booking(
        bob, site, when="force", force_day=site.day.isoformat(), force_time="12:00", force_staff=CARLA
    )
    assert refused.status_code == 400 and "staff book for themselves" in refused.text
    ok = new_booking(
        bob, site, when="force", force_day=site.day.isoformat(), force_time="12:00", force_staff=BOB
    )
    assert ok.status_code == 303


def test_reschedule_and_cancel_as_staff_email_the_customer(site: Admin) -> None:
    """Moving and cancelling from the detail page queue the customer's emails, listed on the page."""
    ref = site.book(10)
    bob = site.sign_in(BOB)
    page = bob.get(f"/admin/bookings/{ref}?day={site.day.isoformat()}&staff={BOB}")
    slots = [slot for slot in SLOT_RADIO.findall(page.text) if "T13:" in slot or "T12:" in slot]
    mark = site.mark()
    moved = bob.post(f"/admin/bookings/{ref}/reschedule", data={"csrf": csrf_of(page), "slot": slots[0]})
    assert moved.status_code == 303, moved.text
    assert site.booking(ref).start == datetime.fromisoformat(slots[0].split("|")[0])
    assert [r.recipient for r in site.outbox_since(mark, "rescheduled")] == ["ada@example.com"]
    clash = bob.post(
        f"/admin/bookings/{ref}/reschedule",
        data={
            "csrf": csrf_of(page),
            "when": "force",
            "force_day": site.day.isoformat(),
            "force_time": "18:30",
        },
    )
    assert clash.status_code == 409 and "Double bookings cannot be forced" in clash.text
    gone = bob.post(f"/admin/bookings/{ref}/cancel", data={"csrf": csrf_of(page), "reason": "Bob is ill"})
    assert gone.status_code == 303
    assert site.booking(ref).status == "cancelled"
    assert [r.recipient for r in site.outbox_since(mark, "cancelled")] == ["ada@example.com"]
    detail = bob.get(f"/admin/bookings/{ref}").text
    for kind in ("confirmation", "rescheduled", "cancelled", "booking_cancelled"):
        assert f">{kind}<" in detail, kind
    assert "Bob is ill" in detail and "Move the booking" not in detail


def test_detail_page_lists_emails_with_status_and_replies_without_raw_bytes(site: Admin) -> None:
    """Outbox rows show kind, recipient, status, attempts, error; replies their verdict, not their bytes."""
    ref = site.book()
    booking = site.booking(ref)
    site.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.booking_id) == booking.id, col(OutboxMessage.kind) == "confirmation")
        .values(status="failed", attempts=3, last_error="550 mailbox unavailable")
    )
    with site.db() as session:
        session.add(
            InboundMessage(
                sha256="0" * 64,
                raw=b"Subject: secret-raw-marker\r\n\r\ncancel",
                envelope_from="ada@example.com",
                received_at=datetime.now(UTC),
                status="done",
                verdicts=[{"rule": "act", "verdict": "refused", "detail": ""}],
                booking_id=booking.id,
                kind="reply",
                command="cancel",
            )
        )
        session.commit()
    page = site.sign_in(ADMIN).get(f"/admin/bookings/{ref}").text
    assert "550 mailbox unavailable" in page and ">failed<" in page and ">3<" in page
    assert "act: refused" in page and ">cancel<" in page and "ada@example.com" in page
    assert "secret-raw-marker" not in page


def test_bouncing_customer_is_flagged_and_staff_fix_the_address_and_resend(site: Admin) -> None:
    """A bouncing address is flagged; resend waits for a fix; correcting it clears the flag and resends."""
    ref = site.book()
    site.execute(update(Customer).values(bouncing=True))
    admin = site.sign_in(ADMIN)
    listing = admin.get(f"/admin/bookings?from={site.day.isoformat()}").text
    assert "address bounces" in listing
    page = admin.get(f"/admin/bookings/{ref}")
    mark = site.mark()
    refused = admin.post(f"/admin/bookings/{ref}/resend", data={"csrf": csrf_of(page)})
    assert refused.status_code == 409 and "bounce" in refused.text
    assert site.outbox_since(mark) == []
    bad = admin.post(f"/admin/bookings/{ref}/customer", data={"csrf": csrf_of(page), "email": "ada@"})
    assert bad.status_code == 400 and 'value="ada@"' in bad.text
    fixed = admin.post(
        f"/admin/bookings/{ref}/customer",
        data={"csrf": csrf_of(page), "email": "ada.lovelace@example.com", "then": "resend"},
    )
    assert fixed.status_code == 303
    with site.db() as session:
        customer = session.exec(select(Customer)).one()
    assert (customer.email, customer.bouncing) == ("ada.lovelace@example.com", False)
    assert [r.recipient for r in site.outbox_since(mark, "confirmation")] == ["ada.lovelace@example.com"]
    assert "address bounces" not in admin.get(f"/admin/bookings?from={site.day.isoformat()}").text


def test_days_at_the_ends_of_the_calendar_are_ignored_or_refused_not_a_server_error(site: Admin) -> None:
    """Years 1 and 9999 in the calendar's links fall back to today; typed into a form they are refused."""
    admin = site.sign_in(ADMIN)
    ref = site.book()
    before = site.booking(ref)
    pages = [f"/admin/bookings?from={day}&to={day}" for day in ("9999-12-31", "0001-01-01")]
    pages += ["/admin/bookings?view=day&day=9999-12-31", "/admin/bookings/new?day=0001-01-01"]
    pages += [f"/admin/bookings/{ref}?day=9999-12-31"]
    forced = {"when": "force", "force_day": "9999-12-31", "force_time": "10:00", "force_staff": BOB}
    new = admin.get("/admin/bookings/new", headers=HTML)
    detail = admin.get(f"/admin/bookings/{ref}", headers=HTML)

    shown = {path: admin.get(path, headers=HTML).status_code for path in pages}
    booked = admin.post(
        "/admin/bookings/new",
        data={
            **forced,
            "csrf": csrf_of(new),
            "service": "haircut",
            "name": "Eve",
            "email": "eve@example.com",
        },
    )
    moved = admin.post(
        f"/admin/bookings/{ref}/reschedule",
        data={**forced, "csrf": csrf_of(detail, f"/admin/bookings/{ref}/reschedule")},
    )

    assert shown == dict.fromkeys(pages, 200)
    assert booked.status_code == 400 and moved.status_code == 400
    with site.db() as session:
        assert len(session.exec(select(Booking)).all()) == 1
    assert site.booking(ref) == before


def test_moving_to_no_staff_member_is_400_not_a_server_error(site: Admin) -> None:
    """A slot or typed staff address naming nobody of the business gets 400 and the booking stays."""
    admin = site.sign_in(ADMIN)
    ref = site.book()
    before = site.booking(ref)
    detail = admin.get(f"/admin/bookings/{ref}", headers=HTML)
    csrf = csrf_of(detail, f"/admin/bookings/{ref}/reschedule")
    nobody = "nobody@contoso.example"
    tries = {
        "slot": {"slot": f"{berlin(site.day, 14).astimezone(UTC).isoformat()}|{nobody}"},
        "force": {
            "when": "force",
            "force_day": site.day.isoformat(),
            "force_time": "14:00",
            "force_staff": nobody,
        },
    }

    statuses = {
        name: admin.post(f"/admin/bookings/{ref}/reschedule", data={**data, "csrf": csrf}).status_code
        for name, data in tries.items()
    }

    assert statuses == dict.fromkeys(tries, 400)
    assert site.booking(ref) == before


# --- API keys ---------------------------------------------------------------------

NEW_KEY = re.compile(r'<code class="new-key" id="new-key">(mf_[^<]+)</code>')


def test_an_admin_creates_uses_and_revokes_a_key(site: Admin) -> None:
    """/admin/api-keys: a key shown once, stored hashed, good on the API until revoked."""
    browser = site.sign_in(ADMIN)
    page = browser.get("/admin/api-keys", headers=HTML)
    assert page.status_code == 200 and "No keys yet." in page.text
    created = browser.post(
        "/admin/api-keys", data={"csrf": csrf_of(page, "/admin/api-keys"), "label": "site"}
    )
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    found = NEW_KEY.search(created.text)
    assert found is not None
    key = found.group(1)
    with site.db() as session:
        row = session.exec(select(ApiKey)).one()
        assert row.key_hash == hash_token(key) and key not in (row.prefix, row.label)
        assert row.created_by == ADMIN and row.label == "site"
    api = site.browser()
    assert api.get("/api/v1/services", headers={"Authorization": f"Bearer {key}"}).status_code == 200

    again = browser.get("/admin/api-keys", headers=HTML)
    assert key not in again.text and f"{row.prefix}…" in again.text, "the key is shown only once"
    revoked = browser.post(
        f"/admin/api-keys/{row.id}/revoke", data={"csrf": csrf_of(again, f"/admin/api-keys/{row.id}/revoke")}
    )
    assert revoked.status_code == 303
    assert api.get("/api/v1/services", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    assert "revoked" in browser.get("/admin/api-keys", headers=HTML).text


def test_revoking_an_id_beyond_any_row_is_404_and_revokes_nothing(site: Admin) -> None:
    """A key id too large for an INTEGER column names no key: 404, not a server error."""
    row_id = create_api_key(site.app.engine, "contoso", label="site", actor=TEST, now=site.now)[0].id
    browser = site.sign_in(ADMIN)
    page = browser.get("/admin/api-keys", headers=HTML)
    csrf = csrf_of(page, f"/admin/api-keys/{row_id}/revoke")  # one token for every revoke form

    response = browser.post("/admin/api-keys/99999999999/revoke", data={"csrf": csrf})

    assert response.status_code == 404 and "There is no such key." in response.text
    with site.db() as session:
        assert session.exec(select(ApiKey)).one().revoked_at is None


def test_staff_csrf_and_bad_labels_are_refused(site: Admin) -> None:
    admin = site.sign_in(ADMIN)
    page = admin.get("/admin/api-keys", headers=HTML)
    assert admin.post("/admin/api-keys", data={"label": "x"}).status_code == 403  # no CSRF token
    long_label = admin.post(
        "/admin/api-keys", data={"csrf": csrf_of(page, "/admin/api-keys"), "label": "x" * 201}
    )
    assert long_label.status_code == 400 and "200 characters" in long_label.text
    assert admin.post(
        "/admin/api-keys/999/revoke", data={"csrf": csrf_of(page, "/admin/api-keys")}
    ).status_code in (403, 404)
    staff = site.sign_in(BOB)
    assert staff.get("/admin/api-keys", headers=HTML).status_code == 403
    assert site.browser().get("/admin/api-keys", headers=HTML).status_code == 303  # to the sign-in page
    with site.db() as session:
        assert session.exec(select(ApiKey)).first() is None
