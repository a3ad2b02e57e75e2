"""Webhooks in a real browser against a running ``mailflow serve`` whose worker delivers them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from standardwebhooks import Webhook

from tests.conftest import berlin
from tests.e2e.conftest import LiveServer
from tests.e2e.test_admin_browser import sign_in_as_demo_admin
from tests.e2e.test_browser import a_customer, book_by_cli, weekday_ahead
from tests.webhook_receiver import Receiver, running_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running_receiver()


def wait_for_requests(receiver: Receiver, count: int) -> None:
    deadline = time.monotonic() + 30  # the worker's tick is 2 s; this only bounds a broken run
    while len(receiver.requests) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(receiver.requests) >= count, f"{len(receiver.requests)} of {count} requests arrived"


def reload_until(page: Page, selector: str, text: str) -> None:
    """Reload until ``selector`` shows ``text``: the receiver has the request a moment before
    the worker records its answer, and the page shows what was recorded when it loaded."""
    deadline = time.monotonic() + 30  # only bounds a broken run
    while text not in page.locator(selector).inner_text() and time.monotonic() < deadline:
        time.sleep(0.2)
        page.reload()
    expect(page.locator(selector)).to_contain_text(text)


def test_admin_adds_an_endpoint_that_hears_a_test_event_and_a_booking(
    live_server: LiveServer, page: Page, receiver: Receiver
) -> None:
    """Add an endpoint for new bookings, copy the secret, send a test event, see it answered in
    the log; a booking made by the CLI arrives signed with that secret; then remove it."""
    sign_in_as_demo_admin(live_server, page, "/admin/webhooks")
    page.get_by_label("URL (http:// or https://").fill(receiver.url)
    events = page.get_by_role("group", name="Events")
    for box in events.get_by_role("checkbox").all():
        box.set_checked(False)
    events.get_by_role("checkbox", name="booking.created").check()
    page.get_by_role("button", name="Add the endpoint").click()
    secret = page.locator("#new-secret").inner_text()
    assert secret.startswith("whsec_")

    page.get_by_role("link", name="Open the endpoint and send a test event").click()
    page.get_by_role("button", name="Send a test event").click()
    expect(page.get_by_role("status")).to_contain_text("A test event is on its way")
    wait_for_requests(receiver, 1)
    reload_until(page, "#deliveries", "HTTP 200")
    assert Webhook(secret).verify(receiver.requests[0].body, receiver.requests[0].headers)["type"] == (
        "webhook.test"
    )

    start = berlin(weekday_ahead(3) + timedelta(days=14), 16)
    booking = book_by_cli(live_server, service="consultation", customer=a_customer("wanda"), start=start,
                          origin="staff")  # fmt: skip
    wait_for_requests(receiver, 2)
    event = Webhook(secret).verify(receiver.requests[1].body, receiver.requests[1].headers)
    assert event["type"] == "booking.created" and event["data"]["booking"]["ref"] == booking["ref"]
    assert event["data"]["actor"] == "staff"

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Remove the endpoint").click()
    expect(page.get_by_text("No webhooks yet.")).to_be_visible()
