"""The template editor (``/admin/templates``) through FastAPI's TestClient on SQLite and PostgreSQL.

Admins list, preview, save, diff, roll back and reset templates and send
themselves a test email; invalid drafts are refused with line numbers and
lose nothing; staff get 403, strangers the sign-in redirect or 401, a POST
without its CSRF token 403. Template edits change the next email and none
already queued.
"""

from __future__ import annotations

import email
import email.policy
import html as htmllib
import mailbox
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import Session, col, select

from mailflow import services
from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.bootstrap import App, build
from mailflow.config import load_settings
from mailflow.demo import seed_demo
from mailflow.outbound import template_store
from mailflow.outbound.samples import KINDS, MANAGE_PATH
from mailflow.outbound.templates import default_source
from mailflow.outbound.transports import MemoryTransport
from mailflow.runtime import run_once
from mailflow.services import accounts, sessions
from mailflow.store.engine import read_session, write_session
from mailflow.store.tables import Booking, OutboxMessage
from mailflow.web.admin import ADMIN_COOKIE
from mailflow.web.app import create_web_app
from tests.conftest import berlin, html_as_read

ADMIN = "editor@contoso.example"
STAFF = "bob@contoso.example"
PASSWORD = "a long passphrase"
EDITOR_CSRF = re.compile(r'<form id="tpl-form"[^>]*>\s*<input type="hidden" name="csrf" value="([^"]+)"')
HTML = {"accept": "text/html"}
CONFIRMATION_DE = "/admin/templates/confirmation/de"
GREETING_DE = "Wir freuen uns auf Ihren Besuch!"


def editor_csrf(page: str) -> str:
    """The CSRF value of the editor's form (the page's first form is the sign-out one)."""
    found = EDITOR_CSRF.search(page)
    assert found is not None, "the page has no editor form"
    return found.group(1)


def broken(source_mjml: str) -> str:
    """``source_mjml`` with an unknown MJML tag on line 27 and an unclosed Jinja tag on line 28."""
    lines = source_mjml.splitlines()
    lines[26] = "          <mj-textt>Tippfehler</mj-textt>"
    lines[27] = "          <mj-text>Hallo {{ recipient.name </mj-text>"
    return "\n".join(lines) + "\n"


@dataclass
class Editor:
    """The wired app, a browser signed in as an admin, and helpers to read its database."""

    app: App
    client: TestClient
    business_id: int
    now: datetime
    day: date

    def csrf(self, path: str = CONFIRMATION_DE) -> str:
        page = self.client.get(path, headers=HTML)
        assert page.status_code == 200, page.text
        return editor_csrf(page.text)

    def draft(self, kind: str = "confirmation", locale: str = "de", **changes: str) -> dict[str, str]:
        """The form fields of the shipped default of ``kind``/``locale``, with ``changes``."""
        source = default_source(kind, locale)
        fields = {"subject": source.subject, "mjml": source.mjml, "text": source.text or ""}
        return {**fields, **changes}

    def post(self, path: str, data: dict[str, Any], csrf: str | None = "fetch") -> Response:
        if csrf == "fetch":
            csrf = self.csrf()
        return self.client.post(path, data={**data, **({"csrf": csrf} if csrf else {})})

    def versions(self, kind: str = "confirmation", locale: str = "de") -> list[template_store.VersionInfo]:
        with read_session(self.app.engine) as session:
            return template_store.history(session, self.business_id, kind, locale)

    def in_force(self, kind: str = "confirmation", locale: str = "de") -> Any:
        with read_session(self.app.engine) as session:
            return template_store.effective_source(session, self.business_id, kind, locale)

    def outbox(self) -> list[OutboxMessage]:
        with Session(self.app.engine) as session:
            return list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all())

    def book(self, customer: str, hour: int) -> str:
        view = services.create_booking(
            self.app.engine,
            business="contoso",
            service="haircut",
            staff=STAFF,
            customer=services.CustomerInput(email=customer, name="Anna Schmidt", locale="de"),
            start=berlin(self.day, hour),
            origin=Origin.STAFF,
            actor=Actor(ActorKind.STAFF, ADMIN),
            now=self.now,
            public_url=self.app.settings.public_url,
            **self.app.booking_kwargs(),
        )
        return view.ref


def sign_in(app: App, address: str, role: str, now: datetime) -> str:
    """A session token for a new member ``address`` (the sign-in page is not needed for that)."""
    name = address.split("@")[0].title()
    test = Actor(ActorKind.STAFF, "test")
    accounts.create_user(
        app.engine,
        "contoso",
        address,
        role=role,
        name=name,
        password=PASSWORD,
        reset=True,
        actor=test,
        now=now,
    )
    token = sessions.sign_in(app.engine, address, PASSWORD, now=now)
    assert token is not None
    return token


def browser(app: App, token: str | None) -> TestClient:
    client = TestClient(create_web_app(app.web), follow_redirects=False)
    if token is not None:
        client.cookies.set(ADMIN_COOKIE, token)
    return client


@pytest.fixture
def make_editor(db_url: str, tmp_path: Path, now: datetime, next_tuesday: date) -> Iterator[Any]:
    built: list[App] = []

    def make(outbound: str | None = None) -> Editor:
        settings = load_settings(
            {
                "MAILFLOW_DATABASE_URL": db_url,
                "MAILFLOW_OUTBOUND_URL": outbound or f"memory://tpl-{uuid.uuid4().hex}",
                "MAILFLOW_DATA_DIR": str(tmp_path),
                "MAILFLOW_PUBLIC_URL": "http://testserver",
                "MAILFLOW_DEV_MAIL": "1",
            }
        )
        app = build(settings)
        built.append(app)
        seed_demo(app.engine, now)
        token = sign_in(app, ADMIN, "admin", now)
        who = sessions.signed_in(app.engine, token, now)
        assert who is not None
        return Editor(app, browser(app, token), who.business_id, now, next_tuesday)

    yield make
    for app in built:
        app.close()


@pytest.fixture
def editor(make_editor: Any) -> Editor:
    return make_editor()


# --- the list ------------------------------------------------------------------------


def cell(page: str, kind: str, locale: str) -> str:
    found = re.search(rf'data-kind="{kind}" data-locale="{locale}"[^>]*>\s*<a[^>]*>([^<]*)</a>', page)
    assert found is not None, f"no cell for {kind}/{locale}"
    return found.group(1)


def test_list_shows_every_kind_and_locale_with_its_state(editor: Editor) -> None:
    """Each kind × locale is listed: default, or the version in force, or default with versions kept."""
    page = editor.client.get("/admin/templates", headers=HTML)
    assert page.status_code == 200
    assert {cell(page.text, kind, locale) for kind in KINDS for locale in ("en", "de")} == {"default"}

    assert (
        editor.post(CONFIRMATION_DE, editor.draft(subject="Bestätigt: {{ booking.date }}")).status_code == 303
    )
    page = editor.client.get("/admin/templates", headers=HTML).text
    assert cell(page, "confirmation", "de") == "edited, version 1"
    assert cell(page, "confirmation", "en") == "default"
    assert cell(page, "booking_created", "de") == "default"

    assert editor.post(f"{CONFIRMATION_DE}/reset", {}).status_code == 303
    page = editor.client.get("/admin/templates", headers=HTML).text
    assert cell(page, "confirmation", "de") == "default (1 saved version kept)"


# --- live preview --------------------------------------------------------------------


def test_preview_renders_a_valid_draft_with_and_without_the_manage_button(editor: Editor) -> None:
    """The JSON preview renders the draft (not what is saved) with each variant's sample data."""
    draft = editor.draft(mjml=editor.draft()["mjml"].replace(GREETING_DE, "Bis bald im Salon!"))
    manage = editor.post(f"{CONFIRMATION_DE}/preview", {**draft, "variant": "manage"}).json()
    no_manage = editor.post(f"{CONFIRMATION_DE}/preview", {**draft, "variant": "no-manage"}).json()

    assert manage["ok"] and manage["errors"] == []
    assert manage["subject"] == "Bestätigt: Haircut, Di., 3. März, 10:00 Uhr · Contoso Salon"
    assert "Bis bald im Salon!" in manage["html"] and GREETING_DE not in manage["html"]
    assert MANAGE_PATH in manage["html"] and MANAGE_PATH in manage["text"]
    assert no_manage["ok"] and f"{MANAGE_PATH}?lang=" not in no_manage["html"]  # .ics link only
    assert "+49 30 1234567" in no_manage["html"]  # the change instructions instead
    assert editor.versions() == []  # previewing saves nothing


def test_preview_reports_problems_with_their_lines(editor: Editor) -> None:
    """A broken draft gives no HTML but each problem with its part and line."""
    draft = editor.draft(mjml=broken(editor.draft()["mjml"]), subject="Termin {% if %}")
    result = editor.post(f"{CONFIRMATION_DE}/preview", draft).json()

    assert result["ok"] is False and result["html"] is None
    found = {(e["part"], e["line"]) for e in result["errors"]}
    assert ("subject", 1) in found
    assert ("body", 28) in found  # the unclosed {{
    assert any("Jinja syntax" in e["message"] for e in result["errors"])


def test_preview_page_for_the_iframe_has_its_own_policy(editor: Editor) -> None:
    """The editor may frame only this site; the preview page may be framed only here, scripts off."""
    page = editor.client.get(CONFIRMATION_DE, headers=HTML)
    assert "frame-src 'self'" in page.headers["content-security-policy"]
    assert "connect-src 'self'" in page.headers["content-security-policy"]  # the JSON preview
    assert "script-src 'self'" in page.headers["content-security-policy"]
    frame = re.search(r"<iframe[^>]*>", page.text)
    assert frame is not None and 'sandbox=""' in frame.group(0)
    assert '<script src="/static/admin-templates.js"' in page.text

    shown = editor.client.get(f"{CONFIRMATION_DE}/preview.html?variant=no-manage")
    assert shown.status_code == 200 and GREETING_DE in shown.text and f"{MANAGE_PATH}?lang=" not in shown.text
    assert "frame-ancestors 'self'" in shown.headers["content-security-policy"]
    assert "script-src" not in shown.headers["content-security-policy"]  # default-src 'none'
    assert shown.headers["x-frame-options"] == "SAMEORIGIN"

    draft = editor.draft(mjml=editor.draft()["mjml"].replace(GREETING_DE, "Entwurf!"))
    posted = editor.post(f"{CONFIRMATION_DE}/preview.html", draft)
    assert posted.status_code == 200 and "Entwurf!" in posted.text


# --- saving ----------------------------------------------------------------------------


def test_an_invalid_draft_is_not_saved_and_comes_back_in_the_form(editor: Editor) -> None:
    """Saving a broken draft answers 422 with the problems by line; the draft stays, nothing is stored."""
    draft = editor.draft(mjml=broken(editor.draft()["mjml"]), note="kaputt")
    page = editor.post(CONFIRMATION_DE, draft)

    assert page.status_code == 422
    assert "Line 27: unknown MJML tag &lt;mj-textt&gt;" in page.text
    assert "Line 28: Jinja syntax" in page.text
    assert htmllib.escape("<mj-textt>Tippfehler</mj-textt>", quote=False) in page.text  # the draft kept
    assert 'value="kaputt"' in page.text
    assert editor.versions() == [] and editor.in_force().version is None


def test_saving_creates_a_version_with_author_and_note(editor: Editor) -> None:
    """A valid draft becomes version 1 (browser CRLF line endings made plain), by whom, with the note."""
    mjml = editor.draft()["mjml"].replace(GREETING_DE, "Bis bald!").replace("\n", "\r\n")
    saved = editor.post(CONFIRMATION_DE, editor.draft(mjml=mjml, text="", note="  kürzer  "))

    assert saved.status_code == 303 and saved.headers["location"] == f"{CONFIRMATION_DE}?saved=1"
    [version] = editor.versions()
    assert (version.version, version.created_by, version.note, version.current) == (1, ADMIN, "kürzer", True)
    source = editor.in_force()
    assert source.version == 1 and "\r" not in source.mjml and "Bis bald!" in source.mjml
    assert source.text is None  # an empty text body: made from the HTML
    page = editor.client.get(saved.headers["location"], headers=HTML).text
    assert "Saved as version 1." in page and "version 1" in page


def test_saving_the_text_in_force_unchanged_stores_nothing(editor: Editor) -> None:
    """Save without a change makes no empty version."""
    page = editor.post(CONFIRMATION_DE, editor.draft())
    assert page.status_code == 200 and "Nothing changed" in page.text
    assert editor.versions() == []


def test_history_shows_each_versions_diff_escaped(editor: Editor) -> None:
    """Version 1 is diffed against the default, version 2 against version 1; markup is shown, not run."""
    first = editor.draft()["mjml"].replace(GREETING_DE, "Bis bald!")
    second = first.replace("Bis bald!", "Bis bald! <b>Parken & Anfahrt</b>")
    assert editor.post(CONFIRMATION_DE, editor.draft(mjml=first, note="eins")).status_code == 303
    assert editor.post(CONFIRMATION_DE, editor.draft(mjml=second, note="zwei")).status_code == 303

    page = editor.client.get(f"{CONFIRMATION_DE}/history", headers=HTML)
    assert page.status_code == 200
    html = page.text
    version_2, version_1 = html.split('id="v2"')[1].split('id="v1"')
    assert "Changes from version 1" in version_2 and "zwei" in version_2
    assert "+" in version_2 and "&lt;b&gt;Parken &amp; Anfahrt&lt;/b&gt;" in version_2
    assert "<b>Parken" not in html
    assert "Changes from the shipped default" in version_1 and "eins" in version_1
    assert htmllib.escape(GREETING_DE) in version_1 and ADMIN in version_1
    removed = re.findall(r'<span class="tpl-del">([^<]*)</span>', version_1)
    assert any(GREETING_DE in line and line.startswith("-") for line in removed)


def test_rollback_and_reset(editor: Editor) -> None:
    """Rollback puts an earlier version back in force; reset the default; versions stay."""
    first = editor.draft(subject="Erste: {{ booking.date }}")
    second = editor.draft(subject="Zweite: {{ booking.date }}")
    editor.post(CONFIRMATION_DE, first)
    editor.post(CONFIRMATION_DE, second)
    assert editor.in_force().version == 2

    back = editor.post(f"{CONFIRMATION_DE}/rollback", {"version": "1"})
    assert back.status_code == 303 and back.headers["location"] == f"{CONFIRMATION_DE}?rolled_back=1"
    assert editor.in_force().subject == "Erste: {{ booking.date }}"
    assert [v.current for v in editor.versions()] == [True, False]
    assert editor.post(f"{CONFIRMATION_DE}/rollback", {"version": "7"}).status_code == 404
    for beyond in ("99999999999", "0", "-1"):  # no INTEGER column holds the first: not found, not a 500
        assert editor.post(f"{CONFIRMATION_DE}/rollback", {"version": beyond}).status_code == 404

    reset = editor.post(f"{CONFIRMATION_DE}/reset", {})
    assert reset.status_code == 303 and editor.in_force().version is None
    assert len(editor.versions()) == 2
    page = editor.client.get(f"{CONFIRMATION_DE}/history", headers=HTML).text
    assert "In force: <strong>the shipped default</strong>" in page


def test_unknown_kind_or_locale_is_404(editor: Editor) -> None:
    assert editor.client.get("/admin/templates/invoice/de", headers=HTML).status_code == 404
    assert editor.client.get("/admin/templates/confirmation/xx", headers=HTML).status_code == 404


# --- test email ------------------------------------------------------------------------


def test_test_email_reaches_the_members_own_address_through_the_outbox(
    make_editor: Any, tmp_path: Path
) -> None:
    """The draft, with the chosen sample data, is queued to the signed-in admin and lands in the maildir."""
    editor = make_editor(outbound=f"maildir://{tmp_path / 'outbox'}")
    draft = editor.draft(mjml=editor.draft()["mjml"].replace(GREETING_DE, "Testlauf!"))
    page = editor.post(f"{CONFIRMATION_DE}/test-email", {**draft, "variant": "no-manage"})

    assert page.status_code == 200 and f"queued to {ADMIN}" in page.text
    assert "Testlauf!" in page.text  # the draft stays in the form
    [row] = editor.outbox()
    assert (row.recipient, row.kind, row.booking_id, row.status) == (ADMIN, "confirmation", None, "queued")
    assert editor.versions() == []  # sending a test saves nothing

    report = run_once(editor.app, datetime.now(UTC))  # queued at the real time
    assert report.dispatch.sent == 1
    box = mailbox.Maildir(tmp_path / "outbox", factory=None, create=False)
    [raw] = [box.get_bytes(key) for key in box.iterkeys()]
    sent = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(sent, EmailMessage)
    assert ADMIN in str(sent["To"]) and str(sent["Subject"]).startswith("[Test] Bestätigt: ")
    body = sent.get_body(("html",))
    assert body is not None and "Testlauf!" in body.get_content()
    assert f"{MANAGE_PATH}?lang=" not in body.get_content()  # the no-manage sample: its .ics link only
    listing = editor.client.get("/dev/mail").text
    assert "[Test] Bestätigt: " in listing and ADMIN in listing


def test_an_invalid_draft_sends_no_test_email(editor: Editor) -> None:
    page = editor.post(f"{CONFIRMATION_DE}/test-email", editor.draft(mjml=broken(editor.draft()["mjml"])))
    assert page.status_code == 422 and "Line 27" in page.text
    assert editor.outbox() == []


# --- who may do what --------------------------------------------------------------------


PAGES = ["/admin/templates", CONFIRMATION_DE, f"{CONFIRMATION_DE}/history", f"{CONFIRMATION_DE}/preview.html"]
POSTS = [
    CONFIRMATION_DE,
    f"{CONFIRMATION_DE}/preview",
    f"{CONFIRMATION_DE}/preview.html",
    f"{CONFIRMATION_DE}/test-email",
    f"{CONFIRMATION_DE}/rollback",
    f"{CONFIRMATION_DE}/reset",
]


def test_staff_who_are_not_admins_get_403(editor: Editor) -> None:
    """Bob (staff) is signed in but may neither see nor change templates."""
    staff = browser(editor.app, sign_in(editor.app, STAFF, "staff", editor.now))
    for path in PAGES:
        assert staff.get(path, headers=HTML).status_code == 403, path
    csrf = editor.csrf()
    staff.cookies.set("mf_session", editor.client.cookies["mf_session"])  # even with a valid token
    for path in POSTS:
        answer = staff.post(path, data={**editor.draft(), "version": "1", "csrf": csrf})
        assert answer.status_code == 403, path
    assert editor.versions() == [] and editor.outbox() == []


def test_visitors_who_are_not_signed_in_are_sent_to_sign_in_or_get_401(editor: Editor) -> None:
    """Pages redirect to the sign-in page with the way back; everything else answers 401."""
    csrf = editor.csrf()
    stranger = browser(editor.app, None)
    for path in PAGES:
        page = stranger.get(path, headers=HTML)
        assert page.status_code == 303 and page.headers["location"].startswith("/admin/sign-in?next=%2Fadmin")
        assert stranger.get(path, headers={"accept": "application/json"}).status_code == 401
    # A valid token (admin tokens are bound to the sign-in cookie) in a browser whose session ended.
    stranger.cookies.set("mf_session", editor.client.cookies["mf_session"])
    stranger.cookies.set("mf_admin", editor.client.cookies["mf_admin"])
    sessions.end_session(editor.app.engine, editor.client.cookies["mf_admin"])
    for path in POSTS:
        assert stranger.post(path, data={**editor.draft(), "version": "1", "csrf": csrf}).status_code == 401
    assert editor.versions() == [] and editor.outbox() == []


def test_posts_without_a_valid_csrf_token_get_403(editor: Editor) -> None:
    """Missing, wrong, or another session's token: 403 and nothing changes, signed in or not."""
    editor.post(CONFIRMATION_DE, editor.draft(subject="Erste: {{ booking.date }}"))
    other = browser(editor.app, sign_in(editor.app, "second@contoso.example", "admin", editor.now))
    foreign = editor_csrf(other.get(CONFIRMATION_DE, headers=HTML).text)
    for path in POSTS:
        for token in (None, "0" * 64, foreign):
            data = {**editor.draft(subject="Zweite: {{ booking.date }}"), "version": "1"}
            assert editor.post(path, data, csrf=token).status_code == 403, (path, token)
        assert browser(editor.app, None).post(path, data={"version": "1"}).status_code == 403
    assert len(editor.versions()) == 1 and editor.in_force().version == 1
    assert editor.outbox() == []


# --- edits and the outbox ---------------------------------------------------------------


def test_an_edit_changes_the_next_email_and_none_already_queued(editor: Editor) -> None:
    """Emails are rendered when queued: the confirmation waiting in the outbox keeps the old text."""
    before = editor.book("anna@example.com", 10)
    mjml = editor.draft()["mjml"].replace(GREETING_DE, "NEUER TEXT nach der Änderung.")
    assert editor.post(CONFIRMATION_DE, editor.draft(mjml=mjml)).status_code == 303
    after = editor.book("berta@example.com", 12)

    def confirmation(ref: str) -> str:
        rows = [row for row in editor.outbox() if row.kind == "confirmation"]
        with Session(editor.app.engine) as session:
            ids = {b.id: b.ref for b in session.exec(select(Booking)).all()}
        [row] = [row for row in rows if ids[row.booking_id] == ref]
        message = email.message_from_bytes(row.payload or b"", policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        part = message.get_body(("html",))
        assert part is not None
        return html_as_read(part)

    assert "NEUER TEXT" not in confirmation(before) and GREETING_DE in confirmation(before)
    assert "NEUER TEXT" in confirmation(after) and GREETING_DE not in confirmation(after)

    # Resetting does not touch what is queued either, and what is sent is what was queued.
    editor.post(f"{CONFIRMATION_DE}/reset", {})
    run_once(editor.app, editor.now)
    transport = editor.app.transport
    assert isinstance(transport, MemoryTransport)
    sent = {m.recipient: m.data for m in transport.sent}
    assert b"NEUER TEXT" not in sent["anna@example.com"]
    assert b"NEUER TEXT" in sent["berta@example.com"]


def test_a_version_saved_meanwhile_is_not_overwritten_unseen(editor: Editor) -> None:
    """The form remembers what was in force when editing began; if that changed, the draft comes back."""
    page = editor.client.get(CONFIRMATION_DE, headers=HTML).text
    base = re.search(r'name="base" value="([0-9a-f]{64})"', page)
    assert base is not None
    with write_session(editor.app.engine) as session:  # another admin saves in the meantime
        meanwhile = default_source("confirmation", "de")
        template_store.save_version(
            session,
            editor.business_id,
            type(meanwhile)(
                "confirmation", "de", "Andere: {{ booking.date }}", meanwhile.mjml, meanwhile.text
            ),
            author="other@contoso.example",
            now=editor.now,
        )
    draft = editor.draft(subject="Meine: {{ booking.date }}", base=base.group(1))

    refused = editor.post(CONFIRMATION_DE, draft)
    assert refused.status_code == 409 and "came into force while you were editing" in refused.text
    assert 'value="Meine: {{ booking.date }}"' in refused.text
    assert [v.created_by for v in editor.versions()] == ["other@contoso.example"]

    again = re.search(r'name="base" value="([0-9a-f]{64})"', refused.text)
    assert again is not None and again.group(1) != base.group(1)
    assert editor.post(CONFIRMATION_DE, {**draft, "base": again.group(1)}).status_code == 303
    assert editor.in_force().subject == "Meine: {{ booking.date }}"


def test_every_kind_has_a_description_in_the_list() -> None:
    from mailflow.web.admin.templates_editor import DESCRIPTIONS

    assert set(DESCRIPTIONS) == set(KINDS)
