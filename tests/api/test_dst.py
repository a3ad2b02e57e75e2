"""Daylight saving through the API, on SQLite and PostgreSQL (issue 16, item 3).

Bob of the demo business gets Sunday hours 00:00-06:00 with ``mailflow staff hours``;
on 2027-03-28 Berlin's clocks go forward at 02:00, on 2027-10-31 back at 03:00.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.conftest import BOB, Api


@pytest.fixture
def sunday_api(api: Api, run_cli: Any, db_url: str) -> Api:
    """The demo API with Bob working Sundays 00:00-06:00 and consultations bookable a year ahead."""
    env = {"MAILFLOW_DATABASE_URL": db_url}
    run_cli("staff", "hours", BOB, "--sun", "00:00-06:00", env=env, check=True)
    run_cli("services", "update", "consultation", "--horizon-days", "400", env=env, check=True)
    return api


def create(api: Api, start: str, service: str = "consultation") -> Any:
    body = {
        "service": service,
        "staff": BOB,
        "customer": {"email": "ada@example.com", "name": "Ada Lovelace"},
        "start": start,
        "origin": "staff",
    }
    return api.post("/bookings", body)


def sunday(api: Api, day: str) -> list[dict[str, Any]]:
    found = api.get(f"/bookings?from={day}&to={day}T23:59")
    assert found.status_code == 200, found.text
    listed: list[dict[str, Any]] = found.json()
    return listed


def test_a_start_the_clocks_skip_is_422_at_start_and_books_nothing(sunday_api: Api) -> None:
    """2027-03-28T02:30 without an offset: 422 at body.start saying the clocks go forward; nothing stored."""
    response = create(sunday_api, "2027-03-28T02:30:00")
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "start"]
    assert "does not exist" in error["msg"] and "clocks go forward" in error["msg"]
    assert sunday(sunday_api, "2027-03-28") == []


def test_a_repeated_start_is_422_naming_both_offsets_and_books_with_one(sunday_api: Api) -> None:
    """2027-10-31T02:30 happens twice: 422 naming both; each offset books a 30-minute appointment."""
    response = create(sunday_api, "2027-10-31T02:30:00")
    assert response.status_code == 422, response.text
    message = response.json()["detail"][0]["msg"]
    assert "2027-10-31T02:30+02:00" in message and "2027-10-31T02:30+01:00" in message
    assert sunday(sunday_api, "2027-10-31") == []
    summer = create(sunday_api, "2027-10-31T02:30:00+02:00")
    winter = create(sunday_api, "2027-10-31T02:30:00+01:00")
    assert (summer.status_code, winter.status_code) == (201, 201), (summer.text, winter.text)
    assert summer.json()["end"] == "2027-10-31T02:00:00+01:00"
    assert winter.json()["end"] == "2027-10-31T03:00:00+01:00"


def test_a_booking_across_the_spring_change_blocks_its_real_half_hour(sunday_api: Api) -> None:
    """01:45 + 30 minutes ends at 03:15 summer time; 03:00 then is taken (409), not double booked."""
    first = create(sunday_api, "2027-03-28T01:45:00")
    assert first.status_code == 201, first.text
    assert first.json()["end"] == "2027-03-28T03:15:00+02:00"
    second = create(sunday_api, "2027-03-28T03:00:00")
    assert second.status_code == 409, second.text
    assert len(sunday(sunday_api, "2027-03-28")) == 1


@pytest.mark.parametrize(("day", "hours"), [("2027-03-28", 5), ("2027-10-31", 7)])
def test_sunday_slots_across_a_change_are_real_times_each_once(sunday_api: Api, day: str, hours: int) -> None:
    """00:00-06:00 is 5 real hours in spring and 7 in autumn: every 15 minutes of them once, no other."""
    response = sunday_api.get(f"/slots?service=consultation&date={day}&staff={BOB}")
    assert response.status_code == 200, response.text
    starts = [datetime.fromisoformat(slot["start"]) for slot in response.json()]
    instants = [start.astimezone(UTC) for start in starts]
    first = instants[0]
    expected = [first + timedelta(minutes=15 * n) for n in range(hours * 4 - 1)]  # the last ends at 06:00
    assert instants == expected
    assert len(set(instants)) == len(instants)
    walls = [start.strftime("%H:%M%z") for start in starts]
    if day == "2027-03-28":
        assert not any(wall.startswith("02:") for wall in walls)
    else:
        assert "02:30+0200" in walls and "02:30+0100" in walls


def test_a_list_bound_the_clocks_skip_is_422_at_that_query_parameter(sunday_api: Api) -> None:
    """``from=2027-03-28T02:30`` names no instant: 422 at query.from, not a 500 or a guess."""
    response = sunday_api.get("/bookings?from=2027-03-28T02:30")
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", "from"] and "clocks go forward" in error["msg"]
