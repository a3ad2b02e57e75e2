""" "Any staff member" spreads bookings over the equally free staff, through the API and the pages alike."""

from __future__ import annotations

import html
import re
from datetime import UTC
from urllib.parse import parse_qs, urlsplit

from tests.api.conftest import BOB, CARLA, Api
from tests.conftest import berlin

ADMIN = "admin@contoso.example"
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
SLOT_LINK = re.compile(r'class="slot" href="([^"]+)"')


def three_performers(api: Api) -> None:
    """Let the admin cut hair too, so three people are equally free."""
    response = api.patch("/services/haircut", {"staff": [ADMIN, BOB, CARLA]})
    assert response.status_code == 200, response.text


def offered_at(api: Api, hour: int) -> list[str]:
    """The staff the API's slot search without a staff member gives for ``hour`` on the test day."""
    response = api.get(f"/slots?service=haircut&date={api.day.isoformat()}")
    assert response.status_code == 200, response.text
    start = berlin(api.day, hour).isoformat()
    return [slot["staff"] for slot in response.json() if slot["start"] == start]


def test_slot_search_without_staff_gives_each_start_once(api: Api) -> None:
    """Each start appears once, with the one person it goes to; naming a staff member is unchanged."""
    day = api.day.isoformat()
    slots = api.get(f"/slots?service=haircut&date={day}").json()
    starts = [slot["start"] for slot in slots]
    assert len(starts) == len(set(starts)) > 0
    assert offered_at(api, 10) == [BOB]  # nobody booked yet: the first of the equals

    api.book(10, staff=BOB)

    assert offered_at(api, 12) == [CARLA]  # Bob has one booking that day, Carla none
    carla_only = api.get(f"/slots?service=haircut&date={day}&staff={CARLA}").json()
    bob_only = api.get(f"/slots?service=haircut&date={day}&staff={BOB}").json()
    assert {slot["staff"] for slot in carla_only} == {CARLA}
    assert {slot["staff"] for slot in bob_only} == {BOB} and len(bob_only) < len(carla_only)


def test_api_any_staff_bookings_go_to_different_people(api: Api) -> None:
    """Three bookings at different times, each with the person the slot search offered, hit three people."""
    three_performers(api)
    booked = []
    for hour in (10, 12, 14):
        [staff] = offered_at(api, hour)
        booked.append(api.book(hour, staff=staff)["staff"])
    assert sorted(booked) == sorted([ADMIN, BOB, CARLA])


def test_book_page_any_staff_bookings_go_to_different_people(api: Api) -> None:
    """On /book/haircut with "any staff", one link per time; booking three times books three people."""
    three_performers(api)
    client = api.client
    booked = []
    for turn, hour in enumerate((10, 12, 14)):
        page = client.get(f"/book/haircut?day={api.day.isoformat()}&staff=any&lang=en")
        assert page.status_code == 200, page.text
        links = [html.unescape(link) for link in SLOT_LINK.findall(page.text)]
        slots = [parse_qs(urlsplit(link).query)["slot"][0] for link in links]
        starts = [slot.split("|")[0] for slot in slots]
        assert len(starts) == len(set(starts)), "a time is offered more than once"
        wanted = berlin(api.day, hour).astimezone(UTC).isoformat()
        [slot] = [s for s in slots if s.split("|")[0] == wanted]
        details = client.get(links[slots.index(slot)])
        csrf = CSRF_FIELD.search(details.text)
        assert csrf is not None
        address = f"eve{turn}@example.com"
        response = client.post(
            "/book/haircut",
            data={"csrf": csrf.group(1), "slot": slot, "name": "Eve", "email": address},
        )
        assert response.status_code == 200, response.text
        booked.append(slot.split("|")[1])
    assert sorted(booked) == sorted([ADMIN, BOB, CARLA])
    listed = api.get(f"/bookings?date={api.day.isoformat()}").json()
    assert sorted(b["staff"] for b in listed) == sorted(booked)


def test_reschedule_page_does_not_count_the_booking_being_moved(api: Api) -> None:
    """Moving Bob's only booking: Bob is as free as Carla, so "any staff" keeps the first of the equals."""
    made = api.book(10, staff=BOB, service="consultation")  # customers may move consultations
    path = urlsplit(made["manage_url"]).path
    page = api.client.get(f"{path}/reschedule?day={api.day.isoformat()}&staff=any&lang=en")
    assert page.status_code == 200, page.text
    values = re.findall(r'name="slot" value="([^"]+)"', page.text)
    starts = [value.split("|")[0] for value in values]
    assert values and len(starts) == len(set(starts))
    assert {value.split("|")[1] for value in values} == {BOB}
