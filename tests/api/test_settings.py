"""The business, its services, staff and customers through the API; changes are checked and audited."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, col, select

from mailflow.store.tables import AuditEvent
from tests.api.conftest import BOB, CARLA, Api


def errors_at(response: Any) -> dict[tuple[str | int, ...], str]:
    assert response.status_code == 422, response.text
    return {tuple(error["loc"]): error["type"] for error in response.json()["detail"]}


def audits(api: Api, action: str) -> list[AuditEvent]:
    with Session(api.app.engine) as session:
        return list(
            session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.id)))
        )


def test_business_get_and_update(api: Api) -> None:
    """Contact details, sender, locale, zone and instructions change; only changed fields are audited."""
    before = api.get("/business").json()
    assert before["slug"] == "contoso" and before["phone"] == "+49 30 1234567"
    assert before["locales"] == ["en", "de"]

    change = {
        "phone": "+49 30 7654321",
        "email": " Hello@Contoso.Example ",
        "sender_name": "Contoso Team",
        "default_locale": "de",
        "timezone": "Europe/Vienna",
        "change_instructions": {"de": "Rufen Sie uns an.", "en": "Ring us."},
        "address": before["address"],
    }
    response = api.patch("/business", change)

    assert response.status_code == 200, response.text
    after = response.json()
    assert after["phone"] == "+49 30 7654321" and after["email"] == "hello@contoso.example"
    assert after["default_locale"] == "de" and after["timezone"] == "Europe/Vienna"
    assert after["locales"] == ["de", "en"]  # the default first
    assert after["change_instructions"] == {"de": "Rufen Sie uns an.", "en": "Ring us."}
    assert after["name"] == before["name"]
    assert api.get("/business").json() == after
    (audit,) = audits(api, "business.updated")
    assert audit.before is not None and audit.after is not None
    # the address, once normalized, is the one it was: no change
    assert set(audit.after) == {
        "phone", "sender_name", "default_locale", "locales", "timezone", "instructions",
    }  # fmt: skip
    assert audit.before["phone"] == "+49 30 1234567"


def test_business_change_instructions_per_language(sqlite_api: Api) -> None:
    """A language given replaces its text, an empty text removes it, null removes them all."""
    patch = sqlite_api.patch
    assert patch("/business", {"change_instructions": {"en": "Call us."}}).json()["change_instructions"] == {
        "en": "Call us."
    }
    both = patch("/business", {"change_instructions": {"de": "Ruf an."}}).json()["change_instructions"]
    assert both == {"en": "Call us.", "de": "Ruf an."}
    assert patch("/business", {"change_instructions": {"en": ""}}).json()["change_instructions"] == {
        "de": "Ruf an."
    }
    assert patch("/business", {"change_instructions": None}).json()["change_instructions"] == {}


def test_business_languages_change(sqlite_api: Api) -> None:
    """``locales`` sets the languages offered; a language dropped loses its texts."""
    sqlite_api.patch("/business", {"change_instructions": {"en": "Call us.", "de": "Ruf an."}})
    response = sqlite_api.patch("/business", {"locales": ["en"]})
    assert response.status_code == 200, response.text
    assert response.json()["locales"] == ["en"]
    assert response.json()["change_instructions"] == {"en": "Call us."}


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"default_locale": "xx"}, ("body", "default_locale")),
        ({"locales": ["en", "xx"]}, ("body", "locales")),
        ({"locales": []}, ("body", "locales")),
        ({"change_instructions": {"xx": "Ring us."}}, ("body", "change_instructions")),
        ({"change_instructions": "Ring us."}, ("body", "change_instructions")),
        ({"timezone": "Europe/Atlantis"}, ("body", "timezone")),
        ({"timezone": "Europe"}, ("body", "timezone")),  # a folder of the zone database
        ({"timezone": "x" * 300}, ("body", "timezone")),  # too long for a file name
        ({"email": "no-at-sign"}, ("body", "email")),
        ({"sender_email": "a@b"}, ("body", "sender_email")),
        ({"name": ""}, ("body", "name")),
        ({"name": None}, ("body", "name")),
        ({"slug": "other"}, ("body", "slug")),
    ],
)
def test_business_bad_update_is_422_and_changes_nothing(
    sqlite_api: Api, change: dict[str, Any], loc: tuple[str, ...]
) -> None:
    """Each bad field is named; the business stays as it was."""
    before = sqlite_api.get("/business").json()
    assert loc in errors_at(sqlite_api.patch("/business", change))
    assert sqlite_api.get("/business").json() == before
    assert audits(sqlite_api, "business.updated") == []


def test_services_list_get_and_update(api: Api) -> None:
    """Every setting of the issue changes by PATCH: toggle, cut-off, reminders, duration, buffers, staff."""
    listed = api.get("/services").json()
    assert [s["slug"] for s in listed] == ["haircut", "consultation"]
    haircut = api.get("/services/haircut").json()
    assert haircut["customer_can_manage"] is False and haircut["duration_minutes"] == 45
    assert haircut["staff"] == [BOB, CARLA]

    change = {
        "customer_can_manage": True,
        "change_cutoff_minutes": 120,
        "reminder_offsets_minutes": [60, 1440, 60],
        "duration_minutes": 60,
        "buffer_before_minutes": 5,
        "buffer_after_minutes": 10,
        "staff": [CARLA.upper()],
    }
    response = api.patch("/services/haircut", change)

    assert response.status_code == 200, response.text
    data = response.json()
    assert data["customer_can_manage"] is True and data["change_cutoff_minutes"] == 120
    assert data["reminder_offsets_minutes"] == [1440, 60]
    assert (data["duration_minutes"], data["buffer_before_minutes"], data["buffer_after_minutes"]) == (
        60,
        5,
        10,
    )
    assert data["staff"] == [CARLA]
    assert api.get("/services/haircut").json() == data
    (audit,) = audits(api, "service.updated")
    assert audit.before is not None and audit.before["staff"] == [BOB, CARLA]
    assert audit.after is not None and audit.after["customer_can_manage"] is True

    day = api.day.isoformat()
    slots = api.get(f"/slots?service=haircut&date={day}").json()
    assert {s["staff"] for s in slots} == {CARLA}  # Bob no longer performs it
    assert slots[0]["end"] > slots[0]["start"]
    booking = api.post("/bookings", api.booking_body(10, staff=BOB))
    assert booking.status_code == 422 and booking.json()["detail"][0]["loc"] == ["body", "staff"]


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"duration_minutes": 0}, ("body", "duration_minutes")),
        ({"buffer_before_minutes": -5}, ("body", "buffer_before_minutes")),
        ({"change_cutoff_minutes": "soon"}, ("body", "change_cutoff_minutes")),
        ({"reminder_offsets_minutes": [0]}, ("body", "reminder_offsets_minutes")),
        ({"reminder_offsets_minutes": list(range(1, 20))}, ("body", "reminder_offsets_minutes")),
        ({"customer_can_manage": "perhaps"}, ("body", "customer_can_manage")),
        ({"customer_can_manage": None}, ("body", "customer_can_manage")),
        ({"staff": ["nobody@contoso.example"]}, ("body", "staff", 0)),
        ({"staff": ["not an address"]}, ("body", "staff")),
        ({"slug": "renamed"}, ("body", "slug")),
    ],
)
def test_service_bad_update_is_422_and_changes_nothing(
    sqlite_api: Api, change: dict[str, Any], loc: tuple[str | int, ...]
) -> None:
    """Each bad setting is named; the service stays as it was."""
    before = sqlite_api.get("/services/haircut").json()
    assert loc in errors_at(sqlite_api.patch("/services/haircut", change))
    assert sqlite_api.get("/services/haircut").json() == before


def test_unknown_service_is_404(sqlite_api: Api) -> None:
    """GET and PATCH of a slug the business does not have."""
    assert sqlite_api.get("/services/massage").status_code == 404
    assert sqlite_api.patch("/services/massage", {"duration_minutes": 30}).status_code == 404


def test_staff_list(sqlite_api: Api) -> None:
    """Every staff member with role, hours and services; no password hash."""
    staff = sqlite_api.get("/staff").json()
    assert [(s["email"], s["role"]) for s in staff] == [
        ("admin@contoso.example", "admin"), (BOB, "staff"), (CARLA, "staff"),
    ]  # fmt: skip
    assert staff[1]["services"] == ["consultation", "haircut"] and staff[0]["services"] == []
    assert staff[1]["weekly_hours"]["0"] == [["09:00", "17:00"]]
    assert all("password_hash" not in s for s in staff)


def test_customers_list_and_get_by_email(api: Api) -> None:
    """Customers appear once booked; GET by address (any case); unknown is 404."""
    assert api.get("/customers").json() == []
    body = api.booking_body(10)
    body["customer"] |= {"locale": "de", "phone": "+49 171 1"}
    assert api.post("/bookings", body).status_code == 201

    (customer,) = api.get("/customers").json()
    assert customer == {
        "email": "ada@example.com", "name": "Ada Lovelace", "phone": "+49 171 1", "locale": "de",
        "timezone": "Europe/Berlin", "bouncing": False,
    }  # fmt: skip
    assert api.get("/customers/ADA@example.com").json() == customer
    assert api.get("/customers?email=ada@example.com").json() == [customer]
    assert api.get("/customers?email=bob@example.com").json() == []
    assert api.get("/customers/grace@example.com").status_code == 404
    assert api.get("/customers/nonsense").status_code == 404
    assert errors_at(api.get("/customers?limit=0")) == {("query", "limit"): "greater_than_equal"}


def test_an_admin_clears_a_bounce_flag_through_the_api(api: Api) -> None:
    """POST /customers/{email}/clear-bouncing lifts the flag a bounce set; unknown address is 404."""
    from sqlmodel import Session, select

    from mailflow.store.tables import Customer

    assert api.post("/bookings", api.booking_body(10)).status_code == 201
    with Session(api.app.engine) as session:
        customer = session.exec(select(Customer)).one()
        customer.bouncing = True
        session.add(customer)
        session.commit()
    assert api.get("/customers/ada@example.com").json()["bouncing"] is True
    cleared = api.post("/customers/Ada@example.com/clear-bouncing")
    assert cleared.status_code == 200 and cleared.json()["bouncing"] is False
    assert api.get("/customers/ada@example.com").json()["bouncing"] is False
    assert api.post("/customers/grace@example.com/clear-bouncing").status_code == 404
