"""The contact form of the manage page in a real browser (issue 17, item 5): a customer writes,
staff receive it as a ``customer_message`` by email (read from the live server's maildir)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.conftest import berlin
from tests.e2e.conftest import LiveServer, text_of
from tests.e2e.test_browser import BOB, a_customer, book_by_cli, weekday_ahead


def test_the_contact_form_reaches_staff(live_server: LiveServer, page: Page) -> None:
    """Written and sent with the keyboard alone, the message reaches Bob with the booking; the
    page says it was sent."""
    customer = a_customer("lin")
    text = "Is there parking near you? I will come by car."
    booking = book_by_cli(
        live_server,
        service="consultation",
        customer=customer,
        start=berlin(weekday_ahead(3), 15),
        origin="self_service",
    )
    ref = booking["ref"]

    page.goto(booking["manage_url"])
    expect(page.get_by_role("heading", name="Write to us")).to_be_visible()
    field = page.get_by_label("Your message about this booking")
    field.focus()
    page.keyboard.type(text)
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Send message")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.get_by_role("status")).to_contain_text("Your message was sent")
    mail = live_server.wait_for_email(kind="customer_message", booking=ref, to=BOB)
    assert ref in str(mail["Subject"]) and "manage page" in str(mail["Subject"])
    body = text_of(mail)
    assert text in body and customer in body
