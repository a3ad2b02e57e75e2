"""Input that must never be stored (issue 16, item 5), through the API on SQLite and PostgreSQL.

One set of field rules (``mailflow.services.common``): single-line texts hold no control
characters, every text fits its column, an address field holds exactly one address. A value
breaking one is a 422 at its field and nothing of it is stored; what was stored before keeps
every booking's emails flowing.
"""

from __future__ import annotations

import email
import email.policy
from typing import Any

import pytest
from sqlmodel import Session, func, select

from mailflow.store.tables import Booking, Business, Customer
from tests.api.conftest import Api

INJECTION = "Contoso\r\nBcc: x@evil.example"
TWO_ADDRESSES = "victim@example.com>,<evil@attacker.example"


def errors_at(response: Any) -> dict[tuple[str | int, ...], str]:
    """A 422's field errors as {loc: message}."""
    assert response.status_code == 422, response.text
    return {tuple(error["loc"]): error["msg"] for error in response.json()["detail"]}


def counts(api: Api) -> tuple[int, int]:
    with Session(api.app.engine) as session:
        bookings = session.exec(select(func.count()).select_from(Booking)).one()
        customers = session.exec(select(func.count()).select_from(Customer)).one()
    return int(bookings), int(customers)


@pytest.mark.parametrize(
    ("customer", "loc"),
    [
        ({"name": "Ada\r\nBcc: x@evil.example"}, ("body", "customer", "name")),
        ({"name": "Ada\nLovelace"}, ("body", "customer", "name")),
        ({"name": "A" * 300}, ("body", "customer", "name")),
        ({"name": "A" * 100_000}, ("body", "customer", "name")),
        ({"phone": "+49 30\r\n1234"}, ("body", "customer", "phone")),
        ({"phone": "1" * 65}, ("body", "customer", "phone")),
        ({"email": TWO_ADDRESSES}, ("body", "customer", "email")),
        ({"email": "Ada <ada@example.com>"}, ("body", "customer", "email")),
        ({"email": "ada@example.com\r\nBcc: x@evil.example"}, ("body", "customer", "email")),
        ({"email": "ada@example.com, eve@example.com"}, ("body", "customer", "email")),
    ],
)
def test_bad_customer_fields_are_422_at_the_field_and_store_nothing(
    api: Api, customer: dict[str, str], loc: tuple[str, ...]
) -> None:
    """CR/LF, an over-long text or a second address in a customer field: 422 naming it, nothing stored."""
    body = api.booking_body(10)
    body["customer"] |= customer

    errors = errors_at(api.post("/bookings", body))

    assert list(errors) == [loc]
    assert counts(api) == (0, 0)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"sender_name": INJECTION}, "sender_name"),
        ({"name": "Contoso\nSalon"}, "name"),
        ({"phone": "+49\r\n30"}, "phone"),
        ({"sender_email": TWO_ADDRESSES}, "sender_email"),
        ({"email": "hello@contoso.example\nBcc: x@evil.example"}, "email"),
        ({"sender_name": "S" * 201}, "sender_name"),
        ({"address": "A" * 501}, "address"),
    ],
)
def test_bad_business_fields_are_422_and_bookings_keep_working(
    api: Api, change: dict[str, str], field: str
) -> None:
    """The PATCH that made every booking fail: refused at its field; the profile is unchanged
    and the next booking's confirmation goes out with the old sender."""
    before = api.get("/business").json()

    errors = errors_at(api.patch("/business", change))

    assert list(errors) == [("body", field)]
    assert api.get("/business").json() == before
    api.book(10)
    (confirmation,) = api.outbox("confirmation")
    assert "evil" not in str(confirmation["From"]) and confirmation["Bcc"] is None


def test_an_address_on_several_lines_is_kept_with_its_line_breaks(api: Api) -> None:
    """The postal address is a multi-line text: line breaks stay (CR LF as LF), nothing else does."""
    response = api.patch("/business", {"address": "Hauptstraße 1\r\n10115 Berlin"})
    assert response.status_code == 200, response.text
    assert response.json()["address"] == "Hauptstraße 1\n10115 Berlin"

    assert list(errors_at(api.patch("/business", {"address": "Hauptstraße 1\x1b[2J"}))) == [
        ("body", "address")
    ]


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/services/haircut", {"name": "Haircut\r\nBcc: x@evil.example"}, ("body", "names")),
        ("/services/haircut", {"names": {"de": "Haar\nschnitt"}}, ("body", "names")),
        ("/services/haircut", {"location": "Room 1\r\n2"}, ("body", "location")),
        ("/staff/bob@contoso.example", {"name": "Bob\r\nBcc: x@evil.example"}, ("body", "name")),
        ("/staff/bob@contoso.example", {"name": "B" * 201}, ("body", "name")),
    ],
)
def test_bad_service_and_staff_names_are_422(
    api: Api, path: str, body: dict[str, Any], loc: tuple[str, ...]
) -> None:
    """Names that reach an email header or a column are held to the same rules."""
    errors = errors_at(api.patch(path, body))
    assert list(errors) == [loc]


def test_a_cancel_reason_with_control_characters_is_422(api: Api) -> None:
    """A reason is multi-line text, but an escape sequence or a NUL is refused; the booking stays."""
    booked = api.book(10)

    errors = errors_at(api.post(f"/bookings/{booked['ref']}/cancel", {"reason": "sorry\x1b[31m"}))

    assert list(errors) == [("body", "reason")]
    assert api.get(f"/bookings/{booked['ref']}").json()["status"] == "confirmed"


def test_a_valid_unicode_name_and_address_are_stored_as_given(api: Api) -> None:
    """The rules refuse only what cannot be stored: accents and 200 characters pass, an address
    is trimmed and lower-cased, and the confirmation names the customer in one To: header."""
    body = api.booking_body(10)
    body["customer"] = {"email": " Zoe.Nunez@Example.COM ", "name": "Zoë Ñúñez " + "x" * 190}

    response = api.post("/bookings", body)

    assert response.status_code == 201, response.text
    assert response.json()["customer"]["email"] == "zoe.nunez@example.com"
    assert len(response.json()["customer"]["name"]) == 200
    (confirmation,) = api.outbox("confirmation", "zoe.nunez@example.com")
    (to,) = confirmation["To"].addresses
    assert to.addr_spec == "zoe.nunez@example.com" and to.display_name.startswith("Zoë Ñúñez")


def test_stored_sender_is_one_header_line(api: Api) -> None:
    """What the business stores reaches From: as one header; the raw message has no injected field."""
    assert api.patch("/business", {"sender_name": "Contoso Salon"}).status_code == 200
    api.book(10)
    with Session(api.app.engine) as session:
        assert session.exec(select(Business.sender_name)).one() == "Contoso Salon"
    (confirmation,) = api.outbox("confirmation")
    raw = confirmation.as_bytes(policy=email.policy.SMTP)
    headers = raw.split(b"\r\n\r\n", 1)[0]
    assert b"Bcc" not in headers and (b"\r\n" + headers).count(b"\r\nFrom:") == 1
