"""The contact form of the manage pages (issue 17, item 5), on real SQLite and PostgreSQL.

``POST /m/{token}/message`` queues a ``customer_message`` to the booking's staff with the
booking's reference and the text, as a reply by email would; the field rules, a per-booking
hourly cap, the per-IP limit and the CSRF token guard it; the customer is told it was sent.
"""

from __future__ import annotations

import email
import email.policy

import pytest
from sqlmodel import Session, col, select

from mailflow.booking.model import Origin
from mailflow.services.manage import MESSAGES_PER_HOUR
from mailflow.store.tables import AuditEvent, OutboxMessage
from tests.conftest import berlin
from tests.integration.test_web import BOB, CARLA, Site, SiteFactory, make_site, site, slot_value, tamper

__all__ = ["make_site", "site"]  # the fixtures, shared with test_web

TEXT = "Could I bring my dog?\nHe is very calm."


def staff_mail(site: Site, mark: int) -> email.message.EmailMessage:
    """The one ``customer_message`` queued after ``mark``, parsed."""
    with Session(site.app.engine) as session:
        row = session.exec(
            select(OutboxMessage).where(
                col(OutboxMessage.id) > mark, OutboxMessage.kind == "customer_message"
            )
        ).one()
    assert row.payload is not None
    mail = email.message_from_bytes(row.payload, policy=email.policy.default)
    assert isinstance(mail, email.message.EmailMessage)
    return mail


def body_of(mail: email.message.EmailMessage) -> str:
    part = mail.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def test_message_reaches_staff_with_the_booking_and_the_page_says_it_was_sent(site: Site) -> None:
    """The text goes to the booking's staff member as a customer_message naming the booking and
    the manage page; the customer is redirected to the page, which says it was sent."""
    booked = site.book()
    csrf = site.form(booked.path)
    mark = site.outbox_mark()

    response = site.client.post(f"{booked.path}/message", data={"csrf": csrf, "text": TEXT})

    assert response.status_code == 303
    assert response.headers["location"] == f"{booked.path}?lang=en&sent=1#write"
    assert site.queued_since(mark) == [("customer_message", BOB)]
    mail = staff_mail(site, mark)
    assert booked.ref in str(mail["Subject"]) and "manage page" in str(mail["Subject"])
    assert mail["X-Mailflow-Booking"] == booked.ref
    body = body_of(mail)
    assert "Could I bring my dog?\nHe is very calm." in body and "ada@example.com" in body
    with Session(site.app.engine) as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "booking.customer_message")).one()
    assert (event.actor_kind, event.actor_label) == ("customer_link", "ada@example.com")
    page = site.client.get(response.headers["location"])
    assert page.status_code == 200 and "Your message was sent" in page.text


def test_form_and_notice_speak_the_pages_language(site: Site) -> None:
    """The form and its notice are in the page's language."""
    booked = site.book(locale="de")
    page = site.client.get(booked.path).text
    assert "Schreiben Sie uns" in page and "Nachricht senden" in page
    response = site.client.post(f"{booked.path}/message", data={"csrf": csrf_of_page(page), "text": "Hallo"})
    assert "Ihre Nachricht wurde gesendet" in site.client.get(response.headers["location"]).text


def csrf_of_page(page: str) -> str:
    marker = 'name="csrf" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("   ", "write your message first"),
        ("x" * 5001, "Message: at most 5000 characters"),
        ("bell \x07", "Message: line breaks and other control characters are not allowed"),
    ],
)
def test_empty_too_long_or_control_text_is_refused_next_to_the_field(
    site: Site, text: str, error: str
) -> None:
    """A text against the field rules gets 400, the form again with the error, and nothing queued."""
    booked = site.book()
    csrf = site.form(booked.path)
    mark = site.outbox_mark()

    response = site.client.post(f"{booked.path}/message", data={"csrf": csrf, "text": text})

    assert response.status_code == 400
    assert error in response.text and 'aria-invalid="true"' in response.text
    assert site.queued_since(mark) == []


def test_bad_csrf_token_gets_403_and_sends_nothing(site: Site) -> None:
    """Missing, tampered, other-booking and cookie-less tokens are all refused."""
    booked = site.book(10)
    other = site.book(12, customer="grace@example.com")
    own, other_booking = site.form(booked.path), site.form(other.path)
    mark = site.outbox_mark()
    path = f"{booked.path}/message"

    attempts = [
        site.client.post(path, data={"text": TEXT}),
        site.client.post(path, data={"csrf": tamper(own), "text": TEXT}),
        site.client.post(path, data={"csrf": other_booking, "text": TEXT}),
        site.browser().post(path, data={"csrf": own, "text": TEXT}),
    ]

    assert [r.status_code for r in attempts] == [403] * 4
    assert site.queued_since(mark) == []


def test_messages_per_booking_are_capped_per_hour(site: Site) -> None:
    """After MESSAGES_PER_HOUR messages about one booking the next is refused; another booking is not."""
    booked = site.book(10)
    other = site.book(12, customer="grace@example.com")
    csrf = site.form(booked.path)
    for number in range(MESSAGES_PER_HOUR):
        sent = site.client.post(f"{booked.path}/message", data={"csrf": csrf, "text": f"note {number}"})
        assert sent.status_code == 303
    mark = site.outbox_mark()

    over = site.client.post(f"{booked.path}/message", data={"csrf": csrf, "text": "one more"})

    assert over.status_code == 400 and "at most 5 messages an hour" in over.text
    assert site.queued_since(mark) == []
    fine = site.client.post(f"{other.path}/message", data={"csrf": site.form(other.path), "text": "hi"})
    assert fine.status_code == 303


def test_messages_per_ip_are_limited(make_site: SiteFactory) -> None:
    """One client over the per-IP limit gets 429 before anything is checked or sent."""
    site = make_site(MAILFLOW_BOOKINGS_PER_IP_PER_HOUR="2")
    booked = site.book(10)
    other = site.book(12, customer="grace@example.com")
    csrf, csrf_other = site.form(booked.path), site.form(other.path)
    assert site.client.post(f"{booked.path}/message", data={"csrf": csrf, "text": "a"}).status_code == 303
    assert (
        site.client.post(f"{other.path}/message", data={"csrf": csrf_other, "text": "b"}).status_code == 303
    )
    mark = site.outbox_mark()

    response = site.client.post(f"{other.path}/message", data={"csrf": csrf_other, "text": "c"})

    assert response.status_code == 429 and site.queued_since(mark) == []


def test_not_possible_page_offers_the_contact_form(site: Site) -> None:
    """A refused change's page carries the form, which sends to staff."""
    booked = site.book(service_slug="consultation", origin=Origin.STAFF)
    csrf = site.form(f"{booked.path}/cancel")
    site.set_service("consultation", customer_can_manage=False)

    refused = site.client.post(
        f"{booked.path}/reschedule", data={"csrf": csrf, "slot": slot_value(berlin(site.day, 14), CARLA)}
    )

    assert refused.status_code == 403 and f'action="{booked.path}/message?lang=en"' in refused.text
    mark = site.outbox_mark()
    sent = site.client.post(f"{booked.path}/message", data={"csrf": csrf_of_page(refused.text), "text": TEXT})
    assert sent.status_code == 303 and site.queued_since(mark) == [("customer_message", BOB)]
