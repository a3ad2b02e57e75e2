"""Accessibility in the real browser: axe-core over every customer and admin page, and the keyboard.

``axe-playwright-python`` injects axe-core into Chromium and runs its rules on
the rendered page (contrast, names, landmarks, ARIA, …). Each page is checked
at desktop width and at 375 px (a phone), and no violation of impact "serious"
or "critical" may remain. Minor and moderate findings are printed, not failed.

The keyboard tests book a haircut and cancel a booking with the keyboard only:
Tab, Shift+Tab, arrow keys, Space and Enter, no clicks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, ViewportSize, expect

from tests.conftest import berlin
from tests.e2e.conftest import UI_TIMEOUT_MS, LiveServer
from tests.e2e.test_admin_browser import sign_in_as_demo_admin
from tests.e2e.test_browser import a_customer, book_by_cli, weekday_ahead

BLOCKING = ("serious", "critical")
VIEWPORTS: dict[str, ViewportSize] = {
    "desktop": {"width": 1100, "height": 900},
    "phone": {"width": 375, "height": 812},
}


def violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]

    results = Axe().run(page)
    found: list[dict[str, Any]] = results.response["violations"]
    return found


def describe(found: list[dict[str, Any]]) -> str:
    lines = []
    for violation in found:
        targets = [" ".join(node["target"]) for node in violation["nodes"][:3]]
        lines.append(f"{violation['impact']}: {violation['id']} ({violation['help']}) at {targets}")
    return "\n".join(lines)


def check_both_widths(page: Page, label: str, report: dict[str, list[str]]) -> None:
    """Scan the page at desktop width and at 375 px; record blocking findings under ``label``."""
    for width_name, size in VIEWPORTS.items():
        page.set_viewport_size(size)
        found = violations(page)
        blocking = [v for v in found if v["impact"] in BLOCKING]
        other = [v for v in found if v["impact"] not in BLOCKING]
        if other:
            print(f"{label} [{width_name}] minor/moderate:\n{describe(other)}")
        if blocking:
            report[f"{label} [{width_name}]"] = [describe(blocking)]
    page.set_viewport_size(VIEWPORTS["desktop"])


@pytest.fixture
def wide_page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(
        base_url=live_server.base_url,
        locale="en-GB",
        timezone_id="Europe/Berlin",
        viewport=VIEWPORTS["desktop"],
    )
    context.set_default_timeout(UI_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def third_week(weekday: int) -> date:
    """A weekday two to three weeks ahead: the other browser tests book the two weeks before."""
    return weekday_ahead(weekday) + timedelta(days=7)


def visit(page: Page, path: str, report: dict[str, list[str]], label: str | None = None) -> None:
    page.goto(path)
    check_both_widths(page, label or path, report)


def test_customer_pages_have_no_serious_axe_violations(live_server: LiveServer, wide_page: Page) -> None:
    page = wide_page
    report: dict[str, list[str]] = {}
    visit(page, "/book", report)
    visit(page, "/book?lang=de", report)
    visit(page, "/book/haircut", report)
    page.locator("a.slot").first.click()
    expect(page.get_by_role("heading", name="Your details")).to_be_visible()
    check_both_widths(page, "/book/haircut details form", report)
    page.get_by_label("Name").fill("Ada Axe")
    page.get_by_label("Email").fill(a_customer("ada"))
    page.get_by_role("button", name="Book now").click()
    expect(page.get_by_role("heading", name="You're booked")).to_be_visible()
    check_both_widths(page, "booked page", report)
    visit(page, "/m", report, "find my booking")
    visit(page, "/m/not-a-real-token", report, "unknown manage link (404)")

    booking = book_by_cli(
        live_server,
        service="consultation",
        customer=a_customer("axel"),
        start=berlin(third_week(2), 10),
        origin="self_service",
    )
    manage = booking["manage_url"]
    visit(page, manage, report, "manage page")
    visit(page, f"{manage}/reschedule", report, "reschedule page")
    visit(page, f"{manage}/cancel", report, "cancel page")
    page.goto(manage)
    page.get_by_label(re.compile("message", re.I)).first.fill("Is there parking nearby?")
    page.get_by_role("button", name=re.compile("Send", re.I)).click()
    check_both_widths(page, "message sent", report)
    # The "not possible" page: the booking is cancelled by staff while the cancel page is open.
    page.goto(f"{manage}/cancel")
    live_server.cli("bookings", "cancel", booking["ref"])
    page.get_by_role("button", name=re.compile("Cancel", re.I)).last.click()
    check_both_widths(page, "not possible (refused) page", report)

    staff_made = book_by_cli(
        live_server,
        service="haircut",
        customer=a_customer("bea"),
        start=berlin(third_week(3), 11),
        origin="staff",
    )
    visit(page, staff_made["manage_url"], report, "manage page without actions (staff booking)")
    assert report == {}, "\n".join(f"{page}: {text}" for page, texts in report.items() for text in texts)


ADMIN_PAGES = (
    "/admin",
    "/admin/bookings",
    "/admin/bookings/new",
    "/admin/services",
    "/admin/staff",
    "/admin/staff/bob@contoso.example",
    "/admin/closures",
    "/admin/api-keys",
    "/admin/webhooks",
    "/admin/account",
    "/admin/customers",
    "/admin/customers?q=cleo",
    "/admin/templates",
    "/admin/templates/confirmation/en",
    "/admin/templates/confirmation/en/history",
    "/admin/templates/confirmation/en/simple",
    "/admin/templates/cancelled/en/simple",
)


def test_admin_pages_have_no_serious_axe_violations(live_server: LiveServer, wide_page: Page) -> None:
    page = wide_page
    report: dict[str, list[str]] = {}
    visit(page, "/admin/forgot", report, "forgot password")
    page.goto("/admin/sign-in")
    check_both_widths(page, "sign-in", report)
    sign_in_as_demo_admin(live_server, page, "/admin/bookings")
    booking = book_by_cli(
        live_server,
        service="haircut",
        customer=a_customer("cleo"),
        start=berlin(third_week(4), 15),
        origin="staff",
    )
    for path in (*ADMIN_PAGES, f"/admin/bookings/{booking['ref']}"):
        visit(page, path, report)
    page.goto("/admin/customers?q=cleo")
    page.locator('a[href^="/admin/customers/"]').first.click()
    check_both_widths(page, "a customer's page", report)
    assert report == {}, "\n".join(f"{page}: {text}" for page, texts in report.items() for text in texts)


# --- the keyboard only ---------------------------------------------------------------------


def tab_to(page: Page, target: Locator, *, limit: int = 80, key: str = "Tab") -> None:
    """Press Tab until ``target`` has the focus (fails after ``limit`` presses)."""
    for _ in range(limit):
        if target.evaluate("element => element === document.activeElement"):
            return
        page.keyboard.press(key)
    expect(target).to_be_focused()


def type_into(page: Page, field: Locator, text: str) -> None:
    tab_to(page, field)
    page.keyboard.type(text)


def first_free_day_link(page: Page) -> Locator:
    return page.locator("a.day.free").first


def test_booking_with_the_keyboard_only(live_server: LiveServer, wide_page: Page) -> None:
    page = wide_page
    customer = a_customer("kay")
    page.goto("/book")
    tab_to(page, page.get_by_role("link", name=re.compile("Haircut")).first)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Haircut")).to_be_visible()
    tab_to(page, first_free_day_link(page))
    page.keyboard.press("Enter")
    slot = page.locator("a.slot").first
    tab_to(page, slot)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Your details")).to_be_visible()
    type_into(page, page.get_by_label("Name"), "Kay Keys")
    type_into(page, page.get_by_label("Email"), customer)
    tab_to(page, page.get_by_role("button", name="Book now"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="You're booked")).to_be_visible()
    ref = page.locator(".details strong").inner_text().strip()
    assert live_server.wait_for_email(kind="confirmation", booking=ref, to=customer)


def test_cancelling_with_the_keyboard_only(live_server: LiveServer, wide_page: Page) -> None:
    page = wide_page
    booking = book_by_cli(
        live_server,
        service="consultation",
        customer=a_customer("cas"),
        start=berlin(third_week(1), 14),
        origin="self_service",
    )
    page.goto(booking["manage_url"])
    tab_to(page, page.get_by_role("link", name=re.compile("^Cancel")))
    page.keyboard.press("Enter")
    reason = page.get_by_label(re.compile("reason", re.I))
    type_into(page, reason, "Moving away")
    tab_to(page, page.get_by_role("button", name=re.compile("Cancel", re.I)).last)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=re.compile("cancelled", re.I))).to_be_visible()
    shown = live_server.cli("bookings", "show", booking["ref"])
    assert shown["status"] == "cancelled"
