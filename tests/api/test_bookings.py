"""Bookings through the API: create (201/409/422), read, list by date, reschedule, cancel, free slots.

Staff bookings follow the manage rule in their emails: the confirmation of a
staff booking of a service with ``customer_can_manage`` off has no Manage
link; turning the setting on through the API gives the next email one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlmodel import Session, func, select

from mailflow.store.tables import AuditEvent, Booking
from mailflow.web.deps import clock
from tests.api.conftest import BOB, CARLA, PUBLIC, Api, has_manage_link
from tests.conftest import berlin

BOOKING_KEYS = {"ref", "status", "origin", "service", "staff", "customer", "start", "end", "sequence"}


def errors_at(response: Any) -> dict[tuple[str | int, ...], str]:
    """A 422's field errors as {loc: type}."""
    assert response.status_code == 422, response.text
    return {tuple(error["loc"]): error["type"] for error in response.json()["detail"]}


def bookings_count(api: Api) -> int:
    with Session(api.app.engine) as session:
        return int(session.exec(select(func.count()).select_from(Booking)).one())


def test_create_answers_201_with_the_booking_json_and_a_manage_url(api: Api) -> None:
    """The shape of DESIGN §10: booking fields, customer defaults of the business, manage_url."""
    body = api.booking_body(10)
    body["customer"] |= {"locale": "de", "timezone": "Europe/Vienna", "phone": "+43 1 234"}
    response = api.post("/bookings", body)

    assert response.status_code == 201, response.text
    data = response.json()
    assert set(data) == BOOKING_KEYS | {"manage_url", "warnings"}
    assert data["status"] == "confirmed" and data["origin"] == "staff" and data["sequence"] == 0
    assert data["service"] == "haircut" and data["staff"] == BOB
    assert data["customer"] == {
        "email": "ada@example.com", "name": "Ada Lovelace", "locale": "de", "timezone": "Europe/Vienna",
    }  # fmt: skip
    assert data["start"] == berlin(api.day, 10).isoformat()
    assert data["end"] == berlin(api.day, 10, 45).isoformat()
    assert data["manage_url"].startswith(f"{PUBLIC}/m/") and "?" not in data["manage_url"]
    with Session(api.app.engine) as session:
        audit = session.exec(select(AuditEvent).where(AuditEvent.action == "booking.created")).one()
    assert audit.actor_kind == "staff" and audit.actor_label.startswith("API key mf_")


def test_start_without_offset_is_the_business_local_time(api: Api) -> None:
    """A naive start is read in Europe/Berlin, as the CLI does."""
    data = api.book(start=berlin(api.day, 11).replace(tzinfo=None).isoformat())
    assert data["start"] == berlin(api.day, 11).isoformat()


def test_taken_slot_is_409_and_changes_nothing(api: Api) -> None:
    """A second booking overlapping Bob's is refused with 409 and problem "taken"."""
    api.book(10)
    body = api.booking_body(10)
    body["start"] = berlin(api.day, 10, 30).isoformat()
    body["customer"] = {"email": "grace@example.com", "name": "Grace Hopper"}

    response = api.post("/bookings", body)

    assert response.status_code == 409
    assert response.json()["problem"] == "taken"
    assert bookings_count(api) == 1
    assert api.get("/customers/grace@example.com").status_code == 404


@pytest.mark.parametrize(
    ("change", "loc", "kind"),
    [
        ({"customer": {"email": "not-an-address", "name": "Ada"}},
         ("body", "customer", "email"), "value_error"),
        ({"customer": {"email": "ada@example.com", "name": " "}},
         ("body", "customer", "name"), "value_error"),
        ({"customer": {"email": "a@example.com", "name": "A", "timezone": "Mars/Base"}},
         ("body", "customer", "timezone"), "value_error"),
        ({"customer": {"email": "a@example.com", "name": "A", "locale": "fr"}},
         ("body", "customer", "locale"), "value_error"),
        ({"service": "massage"}, ("body", "service"), "not_found"),
        ({"staff": "nobody@contoso.example"}, ("body", "staff"), "not_found"),
        ({"staff": "admin@contoso.example"}, ("body", "staff"), "value_error"),
        ({"start": "next tuesday"}, ("body", "start"), "datetime_from_date_parsing"),
        ({"origin": "walk_in"}, ("body", "origin"), "enum"),
        ({"colour": "blue"}, ("body", "colour"), "extra_forbidden"),
    ],
)  # fmt: skip
def test_bad_input_is_422_naming_the_field(
    api: Api, change: dict[str, Any], loc: tuple[str, ...], kind: str
) -> None:
    """Each bad value gets a 422 whose error names its field; nothing is booked."""
    response = api.post("/bookings", api.booking_body(10, **change))
    assert errors_at(response).get(loc) == kind, response.text
    assert bookings_count(api) == 0


def test_time_outside_working_hours_is_422_at_start(api: Api) -> None:
    """An unbookable time (not a conflict) is a 422 at start with the core's problem code."""
    response = api.post("/bookings", api.booking_body(6))
    assert errors_at(response) == {("body", "start"): "slot_unavailable"}
    assert response.json()["detail"][0]["ctx"]["problem"] == "outside_working_hours"


def test_missing_body_fields_are_422(api: Api) -> None:
    """An empty body names every required field."""
    found = errors_at(api.post("/bookings", {}))
    assert {("body", name) for name in ("service", "staff", "customer", "start")} <= set(found)


def test_get_one_by_ref(api: Api) -> None:
    """GET by reference (case-insensitive) gives the booking without manage_url; unknown is 404."""
    made = api.book()
    response = api.get(f"/bookings/{made['ref'].lower()}")
    assert response.status_code == 200
    assert response.json() == {key: made[key] for key in BOOKING_KEYS}
    assert api.get("/bookings/BK-ZZZZZZ").status_code == 404


def test_list_by_date_range(api: Api) -> None:
    """from is inclusive, to exclusive; dates are local midnights, date-times work too."""
    first = api.book(10)["ref"]
    api.day += timedelta(days=1)
    second = api.book(10)["ref"]
    day_one, day_two = api.day - timedelta(days=1), api.day

    def refs(query: str) -> list[str]:
        response = api.get(f"/bookings{query}")
        assert response.status_code == 200, response.text
        return [b["ref"] for b in response.json()]

    assert refs("") == [first, second]
    assert refs(f"?from={day_one}&to={day_two}") == [first]
    assert refs(f"?from={day_two}") == [second]
    assert refs(f"?to={day_one}") == []
    noon = berlin(day_one, 12).isoformat().replace("+", "%2B")
    assert refs(f"?from={noon}") == [second]
    assert refs("?service=haircut&staff=bob@contoso.example") == [first, second]
    assert refs("?service=consultation") == []
    assert errors_at(api.get("/bookings?from=soon")) == {("query", "from"): "value_error"}
    assert errors_at(api.get("/bookings?status=maybe")) == {("query", "status"): "string_pattern_mismatch"}


@pytest.mark.parametrize("how", ["post", "patch"])
def test_reschedule_moves_the_booking_and_tells_the_customer(api: Api, how: str) -> None:
    """POST …/reschedule and PATCH move it (to another staff member too); sequence rises."""
    made = api.book(10)
    body = {"start": berlin(api.day, 14).isoformat(), "staff": CARLA}
    if how == "post":
        response = api.post(f"/bookings/{made['ref']}/reschedule", body)
    else:
        response = api.patch(f"/bookings/{made['ref']}", body)

    assert response.status_code == 200, response.text
    data = response.json()
    assert data["start"] == berlin(api.day, 14).isoformat() and data["staff"] == CARLA
    assert data["sequence"] == 1 and "manage_url" not in data
    assert len(api.outbox("rescheduled")) == 1
    assert len(api.outbox("booking_reassigned", CARLA)) == 1


def test_reschedule_onto_a_taken_slot_is_409_and_bad_moves_are_422(api: Api) -> None:
    """Moving onto another booking is 409; an unknown staff member, a bad time are 422; unknown ref 404."""
    made = api.book(10)
    api.book(14, staff=CARLA)
    path = f"/bookings/{made['ref']}/reschedule"

    taken = api.post(path, {"start": berlin(api.day, 14).isoformat(), "staff": CARLA})
    assert taken.status_code == 409 and taken.json()["problem"] == "taken"
    unknown = api.post(path, {"start": berlin(api.day, 12).isoformat(), "staff": "x@contoso.example"})
    assert errors_at(unknown) == {("body", "staff"): "not_found"}
    not_theirs = api.post(path, {"start": berlin(api.day, 12).isoformat(), "staff": "admin@contoso.example"})
    assert errors_at(not_theirs) == {("body", "staff"): "value_error"}
    same = api.post(path, {"start": made["start"]})
    assert errors_at(same) == {("body", "start"): "value_error"}
    assert errors_at(api.post(path, {})) == {("body", "start"): "missing"}
    assert api.post("/bookings/BK-ZZZZZZ/reschedule", {"start": made["start"]}).status_code == 404
    assert api.get(f"/bookings/{made['ref']}").json()["start"] == made["start"]


def test_cancel_with_reason(api: Api) -> None:
    """Cancel frees the slot and tells the customer the reason; cancelling again is 409."""
    made = api.book(10)
    response = api.post(f"/bookings/{made['ref']}/cancel", {"reason": "Staff ill"})

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    (cancelled,) = api.outbox("cancelled")
    text = cancelled.get_body(("plain",))
    assert text is not None and "Staff ill" in text.get_content()
    again = api.post(f"/bookings/{made['ref']}/cancel")
    assert again.status_code == 409 and again.json()["problem"] == "cancelled"
    assert api.book(10)["status"] == "confirmed"  # the slot is free again
    assert api.post("/bookings/BK-ZZZZZZ/cancel").status_code == 404


def test_staff_booking_confirmation_has_no_manage_button_when_setting_off(api: Api) -> None:
    """haircut has customer_can_manage off: the staff booking's confirmation shows no Manage link."""
    api.book(10, service="haircut")
    (confirmation,) = api.outbox("confirmation")
    assert not has_manage_link(confirmation)
    assert "+49 30 1234567" in str(confirmation.get_body(("plain",)).get_content())  # type: ignore[union-attr]


def test_self_service_booking_through_the_api_has_the_button(api: Api) -> None:
    """The same service booked with origin self_service: the customer may manage it."""
    api.book(10, service="haircut", origin="self_service")
    (confirmation,) = api.outbox("confirmation")
    assert has_manage_link(confirmation)


def test_turning_the_setting_on_through_the_api_gives_the_next_email_the_button(api: Api) -> None:
    """PATCH customer_can_manage on; the next email of the existing staff booking carries the link."""
    made = api.book(10, service="haircut")
    assert not has_manage_link(api.outbox("confirmation")[0])

    response = api.patch("/services/haircut", {"customer_can_manage": True})
    assert response.status_code == 200 and response.json()["customer_can_manage"] is True
    moved = api.post(f"/bookings/{made['ref']}/reschedule", {"start": berlin(api.day, 11).isoformat()})
    assert moved.status_code == 200

    (rescheduled,) = api.outbox("rescheduled")
    assert has_manage_link(rescheduled)

    api.patch("/services/haircut", {"customer_can_manage": False})
    api.post(f"/bookings/{made['ref']}/reschedule", {"start": berlin(api.day, 12).isoformat()})
    assert not has_manage_link(api.outbox("rescheduled")[-1])


def test_free_slots_by_day_and_staff(api: Api) -> None:
    """Slots of a day, each start once for "any staff"; a booking takes its slot away; bad queries fail."""

    def starts(query: str) -> list[tuple[str, str]]:
        response = api.get(f"/slots{query}")
        assert response.status_code == 200, response.text
        return [(s["start"], s["staff"]) for s in response.json()]

    ten = berlin(api.day, 10).isoformat()
    day = api.day.isoformat()
    slots = starts(f"?service=haircut&date={day}")
    assert (ten, BOB) in slots and (ten, CARLA) in starts(f"?service=haircut&date={day}&staff={CARLA}")
    assert all(start.startswith(day) for start, _ in slots)
    api.book(10)
    after = starts(f"?service=haircut&date={day}")
    assert (ten, BOB) not in after and (ten, CARLA) in after
    assert (ten, BOB) not in starts(f"?service=haircut&date={day}&staff={BOB}")
    assert {staff for _, staff in starts(f"?service=haircut&date={day}&staff={CARLA}")} == {CARLA}
    week = starts(f"?service=consultation&from={day}&to={api.day + timedelta(days=6)}")
    assert len({start[:10] for start, _ in week}) == 5  # Tuesday to Monday: five working days

    assert api.get(f"/slots?service=massage&date={day}").status_code == 404
    assert api.get(f"/slots?service=haircut&date={day}&staff=x@contoso.example").status_code == 404
    assert errors_at(api.get("/slots?service=haircut")) == {("query", "date"): "value_error"}
    assert errors_at(api.get(f"/slots?service=haircut&from={day}&to=2000-01-01")) == {
        ("query", "to"): "value_error"
    }
    assert ("query", "date") in errors_at(api.get("/slots?service=haircut&date=tomorrow"))


def test_nul_characters_are_422_not_a_server_error(api: Api) -> None:
    """PostgreSQL text cannot hold NUL: in a path, a query or a body it is a 422 naming the field."""
    assert errors_at(api.get("/bookings/BK-%00")) == {("path", "ref"): "string_nul"}
    assert errors_at(api.get("/bookings?staff=a%00b")) == {("query", "staff"): "string_nul"}
    assert errors_at(api.get("/customers/a%00@example.com")) == {("path", "email"): "string_nul"}
    body = api.booking_body(10)
    body["customer"]["name"] = "Ada\x00"
    assert errors_at(api.post("/bookings", body)) == {("body", "customer", "name"): "value_error"}
    assert errors_at(api.patch("/services/haircut", {"location": "\x00"})) == {
        ("body", "location"): "value_error"
    }
    assert bookings_count(api) == 0


def test_days_at_the_ends_of_the_calendar_are_answered_not_a_server_error(api: Api) -> None:
    """Years 1 and 9999 (their conversions overflow): no slots, bounds that change no answer, and a
    start there is a 422 at start with the problem out_of_range; nothing is booked."""
    made = api.book(10)["ref"]
    for query in ("/slots?service=haircut&date=9999-12-31", "/slots?service=haircut&date=0001-01-01"):
        response = api.get(query)
        assert (response.status_code, response.json()) == (200, [])
    for query, found in (("?from=0001-01-01", [made]), ("?to=9999-12-31", [made]), ("?from=9999-12-31", [])):
        response = api.get(f"/bookings{query}")
        assert response.status_code == 200 and [b["ref"] for b in response.json()] == found
    for start in ("9999-12-31T23:59:00-14:00", "0001-01-01T00:00:00+14:00"):
        response = api.post("/bookings", api.booking_body(10, start=start))
        assert errors_at(response) == {("body", "start"): "slot_unavailable"}
        assert response.json()["detail"][0]["ctx"]["problem"] == "out_of_range"
    assert bookings_count(api) == 1


def test_api_reads_the_time_from_the_web_clock_dependency(api: Api) -> None:
    """The API's one clock is ``web.deps.clock``, as for the pages: overriding it to noon of a day
    leaves that day's slots after noon only, and the time of a booking made then is noon."""
    day = api.day.isoformat()
    noon = berlin(api.day, 12)
    web = api.client.app
    assert isinstance(web, FastAPI)
    assert any(s["start"] < noon.isoformat() for s in api.get(f"/slots?service=haircut&date={day}").json())

    web.dependency_overrides[clock] = lambda: noon
    try:
        slots = api.get(f"/slots?service=haircut&date={day}").json()
        made = api.book(15)
    finally:
        web.dependency_overrides.clear()

    assert slots and all(datetime.fromisoformat(s["start"]) > noon for s in slots)
    with Session(api.app.engine) as session:
        created = session.exec(select(Booking.created_at).where(Booking.ref == made["ref"])).one()
    assert created == noon


def test_create_takes_a_note_for_the_business(api: Api) -> None:
    """``note`` is kept on the booking and shown to staff; the answer's fields stay as they were."""
    data = api.book(note="Please use the fragrance-free shampoo.")
    assert set(data) == BOOKING_KEYS | {"manage_url", "warnings"}
    with Session(api.app.engine) as session:
        booking = session.exec(select(Booking).where(Booking.ref == data["ref"])).one()
    assert booking.note == "Please use the fragrance-free shampoo."
    (told,) = api.outbox("booking_created", BOB)
    text = told.get_body(("plain",))
    assert text is not None and "Note:          Please use the fragrance-free shampoo." in text.get_content()


def test_a_note_over_the_limit_is_refused_at_its_field(api: Api) -> None:
    """A note of more than 1000 characters is a 422 at ``body.note``; nothing is booked."""
    response = api.post("/bookings", api.booking_body(10, note="x" * 1001))
    assert response.status_code == 422
    assert any(error["loc"] == ["body", "note"] for error in response.json()["detail"])
    assert bookings_count(api) == 0
