"""The admin pages on a phone (375×812) in a real browser: nothing wider than the screen.

Against the live ``mailflow serve --demo`` (which seeds sample bookings): the demo admin
signs in on a phone-sized page and opens every admin page with a table, including the
bookings list and the customers list, whose tables turn into one card per row there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import UI_TIMEOUT_MS, LiveServer
from tests.e2e.test_admin_browser import ADMIN

PHONE = {"width": 375, "height": 812}
OVERFLOW = """() => ({
  page: document.documentElement.scrollWidth,
  screen: window.innerWidth,
  rows: Array.from(document.querySelectorAll('main tr, main table'))
    .map(el => el.getBoundingClientRect())
    .filter(box => box.left < -0.5 || box.right > window.innerWidth + 0.5).length,
})"""


@pytest.fixture
def phone(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    """A phone-sized page (375×812) in a fresh browser context.

    Not ``is_mobile``: a mobile viewport widens itself to what the page lays out, which would
    hide the overflow this measures."""
    context = browser.new_context(
        base_url=live_server.base_url,
        locale="en-GB",
        timezone_id="Europe/Berlin",
        viewport=PHONE,
    )
    context.set_default_timeout(UI_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in(live_server: LiveServer, page: Page) -> None:
    password = live_server.cli("admin", "create-user", ADMIN, "--reset")["password"]
    page.goto("/admin/sign-in")
    page.get_by_label("Email address").fill(ADMIN)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/admin/bookings"))


def assert_fits(page: Page, path: str) -> None:
    """``path`` opens and neither the page nor any table row is wider than the phone's screen."""
    response = page.goto(path)
    assert response is not None and response.status == 200, path
    measured = page.evaluate(OVERFLOW)
    assert measured["screen"] == PHONE["width"], (path, measured)
    assert measured["page"] <= measured["screen"], (path, measured)
    assert measured["rows"] == 0, (path, measured)


def test_admin_tables_fit_a_phone_screen(live_server: LiveServer, phone: Page) -> None:
    """Bookings (list and day), customers, one customer, one booking, the booking form, the
    account, the team, a staff member, closures, API keys, templates and services."""
    sign_in(live_server, phone)
    phone.goto("/admin/bookings")
    rows = phone.locator("table.admin-table tbody tr")
    expect(rows.first).to_be_visible()
    first_ref = rows.first.get_by_role("link").first.inner_text()
    assert_fits(phone, "/admin/bookings")
    # A stacked row shows each value under its column's name.
    expect(rows.first.locator("td").first).to_have_attribute("data-label", "When")

    assert_fits(phone, "/admin/customers")
    customers = phone.locator("table.admin-table tbody tr")
    expect(customers.first).to_be_visible()
    customers.first.get_by_role("link").first.click()
    expect(phone).to_have_url(re.compile(r"/admin/customers/\d+$"))
    assert_fits(phone, phone.url)

    for path in (
        f"/admin/bookings/{first_ref}",
        "/admin/bookings?view=day",
        "/admin/bookings/new",
        "/admin/account",
        "/admin/staff",
        "/admin/staff/bob@contoso.example",
        "/admin/closures",
        "/admin/api-keys",
        "/admin/templates",
        "/admin/services",
    ):
        assert_fits(phone, path)
