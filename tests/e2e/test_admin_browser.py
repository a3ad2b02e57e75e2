"""The admin side in a real browser, against the live ``mailflow serve --demo``.

The demo admin signs in, flips the Manage setting of ``haircut``, books a
haircut on a customer's behalf in the admin calendar, and reads the emails in
``/dev/mail``: the confirmation has no Manage button while the setting is off;
after switching it on, the reminder (made due with ``mailflow run-once --now``
against the server's database) has one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update
from sqlmodel import col

from mailflow.store.engine import make_engine
from mailflow.store.tables import Service
from mailflow.web.admin.settings import MANAGE_LABEL
from tests.conftest import BERLIN, berlin
from tests.e2e.conftest import LiveServer, manage_links
from tests.e2e.test_browser import UNLABELLED_CONTROLS

ADMIN = "admin@contoso.example"
BOB = "bob@contoso.example"
BOOKING_PAGE = re.compile(r"/admin/bookings/(BK-[A-Z0-9]+)\?done=created$")


def soon_weekday_at_four() -> datetime:
    """16:00 Berlin on the first weekday more than 25 hours ahead: its 24 h reminder is still to come."""
    day = datetime.now(UTC).astimezone(BERLIN).date()
    while day.weekday() >= 5 or berlin(day, 16) - datetime.now(UTC) < timedelta(hours=25):
        day += timedelta(days=1)
    return berlin(day, 16)


def set_haircut_manageable(live_server: LiveServer, value: bool) -> None:
    """Set the demo haircut's setting straight in the server's database (only to clean up)."""
    engine = make_engine(f"sqlite:///{live_server.data_dir / 'mailflow.db'}")
    try:
        with engine.begin() as connection:
            connection.execute(
                update(Service).where(col(Service.slug) == "haircut").values(customer_can_manage=value)
            )
    finally:
        engine.dispose()


@pytest.fixture
def haircut_restored(live_server: LiveServer) -> Iterator[None]:
    """Other browser tests expect the demo haircut with the setting off: put it back whatever happens."""
    yield
    set_haircut_manageable(live_server, False)


def sign_in_as_demo_admin(live_server: LiveServer, page: Page, path: str) -> None:
    """Give the demo admin a known password (the one printed at start-up is not ours to read) and sign in."""
    password = live_server.cli("admin", "create-user", ADMIN, "--reset")["password"]
    page.goto(path)
    expect(page).to_have_url(re.compile(r"/admin/sign-in\?next="))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Email address").fill(ADMIN)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))


def save_haircut_setting(page: Page, on: bool) -> None:
    page.goto("/admin/services")
    section = page.locator("#service-haircut")
    toggle = section.get_by_label(MANAGE_LABEL)
    if on:
        toggle.check()
    else:
        toggle.uncheck()
    section.get_by_role("button", name="Save Haircut").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    saved = page.locator("#service-haircut").get_by_label(MANAGE_LABEL)
    if on:
        expect(saved).to_be_checked()
    else:
        expect(saved).not_to_be_checked()


def open_in_dev_mail(page: Page, ref: str, kind: str, customer: str) -> None:
    page.goto("/dev/mail")
    row = (
        page.locator("tr")
        .filter(has_text=ref)
        .filter(has_text=customer)
        .filter(has=page.locator("td", has_text=re.compile(f"^{kind}$")))
    )
    expect(row).to_have_count(1)
    row.get_by_role("link").click()


def test_staff_booking_follows_the_manage_setting_in_confirmation_and_reminder(
    live_server: LiveServer, page: Page, haircut_restored: None
) -> None:
    """Setting off: the staff-made haircut's confirmation has no Manage button; on: its reminder has one."""
    sign_in_as_demo_admin(live_server, page, "/admin/services")
    assert page.evaluate(UNLABELLED_CONTROLS) == []
    haircut = page.locator("#service-haircut")
    expect(haircut.get_by_label(MANAGE_LABEL)).not_to_be_checked()
    expect(haircut).to_contain_text("no Manage button")
    save_haircut_setting(page, on=True)  # the toggle works both ways
    save_haircut_setting(page, on=False)

    start = soon_weekday_at_four()
    day: date = start.date()
    customer = f"lin-{uuid.uuid4().hex[:8]}@example.com"
    page.goto("/admin/bookings")
    page.get_by_role("link", name="New booking for a customer").click()
    page.locator("#find-service").select_option("haircut")
    page.locator("#find-staff").select_option(BOB)
    page.locator("#find-day").fill(day.isoformat())
    page.get_by_role("button", name="Show free times").click()
    page.get_by_label("16:00 · Bob Berger").check()
    page.get_by_label("Email address").fill(customer)
    page.get_by_label("Name", exact=True).fill("Lin Wu")
    assert page.evaluate(UNLABELLED_CONTROLS) == []
    page.get_by_role("button", name="Book", exact=True).click()
    expect(page).to_have_url(BOOKING_PAGE)
    found = BOOKING_PAGE.search(page.url)
    assert found is not None
    ref = found.group(1)
    expect(page.get_by_role("status")).to_contain_text("Booked.")
    expect(page.locator(".details")).to_contain_text("staff, on the customer's behalf")

    confirmation = live_server.wait_for_email(kind="confirmation", booking=ref, to=customer)
    assert manage_links(confirmation) == []
    open_in_dev_mail(page, ref, "confirmation", customer)
    expect(page.get_by_text("Lin Wu", exact=False).first).to_be_visible()
    expect(page.get_by_role("link", name="Manage booking")).to_have_count(0)
    expect(page.locator("body")).to_contain_text("+49 30 1234567")  # the change instructions instead

    page.goto("/admin/services")
    save_haircut_setting(page, on=True)
    report = live_server.cli("run-once", "--now", (start - timedelta(hours=24, minutes=-1)).isoformat())
    assert report["reminders_queued"] >= 1

    reminder = live_server.wait_for_email(kind="reminder", booking=ref, to=customer)
    assert manage_links(reminder), "the reminder has no Manage link"
    open_in_dev_mail(page, ref, "reminder", customer)
    button = page.get_by_role("link", name="Manage booking")
    expect(button).to_have_count(1)
    page.goto(str(button.get_attribute("href")))
    expect(page.get_by_role("link", name="Reschedule")).to_be_visible()

    page.goto(f"/admin/bookings/{ref}")
    emails = page.locator("table").filter(has_text="Attempts")
    expect(emails).to_contain_text("reminder")
    expect(emails).to_contain_text(customer)
