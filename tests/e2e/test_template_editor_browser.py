"""The template editor in a real browser: a broken draft is caught as one types, a fixed one previews,
saves, reaches the next real email, and rolls back.

Runs against the live ``mailflow serve --demo``. The sign-in page is not
needed: a new admin is created and signed in directly in the server's
database, and the session cookie is handed to the browser.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from mailflow.booking.model import Actor, ActorKind
from mailflow.outbound.templates import default_source
from mailflow.services import accounts, sessions, templates
from mailflow.store.engine import make_engine
from mailflow.web.admin import ADMIN_COOKIE
from tests.conftest import BERLIN, berlin, next_weekday
from tests.e2e.conftest import LiveServer, html_of

EDITOR = "/admin/templates/confirmation/de"
GREETING = "Wir freuen uns auf Ihren Besuch!"
FIXED = "Bis bald im Salon Contoso!"
SECOND = "Bis bald, Ihr Team vom Salon Contoso!"
PASSWORD = "a long passphrase"


@pytest.fixture
def signed_in_admin(live_server: LiveServer, page: Page) -> Iterator[str]:
    """A fresh admin of the demo business, signed in in ``page``'s browser; the template is reset after."""
    engine = make_engine(f"sqlite:///{live_server.data_dir / 'mailflow.db'}")
    address = f"editor-{uuid.uuid4().hex[:8]}@contoso.example"
    test = Actor(ActorKind.STAFF, "test")
    accounts.create_user(
        engine,
        "contoso",
        address,
        role="admin",
        name="Erika Editor",
        password=PASSWORD,
        actor=test,
        now=datetime.now(UTC),
    )
    token = sessions.sign_in(engine, address, PASSWORD, now=datetime.now(UTC))
    assert token is not None
    page.context.add_cookies([{"name": ADMIN_COOKIE, "value": token, "url": live_server.base_url}])
    try:
        yield address
    finally:  # other browser tests read German confirmations: leave the default in force
        who = sessions.signed_in(engine, token, datetime.now(UTC))
        assert who is not None
        templates.reset_template(
            engine, who.business_id, "confirmation", "de", actor=test, now=datetime.now(UTC)
        )
        engine.dispose()


def with_line(mjml: str, number: int, replacement: str) -> str:
    lines = mjml.splitlines()
    lines[number - 1] = replacement
    return "\n".join(lines) + "\n"


def test_admin_edits_the_german_confirmation_with_live_preview_saves_and_rolls_back(
    live_server: LiveServer, page: Page, signed_in_admin: str
) -> None:
    """Error inline and Save blocked; fixed: preview follows; saved: the next email uses it; roll back."""
    csp_violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            csp_violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    default = default_source("confirmation", "de")
    greeting_line = next(n for n, line in enumerate(default.mjml.splitlines(), 1) if GREETING in line)

    page.goto(EDITOR)
    expect(page.get_by_role("heading", name=re.compile("Edit confirmation"))).to_be_visible()
    frame = page.frame_locator("#tpl-frame")
    expect(frame.locator("body")).to_contain_text(GREETING)
    expect(frame.get_by_text("Termin verwalten")).to_be_visible()  # the manage sample by default
    expect(page.locator("#tpl-preview-subject")).to_have_text(
        "Bestätigt: Haircut, Di., 3. März, 10:00 Uhr · Contoso Salon"
    )
    save = page.get_by_role("button", name="Save as new version")
    expect(save).to_be_enabled()

    # A deliberate error: an unclosed Jinja expression on the greeting's line.
    body = page.get_by_label("Body (MJML with Jinja)")
    broken_line = "          <mj-text>Hallo {{ recipient.name </mj-text>"
    body.fill(with_line(default.mjml, greeting_line, broken_line))
    errors = page.locator("#tpl-body-errors")
    expect(errors).to_contain_text(f"Line {greeting_line}: Jinja syntax")
    expect(page.locator("#tpl-problems")).to_be_visible()
    expect(save).to_be_disabled()
    expect(page.get_by_role("button", name="Send a test email to me")).to_be_disabled()

    # Fixed: the problems go, and the preview (HTML, subject) follows the draft.
    fixed_line = f"          <mj-text>Hallo {{{{ recipient.name }}}},<br />{FIXED}</mj-text>"
    body.fill(with_line(default.mjml, greeting_line, fixed_line))
    page.get_by_label("Subject").fill("Bestätigt: {{ booking.service_name }} am {{ booking.date }}")
    expect(errors).to_be_empty()
    expect(page.locator("#tpl-problems")).to_be_hidden()
    expect(save).to_be_enabled()
    expect(frame.locator("body")).to_contain_text(FIXED)
    expect(frame.locator("body")).not_to_contain_text(GREETING)
    # Only the HTML differs from the shipped template: the text part follows it, and the editor says so.
    expect(page.locator("#tpl-text-rule")).to_contain_text("made from the HTML: only the HTML differs")
    expect(page.locator("#tpl-preview-text")).to_contain_text(FIXED)
    expect(page.locator("#tpl-preview-subject")).to_have_text("Bestätigt: Haircut am Dienstag, 3. März 2026")

    # The sample without the Manage button, and the phone width.
    page.get_by_label("Sample data").select_option("no-manage")
    expect(frame.locator("body")).to_contain_text("Termin ändern oder absagen?")
    expect(frame.get_by_text("Termin verwalten")).to_have_count(0)
    expect(frame.locator("body")).to_contain_text(FIXED)
    page.get_by_label("Phone").check()
    expect(page.locator("#tpl-frame")).to_have_css("width", "375px")

    # Save with a note: version 1, in force at once.
    page.get_by_label(re.compile("Note for the history")).fill("Kürzerer Gruß")
    save.click()
    expect(page).to_have_url(re.compile(r"\?saved=1$"))
    expect(page.get_by_role("status")).to_contain_text("Saved as version 1.")
    expect(page.locator("#tpl-origin")).to_have_text("version 1")

    # The next real German confirmation uses it.
    customer = f"erika-{uuid.uuid4().hex[:8]}@example.com"
    day = next_weekday(datetime.now(UTC).astimezone(BERLIN).date() + timedelta(days=6), 2)
    booking = live_server.create_booking(
        service="consultation", staff="carla@contoso.example", customer_email=customer,
        customer_name="Erika Muster", start=berlin(day, 11).isoformat(), origin="staff", locale="de",
    )  # fmt: skip
    confirmation = live_server.wait_for_email(kind="confirmation", booking=booking["ref"], to=customer)
    assert FIXED in html_of(confirmation) and str(confirmation["Subject"]).startswith("Bestätigt: ")

    # A second version, then roll back to the first from the history.
    body.fill(with_line(default.mjml, greeting_line, f"          <mj-text>{SECOND}</mj-text>"))
    expect(frame.locator("body")).to_contain_text(SECOND)
    save.click()
    expect(page).to_have_url(re.compile(r"\?saved=2$"))
    page.get_by_role("link", name=re.compile("History")).click()
    expect(page.get_by_role("heading", name="Version 2 in force")).to_be_visible()
    first = page.locator("#v1")
    expect(first).to_contain_text("Kürzerer Gruß")
    expect(first).to_contain_text(signed_in_admin)
    first.get_by_text("Changes from the shipped default").click()
    expect(first.locator(".tpl-add").filter(has_text=FIXED)).to_have_count(1)
    expect(first.locator(".tpl-del").filter(has_text=GREETING)).to_have_count(1)
    first.get_by_role("button", name="Roll back to version 1").click()
    expect(page).to_have_url(re.compile(r"\?rolled_back=1$"))
    expect(page.get_by_role("status")).to_contain_text("Version 1 is in force again.")
    expect(page.get_by_label("Body (MJML with Jinja)")).to_have_value(re.compile(re.escape(FIXED)))
    expect(page.frame_locator("#tpl-frame").locator("body")).to_contain_text(FIXED)

    # Reset to the default: the default text is back.
    page.get_by_role("button", name="Reset to the shipped default").click()
    expect(page.get_by_role("status")).to_contain_text("shipped default is in force again")
    expect(page.get_by_label("Body (MJML with Jinja)")).to_have_value(re.compile(re.escape(GREETING)))
    assert csp_violations == []


SIMPLE = "/admin/templates/confirmation/en/simple"
PARKING = "Free parking in the yard behind the salon."


@pytest.fixture
def simple_admin(live_server: LiveServer, browser: Browser) -> Iterator[Page]:
    """A fresh admin signed in in a browser with JavaScript off; the English confirmation is reset after."""
    engine = make_engine(f"sqlite:///{live_server.data_dir / 'mailflow.db'}")
    address = f"simple-{uuid.uuid4().hex[:8]}@contoso.example"
    test = Actor(ActorKind.STAFF, "test")
    accounts.create_user(
        engine, "contoso", address, role="admin", name="Sam Simple", password=PASSWORD, actor=test,
        now=datetime.now(UTC),
    )  # fmt: skip
    token = sessions.sign_in(engine, address, PASSWORD, now=datetime.now(UTC))
    assert token is not None
    context = browser.new_context(base_url=live_server.base_url, java_script_enabled=False, locale="en-GB")
    context.add_cookies([{"name": ADMIN_COOKIE, "value": token, "url": live_server.base_url}])
    try:
        yield context.new_page()
    finally:
        context.close()
        who = sessions.signed_in(engine, token, datetime.now(UTC))
        assert who is not None
        templates.reset_template(
            engine, who.business_id, "confirmation", "en", actor=test, now=datetime.now(UTC)
        )
        engine.dispose()


def test_simple_mode_without_javascript_by_keyboard_reaches_the_next_email(
    live_server: LiveServer, simple_admin: Page
) -> None:
    """Source editor to simple mode, a paragraph added and saved by keyboard: preview and email carry it."""
    page = simple_admin
    page.goto("/admin/templates/confirmation/en")
    page.get_by_role("link", name="Simple", exact=True).click()
    expect(page).to_have_url(re.compile(re.escape(SIMPLE) + "$"))
    paragraphs = page.get_by_label(re.compile("^Paragraphs"))
    expect(paragraphs).to_have_value(re.compile("Thank you for booking"))
    paragraphs.focus()
    page.keyboard.press("Control+End")
    page.keyboard.type(f"\n\n{PARKING}")
    page.get_by_label(re.compile("^Sign-off")).fill("See you soon,\nthe Contoso team")
    page.get_by_role("button", name="Save as new version").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/simple\?saved=1$"))
    expect(page.get_by_role("status")).to_contain_text("Saved as version 1.")
    expect(page.locator("#tpl-origin")).to_have_text("version 1")
    expect(paragraphs).to_have_value(re.compile(re.escape(PARKING)))
    expect(page.frame_locator("#tpl-frame").locator("body")).to_contain_text(PARKING)
    expect(page.locator("#tpl-preview-text")).to_contain_text("the Contoso team")

    customer = f"sam-{uuid.uuid4().hex[:8]}@example.com"
    day = next_weekday(datetime.now(UTC).astimezone(BERLIN).date() + timedelta(days=6), 3)
    booking = live_server.create_booking(
        service="consultation", staff="carla@contoso.example", customer_email=customer,
        customer_name="Sam Muster", start=berlin(day, 11).isoformat(), origin="staff", locale="en",
    )  # fmt: skip
    confirmation = live_server.wait_for_email(kind="confirmation", booking=booking["ref"], to=customer)
    assert PARKING in html_of(confirmation)
    text = confirmation.get_body(("plain",))
    assert text is not None and PARKING in text.get_content()
