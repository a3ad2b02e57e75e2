"""Setting a business up through the API only: staff, hours, services, time off, closures, holidays.

Starts from a business made by ``create_business`` and an API key (no demo), on SQLite and
PostgreSQL; then bookings and free slots honour what was entered, changes over bookings list
them as ``affected``, and bad input names its field and stores nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import holidays
import pytest
from sqlmodel import Session, col, func, select

from mailflow.booking.model import Actor, ActorKind
from mailflow.services.business import create_business
from mailflow.store.tables import AuditEvent, Booking, Reminder
from tests.api.conftest import BOB, Api, make_app
from tests.conftest import berlin

ANNA = "anna@salon.example"
WORKDAY = [["09:00", "12:00"], ["13:00", "17:00"]]  # a lunch break 12:00-13:00


def errors_at(response: Any) -> dict[tuple[str | int, ...], str]:
    assert response.status_code == 422, response.text
    return {tuple(error["loc"]): error["type"] for error in response.json()["detail"]}


def new_salon(db_url: str, tmp_path: Path, now: datetime, day: date) -> Api:
    """A business made by the service layer (English and German), no staff or services yet."""
    app = make_app(db_url, tmp_path, now, demo=False)
    create_business(
        app.engine,
        slug="salon",
        name="City Salon",
        timezone="Europe/Berlin",
        locale="en",
        languages=["en", "de"],
        actor=Actor(ActorKind.SYSTEM, "test"),
        now=now,
    )
    return Api(app, now, day, business="salon")


@pytest.fixture
def salon(db_url: str, tmp_path: Path, now: datetime, next_tuesday: date) -> Iterator[Api]:
    """The API of a new business, on SQLite and on PostgreSQL."""
    api = new_salon(db_url, tmp_path, now, next_tuesday)
    yield api
    api.app.close()


@pytest.fixture
def sqlite_salon(
    sqlite_engine: Any, sqlite_url: str, tmp_path: Path, now: datetime, next_tuesday: date
) -> Iterator[Api]:
    """The same on SQLite only, for what does not depend on the database engine."""
    api = new_salon(sqlite_url, tmp_path, now, next_tuesday)
    yield api
    api.app.close()


@dataclass(frozen=True)
class SetUp:
    """The days the set-up used: ``day`` is an open working Tuesday."""

    day: date
    time_off_day: date
    closed_day: date
    holiday: date


def bavarian_holidays(first: date) -> dict[date, str]:
    return dict(holidays.country_holidays("DE", subdiv="BY", years=[first.year, first.year + 1]))


def set_up(api: Api) -> SetUp:
    """The whole set-up, through the API only; asserts every step succeeds."""
    closed = bavarian_holidays(api.day)
    day = api.day
    while any(d in closed for d in (day, day + timedelta(days=1), day + timedelta(days=2))):
        day += timedelta(days=7)
    time_off_day, closed_day = day + timedelta(days=1), day + timedelta(days=2)

    staff = api.post("/staff", {"email": ANNA, "name": "Anna", "locale": "de"})
    assert staff.status_code == 201, staff.text
    week = {name: WORKDAY for name in ("mon", "tue", "wed", "thu", "fri")}
    hours = api.put(f"/staff/{ANNA}/hours", week)
    assert hours.status_code == 200, hours.text
    service = api.post(
        "/services",
        {
            "slug": "haircut",
            "names": {"en": "Haircut", "de": "Haarschnitt"},
            "duration_minutes": 30,
            "horizon_days": 730,
            "staff": [ANNA],
        },
    )
    assert service.status_code == 201, service.text
    start, end = f"{time_off_day}T09:00:00", f"{time_off_day}T17:00:00"
    time_off = api.post(f"/staff/{ANNA}/time-off", {"start": start, "end": end, "reason": "Dentist"})
    assert time_off.status_code == 201, time_off.text
    closure = api.post("/closures", {"from": closed_day.isoformat(), "label": "Staff outing"})
    assert closure.status_code == 201, closure.text
    imported = api.post("/closures/holidays", {"country": "DE", "subdivision": "BY", "year": day.year + 1})
    assert imported.status_code == 201, imported.text
    holiday = date.fromisoformat(imported.json()["closures"][0]["from"])
    return SetUp(day, time_off_day, closed_day, holiday)


def booking(api: Api, day: date, hour: int, minute: int = 0, staff: str = ANNA) -> dict[str, Any]:
    return {
        "service": "haircut",
        "staff": staff,
        "customer": {"email": "ada@example.com", "name": "Ada Lovelace", "locale": "de"},
        "start": berlin(day, hour, minute).isoformat(),
    }


def refused_because(response: Any) -> str:
    """The problem code of a booking refused with 422 ``slot_unavailable`` at ``body.start``."""
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["type"] == "slot_unavailable" and error["loc"] == ["body", "start"]
    problem: str = error["ctx"]["problem"]
    return problem


def audit_count(api: Api) -> int:
    with Session(api.app.engine) as session:
        return session.exec(select(func.count()).select_from(AuditEvent)).one()


# --- the set-up, then bookings -------------------------------------------------------------


def test_setup_through_the_api_gives_a_bookable_business(salon: Api) -> None:
    """After the set-up a free slot books (201) with the staff member and the service just made."""
    days = set_up(salon)

    response = salon.post("/bookings", booking(salon, days.day, 10))

    assert response.status_code == 201, response.text
    assert response.json()["service"] == "haircut" and response.json()["staff"] == ANNA


def test_setup_is_shown_back_as_entered(salon: Api) -> None:
    """Hours with a lunch break, names per language, time off and closures read back as entered."""
    days = set_up(salon)

    (anna,) = salon.get("/staff").json()
    assert anna["hours"]["tue"] == WORKDAY and "sat" not in anna["hours"]
    assert anna["services"] == ["haircut"] and anna["timezone"] == "Europe/Berlin"
    haircut = salon.get("/services/haircut").json()
    assert haircut["name"] == "Haircut" and haircut["names"] == {"en": "Haircut", "de": "Haarschnitt"}
    assert haircut["staff"] == [ANNA]
    (time_off,) = salon.get(f"/staff/{ANNA}/time-off").json()
    start = datetime.fromisoformat(time_off["start"])
    assert (
        start == berlin(days.time_off_day, 9)
        and start.utcoffset() == berlin(days.time_off_day, 9).utcoffset()
    )
    assert time_off["reason"] == "Dentist"
    closures = salon.get("/closures").json()
    assert {"from": days.closed_day.isoformat(), "to": days.closed_day.isoformat()}.items() <= next(
        c for c in closures if c["label"] == "Staff outing"
    ).items()
    assert any(c["from"] == days.holiday.isoformat() for c in closures)


def test_booking_in_the_lunch_break_is_refused(salon: Api) -> None:
    """12:30 lies between the two periods of the day: 422 outside_working_hours."""
    days = set_up(salon)
    assert (
        refused_because(salon.post("/bookings", booking(salon, days.day, 12, 30))) == "outside_working_hours"
    )


def test_booking_in_time_off_is_refused(salon: Api) -> None:
    """A working hour inside the staff member's time off: 422 time_off."""
    days = set_up(salon)
    assert refused_because(salon.post("/bookings", booking(salon, days.time_off_day, 10))) == "time_off"


def test_booking_on_a_closed_day_is_refused(salon: Api) -> None:
    """A working hour on a closure entered by hand: 422 closed."""
    days = set_up(salon)
    assert refused_because(salon.post("/bookings", booking(salon, days.closed_day, 10))) == "closed"


def test_booking_on_an_imported_holiday_is_refused(sqlite_salon: Api) -> None:
    """A public holiday imported for DE/BY is closed: 422 closed."""
    days = set_up(sqlite_salon)
    assert (
        refused_because(sqlite_salon.post("/bookings", booking(sqlite_salon, days.holiday, 10))) == "closed"
    )


def test_slots_leave_out_the_lunch_break(salon: Api) -> None:
    """Free slots run 09:00-11:30 and 13:00-16:30: none starts or ends inside 12:00-13:00."""
    days = set_up(salon)

    slots = salon.get(f"/slots?service=haircut&date={days.day}").json()

    starts = {datetime.fromisoformat(s["start"]).strftime("%H:%M") for s in slots}
    assert "09:00" in starts and "11:30" in starts and "13:00" in starts
    assert not starts & {"12:00", "12:30", "11:45", "12:15"}
    for slot in slots:
        start, end = datetime.fromisoformat(slot["start"]), datetime.fromisoformat(slot["end"])
        lunch = (berlin(days.day, 12), berlin(days.day, 13))
        assert end <= lunch[0] or start >= lunch[1]
    assert salon.get(f"/slots?service=haircut&date={days.closed_day}").json() == []
    assert salon.get(f"/slots?service=haircut&date={days.time_off_day}").json() == []


# --- changes over bookings are never silent ------------------------------------------------


def test_time_off_over_a_booking_lists_it_as_affected(salon: Api) -> None:
    """The 201 answer names the confirmed booking inside the new time off; the booking stays."""
    days = set_up(salon)
    ref = salon.post("/bookings", booking(salon, days.day, 10)).json()["ref"]

    response = salon.post(
        f"/staff/{ANNA}/time-off", {"start": f"{days.day}T09:30:00", "end": f"{days.day}T11:00:00"}
    )

    assert response.status_code == 201, response.text
    assert [b["ref"] for b in response.json()["affected"]] == [ref]
    assert salon.get(f"/bookings/{ref}").json()["status"] == "confirmed"


def test_closure_over_a_booking_lists_it_as_affected(salon: Api) -> None:
    """The 201 answer names the confirmed booking on the newly closed day."""
    days = set_up(salon)
    ref = salon.post("/bookings", booking(salon, days.day, 10)).json()["ref"]

    response = salon.post("/closures", {"from": days.day.isoformat(), "label": "Burst pipe"})

    assert response.status_code == 201, response.text
    assert [b["ref"] for b in response.json()["affected"]] == [ref]
    assert response.json()["closures"][0]["label"] == "Burst pipe"


def test_deactivating_staff_lists_their_upcoming_bookings(sqlite_salon: Api) -> None:
    """PATCH with active false answers with the staff member's upcoming bookings as affected."""
    days = set_up(sqlite_salon)
    ref = sqlite_salon.post("/bookings", booking(sqlite_salon, days.day, 10)).json()["ref"]

    response = sqlite_salon.patch(f"/staff/{ANNA}", {"active": False, "name": "Anna B."})

    assert response.status_code == 200, response.text
    assert response.json()["active"] is False and response.json()["name"] == "Anna B."
    assert [b["ref"] for b in response.json()["affected"]] == [ref]
    assert sqlite_salon.patch(f"/staff/{ANNA}", {"name": "Anna"}).json()["affected"] == []


def test_removing_time_off_and_a_closure_opens_the_days_again(sqlite_salon: Api) -> None:
    """DELETE gives the removed item; the days book again afterwards."""
    days = set_up(sqlite_salon)
    (time_off,) = sqlite_salon.get(f"/staff/{ANNA}/time-off").json()
    closure = next(
        c for c in sqlite_salon.get("/closures").json() if c["from"] == days.closed_day.isoformat()
    )

    assert sqlite_salon.delete(f"/staff/{ANNA}/time-off/{time_off['id']}").json()["id"] == time_off["id"]
    assert sqlite_salon.delete(f"/closures/{closure['id']}").json() == closure

    assert sqlite_salon.post("/bookings", booking(sqlite_salon, days.time_off_day, 10)).status_code == 201
    assert sqlite_salon.post("/bookings", booking(sqlite_salon, days.closed_day, 11)).status_code == 201
    assert sqlite_salon.get(f"/staff/{ANNA}/time-off").json() == []


def test_importing_holidays_twice_adds_nothing(sqlite_salon: Api) -> None:
    """The second import skips every day already closed."""
    body = {"country": "de", "subdivision": "by", "year": 2030}
    first = sqlite_salon.post("/closures/holidays", body).json()
    second = sqlite_salon.post("/closures/holidays", body).json()
    assert len(first["closures"]) >= 10 and first["skipped"] == []
    assert second["closures"] == [] and len(second["skipped"]) == len(first["closures"])


# --- services and staff --------------------------------------------------------------------


def test_service_name_changes_per_language(sqlite_salon: Api) -> None:
    """``name`` is the default language's; a language given replaces its text, an empty one goes."""
    set_up(sqlite_salon)
    renamed = sqlite_salon.patch("/services/haircut", {"name": "Cut", "names": {"de": "Schnitt"}}).json()
    assert renamed["name"] == "Cut" and renamed["names"] == {"en": "Cut", "de": "Schnitt"}
    dropped = sqlite_salon.patch("/services/haircut", {"names": {"de": ""}}).json()
    assert dropped["names"] == {"en": "Cut"}


def test_archived_service_stays_listed_inactive(sqlite_salon: Api) -> None:
    """Archiving keeps the service (bookings refer to it), inactive; PATCH active brings it back."""
    set_up(sqlite_salon)
    assert sqlite_salon.post("/services/haircut/archive").json()["active"] is False
    assert [s["active"] for s in sqlite_salon.get("/services").json()] == [False]
    assert sqlite_salon.patch("/services/haircut", {"active": True}).json()["active"] is True


def test_staff_added_with_hours_and_changed(sqlite_salon: Api) -> None:
    """POST takes the week at once; PATCH changes name, role and zone; PUT replaces the week."""
    week = {"mon": [["08:00", "14:00"]], "sat": [["10:00", "13:00"]]}
    added = sqlite_salon.post("/staff", {"email": "Ben@Salon.Example", "name": "Ben", "hours": week})
    assert added.status_code == 201, added.text
    assert added.json()["email"] == "ben@salon.example" and added.json()["hours"] == week

    changed = sqlite_salon.patch(
        "/staff/ben@salon.example", {"name": "Benedikt", "role": "admin", "timezone": "Europe/Vienna"}
    ).json()
    assert (changed["name"], changed["role"], changed["timezone"]) == ("Benedikt", "admin", "Europe/Vienna")

    replaced = sqlite_salon.put("/staff/ben@salon.example/hours", {"tue": [["09:00", "10:00"]]}).json()
    assert replaced["hours"] == {"tue": [["09:00", "10:00"]]}  # the days left out are off


def test_unknown_things_are_404(sqlite_salon: Api) -> None:
    """Unknown staff, service, time off or closure: 404."""
    set_up(sqlite_salon)
    assert sqlite_salon.put("/staff/nobody@salon.example/hours", {}).status_code == 404
    assert sqlite_salon.patch("/staff/nobody@salon.example", {"name": "X"}).status_code == 404
    assert sqlite_salon.get("/staff/nobody@salon.example/time-off").status_code == 404
    assert sqlite_salon.post("/services/massage/archive").status_code == 404
    assert sqlite_salon.delete(f"/staff/{ANNA}/time-off/999999").status_code == 404
    assert sqlite_salon.delete("/closures/999999").status_code == 404
    assert sqlite_salon.delete("/closures/-1").status_code == 404


def test_another_business_keys_reach_nothing_of_this_one(sqlite_salon: Api) -> None:
    """The demo business's key cannot remove this business's closures or time off."""
    from mailflow.demo import seed_demo

    set_up(sqlite_salon)
    seed_demo(sqlite_salon.app.engine, sqlite_salon.now)
    other = sqlite_salon.new_key("contoso")
    (time_off,) = sqlite_salon.get(f"/staff/{ANNA}/time-off").json()
    closure_id = sqlite_salon.get("/closures").json()[0]["id"]
    assert sqlite_salon.delete(f"/closures/{closure_id}", key=other).status_code == 404
    assert sqlite_salon.delete(f"/staff/{ANNA}/time-off/{time_off['id']}", key=other).status_code == 404
    assert sqlite_salon.get("/staff", key=other).json()[0]["email"] == "admin@contoso.example"


# --- bad input names the field and stores nothing ------------------------------------------


BAD_INPUT = [
    ("put", f"/staff/{ANNA}/hours", {"mon": [["09:00", "12:00"], ["11:00", "14:00"]]}, ("body", "mon")),
    ("put", f"/staff/{ANNA}/hours", {"tue": [["17:00", "09:00"]]}, ("body", "tue")),
    ("put", f"/staff/{ANNA}/hours", {"wed": [["9am", "5pm"]]}, ("body", "wed")),
    ("put", f"/staff/{ANNA}/hours", {"monday": [["09:00", "12:00"]]}, ("body", "monday")),
    (
        "post",
        "/staff",
        {"email": "x@salon.example", "name": "X", "timezone": "Mars/Olympus"},
        ("body", "timezone"),
    ),
    ("post", "/staff", {"email": ANNA.upper(), "name": "Anna again"}, ("body", "email")),
    ("post", "/staff", {"email": "x@salon.example", "name": "X", "locale": "fr"}, ("body", "locale")),
    ("patch", f"/staff/{ANNA}", {"timezone": "Europe/Atlantis"}, ("body", "timezone")),
    ("patch", "/business", {"timezone": "Europe/Atlantis"}, ("body", "timezone")),
    (
        "post",
        "/services",
        {"slug": "haircut", "name": "Again", "duration_minutes": 30, "staff": [ANNA]},
        ("body", "slug"),
    ),
    (
        "post",
        "/services",
        {"slug": "shave", "name": "Shave", "duration_minutes": 30, "staff": []},
        ("body", "staff"),
    ),
    (
        "post",
        "/services",
        {"slug": "shave", "names": {"de": "Rasur"}, "duration_minutes": 30, "staff": [ANNA]},
        ("body", "names"),
    ),
    (
        "post",
        "/services",
        {"slug": "shave", "names": {"en": "Shave", "fr": "Rasage"}, "duration_minutes": 30, "staff": [ANNA]},
        ("body", "names"),
    ),
    (
        "post",
        "/services",
        {"slug": "Shave It", "name": "Shave", "duration_minutes": 30, "staff": [ANNA]},
        ("body", "slug"),
    ),
    ("patch", "/services/haircut", {"name": "Cut", "names": {"en": "Trim"}}, ("body", "name")),
    ("post", "/closures", {"from": "CLOSED", "label": "Again"}, ("body", "from")),
    ("post", "/closures", {"from": "2031-01-05", "to": "2031-01-01"}, ("body", "to")),
    ("post", "/closures/holidays", {"country": "XX", "year": 2030}, ("body", "country")),
    (
        "post",
        "/closures/holidays",
        {"country": "DE", "subdivision": "ZZ", "year": 2030},
        ("body", "subdivision"),
    ),
    ("post", f"/staff/{ANNA}/time-off", {"start": "OFF09", "end": "OFF12"}, ("body", "start")),
    (
        "post",
        f"/staff/{ANNA}/time-off",
        {"start": "2031-01-02T12:00", "end": "2031-01-02T09:00"},
        ("body", "end"),
    ),
    (
        "post",
        f"/staff/{ANNA}/time-off",
        {"start": "0001-01-01T00:00+05:00", "end": "2031-01-02T09:00"},
        ("body", "start"),
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "loc"), BAD_INPUT)
def test_bad_setup_input_names_the_field_and_stores_nothing(
    sqlite_salon: Api, method: str, path: str, body: dict[str, Any], loc: tuple[str, ...]
) -> None:
    """422 at the field (FastAPI's shape); every listing and the audit trail stay as they were."""
    days = set_up(sqlite_salon)
    closed, (time_off,) = days.closed_day.isoformat(), sqlite_salon.get(f"/staff/{ANNA}/time-off").json()
    body = {  # the placeholders: over the closure and the time off just entered
        name: {"CLOSED": closed, "OFF09": time_off["start"], "OFF12": time_off["end"]}.get(value, value)
        if isinstance(value, str)
        else value
        for name, value in body.items()
    }
    views = ("/business", "/services", "/staff", "/closures", f"/staff/{ANNA}/time-off")
    before, audited = [sqlite_salon.get(view).json() for view in views], audit_count(sqlite_salon)

    response = getattr(sqlite_salon, method)(path, body)

    assert loc in errors_at(response), response.text
    assert [sqlite_salon.get(view).json() for view in views] == before
    assert audit_count(sqlite_salon) == audited


# --- reminder offsets changed through the API ----------------------------------------------


def pending_reminders(api: Api, ref: str) -> list[int]:
    with Session(api.app.engine) as session:
        booking_id = session.exec(select(Booking.id).where(Booking.ref == ref)).one()
        return list(
            session.exec(
                select(Reminder.offset_minutes)
                .where(Reminder.booking_id == booking_id, Reminder.status == "pending")
                .order_by(col(Reminder.offset_minutes))
            )
        )


def test_offsets_changed_through_the_api_replan_reminders_and_are_audited(api: Api) -> None:
    """24 h -> 1 h -> 24 h: each change re-plans pending reminders and is audited as service.updated;
    at the end each booking has exactly one pending 24 h reminder."""
    refs = [api.book(10)["ref"], api.book(14, staff=BOB)["ref"]]
    assert [pending_reminders(api, ref) for ref in refs] == [[1440], [1440]]

    assert api.patch("/services/haircut", {"reminder_offsets_minutes": [60]}).status_code == 200
    assert [pending_reminders(api, ref) for ref in refs] == [[60], [60]]
    assert api.patch("/services/haircut", {"reminder_offsets_minutes": [1440]}).status_code == 200

    assert [pending_reminders(api, ref) for ref in refs] == [[1440], [1440]]
    with Session(api.app.engine) as session:
        audits = session.exec(select(AuditEvent).where(AuditEvent.action == "service.updated")).all()
    assert [a.after for a in audits] == [
        {"reminder_offsets_minutes": [60]},
        {"reminder_offsets_minutes": [1440]},
    ]
