"""The admin's customers pages, a service's change instructions in its form, and the admins-only
page, through FastAPI's TestClient on real SQLite and PostgreSQL (the ``db_url`` fixture).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import col, select

from mailflow import services
from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.services.customer_list import PAGE_SIZE
from mailflow.services.customers import erase_customer
from mailflow.store.tables import AuditEvent, Customer
from mailflow.web.deps import clock
from tests.conftest import berlin
from tests.integration.test_admin_pages import (
    ADMIN,
    BOB,
    CARLA,
    HTML,
    Admin,
    csrf_of,
    make_admin,
    service_form,
    site,
    staff_ids,
    text_of,
)

MANAGE_LINK = re.compile(r"/m/[\w-]+(?![\w-]|/booking\.ics)")  # not the .ics download (issue 18)

__all__ = ["make_admin", "site"]  # fixtures used here

CUSTOMER_LINK = re.compile(r'href="/admin/customers/(\d+)">([^<]+)</a>')


def book(
    site: Admin,
    *,
    customer: str,
    name: str,
    staff: str = BOB,
    slug: str = "haircut",
    days: int = 0,
    hour: int = 10,
    locale: str | None = None,
    phone: str = "",
) -> str:
    """A staff-made booking of ``customer`` ``days`` after the test's Tuesday, at ``hour`` Berlin time."""
    view = services.create_booking(
        site.app.engine,
        business="contoso",
        service=slug,
        staff=staff,
        customer=services.CustomerInput(email=customer, name=name, locale=locale, phone=phone),
        start=berlin(site.day + timedelta(days=days), hour),
        origin=Origin.STAFF,
        actor=Actor(ActorKind.STAFF, ADMIN),
        now=site.now,
        public_url=site.app.settings.public_url,
        **site.app.booking_kwargs(),
    )
    return view.ref


def listed(page_text: str) -> dict[str, str]:
    """The customers a list page links to: {name: id}."""
    return {name: number for number, name in CUSTOMER_LINK.findall(page_text)}


def add_customers(site: Admin, count: int) -> None:
    """``count`` customers without bookings, straight in the table (as years of bookings leave them)."""
    with site.db() as session:
        business_id = site.service_row("haircut").business_id
        for number in range(count):
            session.add(
                Customer(
                    business_id=business_id,
                    email=f"guest{number:03}@example.org",
                    name=f"Guest {number:03}",
                    timezone="Europe/Berlin",
                    created_at=site.now,
                )
            )
        session.commit()


# --- a service's change instructions --------------------------------------------------------


def test_service_instructions_are_saved_shown_and_reach_a_staff_booking_email(site: Admin) -> None:
    """Per-language instructions typed in the service form are stored, shown again, and replace
    the business's in the email of a staff-made haircut (customers may not manage it); empty
    brings the business's back."""
    admin = site.sign_in(ADMIN)
    page = admin.get("/admin/services")
    # Empty, the hint says what applies instead: here the sentence made of the business's phone.
    hint = re.search(r'id="svc-haircut-instructions-en-hint">([^<]+)<', page.text)
    assert hint is not None and "+49 30 1234567" in hint.group(1)
    saved = admin.post(
        "/admin/services/haircut",
        data=service_form(
            csrf=csrf_of(page),
            staff=staff_ids(site),
            instructions_en="For haircuts, phone Bob on 030 555 01.",
            instructions_de="Für Haarschnitte Bob unter 030 555 01 anrufen.",
        ),
    )
    assert saved.status_code == 303, saved.text
    row = site.service_row("haircut")
    assert row.instructions == {
        "en": "For haircuts, phone Bob on 030 555 01.",
        "de": "Für Haarschnitte Bob unter 030 555 01 anrufen.",
    }
    again = admin.get("/admin/services")
    assert ">For haircuts, phone Bob on 030 555 01.</textarea>" in again.text
    assert ">Für Haarschnitte Bob unter 030 555 01 anrufen.</textarea>" in again.text

    mark = site.mark()
    book(site, customer="ada@example.com", name="Ada Lovelace")
    book(site, customer="erika@example.de", name="Erika Musterfrau", locale="de", hour=14)
    english, german = site.outbox_since(mark, "confirmation")
    assert "For haircuts, phone Bob on 030 555 01." in text_of(english)
    assert not MANAGE_LINK.search(text_of(english))  # no Manage link: the instructions tell how to change
    assert "Für Haarschnitte Bob unter 030 555 01 anrufen." in text_of(german)

    cleared = admin.post(
        "/admin/services/haircut",
        data=service_form(csrf=csrf_of(page), staff=staff_ids(site), instructions_en="", instructions_de=""),
    )
    assert cleared.status_code == 303
    assert site.service_row("haircut").instructions == {}
    mark = site.mark()
    book(site, customer="grace@example.com", name="Grace Hopper", hour=11)
    (confirmation,) = site.outbox_since(mark, "confirmation")
    assert "phone Bob" not in text_of(confirmation) and "+49 30 1234567" in text_of(confirmation)


def test_service_instructions_in_a_manageable_service_stay_out_of_its_emails(site: Admin) -> None:
    """Where customers may manage the booking (the consultation), its email has the Manage link, not
    the instructions."""
    admin = site.sign_in(ADMIN)
    page = admin.get("/admin/services")
    saved = admin.post(
        "/admin/services/consultation",
        data=service_form(
            csrf=csrf_of(page),
            duration="30",
            customer_can_manage="on",
            staff=staff_ids(site),
            instructions_en="Consultations: write to Carla.",
        ),
    )
    assert saved.status_code == 303, saved.text
    mark = site.mark()
    book(site, customer="ada@example.com", name="Ada Lovelace", slug="consultation")
    (confirmation,) = site.outbox_since(mark, "confirmation")
    assert "/m/" in text_of(confirmation) and "write to Carla" not in text_of(confirmation)


# --- the customers list --------------------------------------------------------------------


def test_customer_list_shows_each_customer_with_upcoming_bookings_and_bounce_flag(site: Admin) -> None:
    """Name, address, phone, language and the count of confirmed bookings still ahead (not the
    cancelled, not the past); a bouncing address is flagged; erased customers are left out."""
    book(site, customer="ada@example.com", name="Ada Lovelace", phone="+49 30 1112223")
    book(site, customer="ada@example.com", name="Ada Lovelace", days=7)
    gone = book(site, customer="ada@example.com", name="Ada Lovelace", days=14)
    services.cancel_booking(
        site.app.engine, gone, reason=None, actor=Actor(ActorKind.STAFF, ADMIN), now=site.now, notifier=None
    )
    book(site, customer="erika@example.de", name="Erika Musterfrau", locale="de", staff=CARLA, days=7)
    site.execute(update(Customer).where(col(Customer.email) == "erika@example.de").values(bouncing=True))
    add_erased(site)
    site.web.dependency_overrides[clock] = lambda: berlin(site.day, 12)  # the first haircut is past
    try:
        page = site.sign_in(ADMIN).get("/admin/customers")
    finally:
        site.web.dependency_overrides.clear()
    assert page.status_code == 200
    assert set(listed(page.text)) == {"Ada Lovelace", "Erika Musterfrau"}
    rows = re.findall(r"<tr>(.*?)</tr>", page.text, re.S)
    ada = next(row for row in rows if "Ada Lovelace" in row)
    erika = next(row for row in rows if "Erika Musterfrau" in row)
    assert "ada@example.com" in ada and "+49 30 1112223" in ada and ">English<" in ada
    assert re.search(r'data-label="Upcoming bookings">1<', ada), ada  # one ahead, one past, one cancelled
    assert ">Deutsch<" in erika and "address bounces" in erika and "address bounces" not in ada
    assert re.search(r'data-label="Upcoming bookings">1<', erika)
    assert 'href="/admin/customers"' in page.text  # in the navigation


def add_erased(site: Admin) -> None:
    """A customer erased through the data-protection command (their booking cancelled first)."""
    ref = book(site, customer="zoe@example.com", name="Zoe Erased", hour=15)
    services.cancel_booking(
        site.app.engine, ref, reason=None, actor=Actor(ActorKind.STAFF, ADMIN), now=site.now, notifier=None
    )
    erase_customer(site.app.engine, "zoe@example.com", site.now, "contoso")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("lovelace", {"Ada Lovelace"}),
        ("özil", {"MESUT ÖZIL"}),  # letters beyond ASCII in any case, on SQLite too
        ("ÖZ", {"MESUT ÖZIL"}),
        ("LOVE", {"Ada Lovelace"}),
        ("ERIKA@EXAMPLE", {"Erika Musterfrau"}),
        ("example.de", {"Erika Musterfrau", "MESUT ÖZIL"}),
        ("30 111", {"Ada Lovelace"}),
        ("301112", {"Ada Lovelace"}),  # the digits without the spaces typed between them
        ("030-1112223", set()),  # a different number
        ("a", {"Ada Lovelace", "Erika Musterfrau", "MESUT ÖZIL"}),  # "example" too
        ("ü", set()),
        ("%", set()),  # wildcards are taken literally
        ("_", set()),
        ("   ", {"Ada Lovelace", "Erika Musterfrau", "MESUT ÖZIL"}),  # blank: everyone
        ("nobody", set()),
    ],
)
def test_customer_search_by_part_of_name_email_or_phone(site: Admin, query: str, expected: set[str]) -> None:
    """The search box finds customers by any part of their name, address or phone number, in any case."""
    book(site, customer="ada@example.com", name="Ada Lovelace", phone="+49 30 1112223")
    book(site, customer="erika@example.de", name="Erika Musterfrau", hour=14)
    book(site, customer="mesut@example.de", name="MESUT ÖZIL", hour=16)
    page = site.sign_in(ADMIN).get("/admin/customers", params={"q": query})
    assert page.status_code == 200
    assert set(listed(page.text)) == expected
    if query.strip():
        assert f'value="{query.strip()}"' in page.text  # the search stays in its box
    if not expected:
        assert "No customer matches this search." in page.text


def test_customer_list_is_paged_by_name_and_keeps_the_search(site: Admin) -> None:
    """More than a page of customers: pages of ``PAGE_SIZE`` by name, next and previous links that
    keep the search; a page beyond the last shows the last."""
    add_customers(site, PAGE_SIZE + 7)
    admin = site.sign_in(ADMIN)
    first = admin.get("/admin/customers")
    names = list(listed(first.text))
    assert names == [f"Guest {n:03}" for n in range(PAGE_SIZE)]
    assert "57 customers." in first.text and "Page 1 of 2." in first.text
    assert 'href="/admin/customers?page=2" rel="next"' in first.text and 'rel="prev"' not in first.text
    second = admin.get("/admin/customers?page=2")
    assert list(listed(second.text)) == [f"Guest {n:03}" for n in range(PAGE_SIZE, PAGE_SIZE + 7)]
    assert 'href="/admin/customers?page=1" rel="prev"' in second.text and 'rel="next"' not in second.text
    assert list(listed(admin.get("/admin/customers?page=99").text)) == list(listed(second.text))
    assert list(listed(admin.get("/admin/customers?page=x").text)) == names
    searched = admin.get("/admin/customers", params={"q": "guest 0"})  # Guest 000 … Guest 056
    assert "57 customers match" in searched.text
    assert 'href="/admin/customers?q=guest+0&amp;page=2" rel="next"' in searched.text
    last = admin.get("/admin/customers", params={"q": "guest 0", "page": "2"})
    assert list(listed(last.text)) == [f"Guest {n:03}" for n in range(PAGE_SIZE, PAGE_SIZE + 7)]


# --- one customer --------------------------------------------------------------------------


def test_customer_page_lists_upcoming_and_past_bookings_linking_to_each(site: Admin) -> None:
    """Upcoming bookings by start, past ones newest first, each linking to its booking page."""
    past = book(site, customer="ada@example.com", name="Ada Lovelace")
    later = book(site, customer="ada@example.com", name="Ada Lovelace", days=14)
    soon = book(site, customer="ada@example.com", name="Ada Lovelace", days=7, staff=CARLA)
    # Signed in at that time too: the test's Tuesday can be further ahead than a session lasts.
    site.web.dependency_overrides[clock] = lambda: berlin(site.day, 12)
    try:
        admin = site.sign_in(ADMIN)
        number = listed(admin.get("/admin/customers").text)["Ada Lovelace"]
        page = admin.get(f"/admin/customers/{number}")
    finally:
        site.web.dependency_overrides.clear()
    assert page.status_code == 200
    upcoming, past_part = page.text.split('id="past-title"')
    assert upcoming.index(f'href="/admin/bookings/{soon}"') < upcoming.index(
        f'href="/admin/bookings/{later}"'
    )
    assert f'href="/admin/bookings/{past}"' in past_part and past not in upcoming
    assert "ada@example.com" in page.text and "Carla Castro" in page.text
    booking_page = admin.get(f"/admin/bookings/{soon}")
    assert f'<a href="/admin/customers/{number}">Ada Lovelace</a>' in booking_page.text  # and back


@pytest.mark.parametrize("number", ["0", "999999", "12345678901234567890", "abc", "-1"])
def test_unknown_customer_is_404(site: Admin, number: str) -> None:
    """An id that is no customer of the business (or no number at all) is 404, never a server error."""
    assert site.sign_in(ADMIN).get(f"/admin/customers/{number}").status_code == 404


def test_staff_see_only_their_customers_and_their_bookings(site: Admin) -> None:
    """Bob's list holds the customers he has bookings with, their pages only his bookings; the
    admin sees everyone."""
    bobs = book(site, customer="ada@example.com", name="Ada Lovelace")
    carlas = book(site, customer="ada@example.com", name="Ada Lovelace", staff=CARLA, days=7)
    book(site, customer="erika@example.de", name="Erika Musterfrau", staff=CARLA, hour=14)
    everyone = listed(site.sign_in(ADMIN).get("/admin/customers").text)
    assert set(everyone) == {"Ada Lovelace", "Erika Musterfrau"}
    bob = site.sign_in(BOB)
    page = bob.get("/admin/customers")
    assert page.status_code == 200 and set(listed(page.text)) == {"Ada Lovelace"}
    assert "Your customers" in page.text
    ada = bob.get(f"/admin/customers/{everyone['Ada Lovelace']}")
    assert bobs in ada.text and carlas not in ada.text
    assert bob.get(f"/admin/customers/{everyone['Erika Musterfrau']}").status_code == 404


def test_clearing_the_bounce_flag_on_the_customer_page(site: Admin) -> None:
    """A bouncing customer's page offers to clear the flag; it goes through ``clear_bouncing``
    (audited), needs the page's CSRF token, and the page then says so."""
    book(site, customer="erika@example.de", name="Erika Musterfrau")
    site.execute(update(Customer).where(col(Customer.email) == "erika@example.de").values(bouncing=True))
    admin = site.sign_in(ADMIN)
    number = listed(admin.get("/admin/customers").text)["Erika Musterfrau"]
    page = admin.get(f"/admin/customers/{number}")
    action = f"/admin/customers/{number}/clear-bouncing"
    assert "Emails to this address bounce" in page.text and f'action="{action}"' in page.text
    assert admin.post(action, data={}).status_code == 403  # no CSRF token
    assert admin.post(action, data={"csrf": csrf_of(admin.get("/admin/services"))}).status_code == 403
    done = admin.post(action, data={"csrf": csrf_of(page, action)})
    assert done.status_code == 303 and done.headers["location"] == f"/admin/customers/{number}?done=cleared"
    with site.db() as session:
        customer = session.exec(select(Customer).where(Customer.email == "erika@example.de")).one()
        assert customer.bouncing is False
        events = session.exec(
            select(AuditEvent).where(AuditEvent.action == "customer.bouncing_cleared")
        ).all()
        assert [event.actor_label for event in events] == [ADMIN]
    after = admin.get(done.headers["location"])
    assert "The bounce flag is cleared" in after.text and "clear-bouncing" not in after.text


# --- admins-only pages ------------------------------------------------------------------------


def navigation_of(page_text: str) -> list[str]:
    nav = re.search(r'<nav class="admin-nav"[^>]*>(.*?)</nav>', page_text, re.S)
    assert nav is not None, page_text[:500]
    return re.findall(r'href="([^"]+)"', nav.group(1))


@pytest.mark.parametrize("path", ["/admin/services", "/admin/staff", "/admin/templates", "/admin/api-keys"])
def test_staff_on_an_admins_only_page_get_403_inside_the_admin_layout(site: Admin, path: str) -> None:
    """403 stays, but as a page: header, the staff member's navigation, a sentence and a way back."""
    bob = site.sign_in(BOB)
    page = bob.get(path, headers=HTML)
    assert page.status_code == 403 and page.headers["content-type"].startswith("text/html")
    assert navigation_of(page.text) == ["/admin/bookings", "/admin/customers", "/admin/account"]
    assert "Only admins may open this page." in page.text
    assert "This page is for the business&#39;s admins." in page.text
    assert '<a href="/admin/bookings">Back to your bookings</a>' in page.text
    assert 'action="/admin/sign-out"' in page.text  # signed in, with the usual header


def test_the_admins_only_page_speaks_the_members_language(site: Admin) -> None:
    """A German staff member reads the 403 page and its navigation in German."""
    bob: TestClient = site.sign_in(BOB)
    page = bob.get("/admin/services?lang=de", headers=HTML)
    assert page.status_code == 403
    assert '<html lang="de">' in page.text
    assert "Nur Admins können diese Seite öffnen." in page.text
    assert "Diese Seite ist den Admins des Unternehmens vorbehalten." in page.text
    assert ">Kundschaft</a>" in page.text and "Zurück zu Ihren Buchungen" in page.text
