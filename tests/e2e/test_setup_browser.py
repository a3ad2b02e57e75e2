"""The first run in a real browser: ``mailflow serve`` on an empty data dir, no demo.

The one-time link the server prints opens the set-up page; the business (en and
de) is created there, then a stylist with a lunch break, a service named
"Haarschnitt" in German, and Bavaria's public holidays of next year, all through
the admin pages. A customer then books on the self-service page, which does not
offer the lunch break, and gets a confirmation naming "Haarschnitt".
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import holidays
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import free_port
from tests.e2e.conftest import UI_TIMEOUT_MS, LiveServer, _wait_healthy, text_of

ADMIN = "owner@studio-nord.example"
PASSWORD = "a long passphrase for the owner"
STYLIST = "sam@studio-nord.example"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
SETUP_LINE = re.compile(r"^set-up: (\S+/admin/setup\?token=\S+)$", re.M)


def bookable_day() -> date:
    """A weekday three or more days ahead that is no public holiday in Bavaria."""
    day = datetime.now(UTC).date() + timedelta(days=3)
    calendar = holidays.country_holidays("DE", subdiv="BY", years=[day.year, day.year + 1])
    while day.weekday() >= 5 or day in calendar:
        day += timedelta(days=1)
    return day


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    """``mailflow serve --roles web,worker`` on an empty data dir, and the set-up link it printed."""
    root = tmp_path_factory.mktemp("first-run")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("MAILFLOW_")}
    env |= {
        "MAILFLOW_DATA_DIR": str(root / "data"),
        "MAILFLOW_WEB_BIND": f"127.0.0.1:{port}",
        "MAILFLOW_PUBLIC_URL": base_url,
    }
    log_path = root / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mailflow", "serve", "--roles", "web,worker"],
            env=env,
            cwd=root,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(base_url, root / "data", env, process, log_path)
    try:
        _wait_healthy(server)
        yield server, setup_link(log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def setup_link(log_path: Path, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = SETUP_LINE.search(log_path.read_text(errors="replace"))
        if found:
            return found.group(1)
        time.sleep(0.1)
    raise AssertionError(f"no set-up line printed:\n{log_path.read_text(errors='replace')[-2000:]}")


@pytest.fixture(scope="module")
def session_page(browser: Browser, first_run: tuple[LiveServer, str]) -> Iterator[Page]:
    """One browser context for the whole module: the admin stays signed in from test to test."""
    server, _link = first_run
    context = browser.new_context(base_url=server.base_url, locale="de-DE", timezone_id="Europe/Berlin")
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def test_first_run_sets_up_business_staff_hours_service_and_holidays(
    first_run: tuple[LiveServer, str], session_page: Page
) -> None:
    """The printed link creates the business, signs the owner in; staff, hours, service, holidays follow."""
    _server, link = first_run
    page = session_page
    page.goto(f"{link}&lang=en")  # the browser asks for German; the owner picks English for the admin
    expect(page.get_by_role("heading", name="Set up your business")).to_be_visible()
    page.locator("#setup-name").fill("Studio Nord")
    page.locator("#setup-slug").fill("studio-nord")
    page.locator("#setup-timezone").fill("Europe/Berlin")
    page.locator("#setup-locale").select_option("en")
    page.locator('input[name="languages"][value="de"]').check()
    page.locator("#setup-phone").fill("+49 40 123456")
    page.locator("#setup-email").fill("hello@studio-nord.example")
    page.locator("#setup-admin-name").fill("Olga Owner")
    page.locator("#setup-admin-email").fill(ADMIN)
    page.locator("#setup-password").fill(PASSWORD)
    page.locator("#setup-confirm").fill(PASSWORD)
    page.get_by_role("button", name="Create the business").click()
    expect(page).to_have_url(re.compile(r"/admin/services\?welcome=1$"))
    expect(page.get_by_role("heading", name="Your business is set up")).to_be_visible()

    page.get_by_role("link", name="add staff and their working hours").click()
    page.locator("#add-email").fill(STYLIST)
    page.locator("#add-name").fill("Sam Stylist")
    page.get_by_role("button", name="Add the staff member").click()
    expect(page.get_by_role("heading", name="Sam Stylist")).to_be_visible()
    for day in WEEKDAYS:
        page.locator(f"#hours-{day}").fill("09:00-12:00, 13:00-17:00")
    page.get_by_role("button", name="Save working hours").click()
    expect(page.locator("#hours-mon")).to_have_value("09:00-12:00, 13:00-17:00")

    page.goto("/admin/services")
    new = page.locator("#new-service")
    new.locator("#svc-new-slug").fill("haircut")
    new.locator("#svc-new-name-en").fill("Haircut")
    new.locator("#svc-new-name-de").fill("Haarschnitt")
    new.locator("#svc-new-duration").fill("60")
    new.locator("#svc-new-notice").fill("0 min")
    new.locator(f'input[name="staff"][value="{STYLIST}"]').check()
    new.get_by_role("button", name="Add the service").click()
    expect(page.get_by_role("heading", name="Service: Haircut")).to_be_visible()
    expect(page.locator("#svc-haircut-name-de")).to_have_value("Haarschnitt")

    page.goto("/admin/closures")
    page.locator("#holidays-country").fill("DE")
    page.locator("#holidays-subdivision").fill("BY")
    page.locator("#holidays-year").fill(str(datetime.now(UTC).year + 1))
    page.get_by_role("button", name="Import the holidays").click()
    expect(page.get_by_role("status")).to_contain_text("public holidays added")
    expect(page.locator("#list")).to_contain_text(f"{datetime.now(UTC).year + 1}-12-25")


def test_customer_books_around_the_lunch_break_and_the_email_names_haarschnitt(
    first_run: tuple[LiveServer, str], session_page: Page
) -> None:
    """The self-service page offers no slot in the lunch break; the German confirmation says Haarschnitt."""
    server, _link = first_run
    page = session_page
    day = bookable_day()
    page.goto(f"/book/haircut?lang=de&day={day.isoformat()}")
    slots = page.locator("a.slot")
    expect(slots.first).to_be_visible()
    times = [text.strip() for text in page.locator("a.slot .slot-time").all_inner_texts()]
    assert "09:00" in times and "13:00" in times, times
    assert not [t for t in times if t.startswith("12:") or t in ("11:15", "11:30", "11:45")], times
    page.locator("a.slot").first.click()
    expect(page.get_by_role("heading", name="Ihre Angaben")).to_be_visible()
    page.get_by_label("Name").fill("Erika Musterfrau")
    page.get_by_label("E-Mail").fill("erika@example.com")
    page.get_by_role("button", name="Jetzt buchen").click()
    expect(page.get_by_role("heading", name="Ihr Termin ist gebucht")).to_be_visible()
    ref = page.locator(".details strong").inner_text().strip()
    confirmation = server.wait_for_email(kind="confirmation", booking=ref, to="erika@example.com")
    assert "Haarschnitt" in text_of(confirmation)


def test_german_customer_sees_haarschnitt_on_the_booking_page(session_page: Page) -> None:
    """The German self-service page names the service "Haarschnitt"."""
    page = session_page
    page.goto(f"/book/haircut?lang=de&day={bookable_day().isoformat()}")
    expect(page.get_by_role("heading", name="Haarschnitt")).to_be_visible(timeout=3000)
