"""One clock on every customer page (issue 17, item 1), through TestClient on SQLite and PostgreSQL.

``/book/{service}`` shows its days and times in the zone of ``tz=`` (an unknown one: the
business's), the manage pages in the customer's stored zone; the zone is named; an in-person
service shown in another zone gives the venue's (Berlin) time beside each time; the posted slot
values stay UTC, and the zone chosen on /book is the one stored for the customer.
"""

from __future__ import annotations

import html as htmllib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

from babel.dates import format_time
from sqlmodel import Session, select

from mailflow import services
from mailflow.booking.model import Origin
from mailflow.store.tables import Booking, Customer
from tests.conftest import BERLIN, berlin
from tests.integration.test_web import BOB, STAFF, Site, SiteFactory, csrf_of, make_site, site

__all__ = ["make_site", "site"]  # the fixtures, shared with test_web

BOOK_SLOT = re.compile(
    r'<a class="slot" href="([^"]+)"><span class="slot-when"><span class="slot-time">([^<]*)</span>'
    r'(?: <span class="slot-venue">· ([^<]*)</span>)?</span>'
)
RADIO_SLOT = re.compile(
    r'name="slot" value="([^"]+)"[^>]*> <span class="slot-when"><span class="slot-time">([^<]*)</span>'
    r'(?: <span class="slot-venue">· ([^<]*)</span>)?</span>'
)


@dataclass(frozen=True)
class Offered:
    """A time as a page offers it: its UTC start, its label and the venue's time ("" when none)."""

    start: datetime
    time: str
    venue: str


def clock(moment: datetime, zone: str, locale: str = "en") -> str:
    tz = ZoneInfo(zone)
    return format_time(moment.astimezone(tz), "short", tzinfo=tz, locale=locale)


def book_slots(page: str) -> list[Offered]:
    """The times of a /book page's grid."""
    found = []
    for href, time_text, venue in BOOK_SLOT.findall(page):
        value = parse_qs(urlsplit(htmllib.unescape(href)).query)["slot"][0]
        found.append(Offered(_start(value), htmllib.unescape(time_text), htmllib.unescape(venue)))
    return found


def radio_slots(page: str) -> list[Offered]:
    """The times of a reschedule page's form."""
    return [
        Offered(_start(htmllib.unescape(value)), htmllib.unescape(time_text), htmllib.unescape(venue))
        for value, time_text, venue in RADIO_SLOT.findall(page)
    ]


def _start(value: str) -> datetime:
    start = datetime.fromisoformat(value.partition("|")[0])
    assert start.utcoffset() == timedelta(0), "slot values stay UTC"
    return start


def book_page(site: Site, day: date, **query: str) -> str:
    response = site.client.get(f"/book/consultation?{urlencode({'day': day.isoformat(), **query})}")
    assert response.status_code == 200, response.text
    return response.text


def book_new_yorker(site: Site, hour: int = 10, service: str = "haircut") -> str:
    """The manage path of a booking at ``hour`` Berlin time for a customer living in New York."""
    view = services.create_booking(
        site.app.engine,
        business="contoso",
        service=service,
        staff=BOB,
        customer=services.CustomerInput(
            email="ny@example.com", name="New Yorker", timezone="America/New_York"
        ),
        start=berlin(site.day, hour),
        origin=Origin.SELF_SERVICE,
        actor=STAFF,
        now=site.now,
        public_url=site.app.settings.public_url,
        **site.app.booking_kwargs(),
    )
    assert view.manage_url is not None
    return urlsplit(view.manage_url).path


def test_book_page_shows_every_time_in_the_chosen_zone_with_berlin_beside(site: Site) -> None:
    """With ``tz=Europe/London`` each time is the slot's London time, "your time", with Berlin's
    beside it; the zone is named and carried in the page's links."""
    page = book_page(site, site.day, tz="Europe/London")
    offered = book_slots(page)

    assert offered
    for slot in offered:
        assert slot.time == f"{clock(slot.start, 'Europe/London')} your time"
        assert slot.venue == f"{clock(slot.start, BERLIN.key)} in Berlin"
        assert slot.start.astimezone(ZoneInfo("Europe/London")).date() == site.day
    assert "All times are London time (Europe/London)." in page
    assert '<option value="Europe/London" selected>' in page
    assert "tz=Europe%2FLondon" in page and "tz=Europe%2FBerlin" not in page


def test_unknown_or_missing_zone_gives_the_business_zone_and_one_clock(site: Site) -> None:
    """Without ``tz``, or with one no system knows, the page is in Berlin time and says so."""
    for query in ({}, {"tz": "Mars/Olympus"}, {"tz": "../../etc/passwd"}):
        page = book_page(site, site.day, **query)
        offered = book_slots(page)
        assert offered
        assert all(slot.time == clock(slot.start, BERLIN.key) and slot.venue == "" for slot in offered)
        assert "All times are Berlin time (Europe/Berlin)." in page
        assert "your time" not in page


def test_the_day_of_a_time_is_its_day_in_the_shown_zone(site: Site) -> None:
    """In Auckland (12 hours ahead of Berlin) the Tuesday holds Berlin's Monday afternoon and
    Tuesday morning: every time listed falls on that Tuesday in Auckland."""
    auckland = ZoneInfo("Pacific/Auckland")
    page = book_page(site, site.day, tz="Pacific/Auckland")
    offered = book_slots(page)

    assert offered
    assert {slot.start.astimezone(auckland).date() for slot in offered} == {site.day}
    berlin_days = {slot.start.astimezone(BERLIN).date() for slot in offered}
    assert berlin_days == {site.day - timedelta(days=1), site.day}
    assert all(slot.time == f"{clock(slot.start, 'Pacific/Auckland')} your time" for slot in offered)


def test_an_online_service_shows_no_venue_time(site: Site) -> None:
    """A service whose location is a video-call address is not at the venue: one clock only."""
    site.set_service("consultation", location="https://meet.example/contoso")
    offered = book_slots(book_page(site, site.day, tz="America/New_York"))

    assert offered
    assert all(slot.venue == "" and "your time" not in slot.time for slot in offered)
    assert all(slot.time == clock(slot.start, "America/New_York") for slot in offered)


def test_month_has_weekday_heads_and_the_first_day_in_its_column(site: Site) -> None:
    """Seven weekday heads from Monday (English weeks), the first tile in its weekday's column."""
    page = book_page(site, site.day, tz="Asia/Tokyo")
    heads = re.search(r'<div class="weekdays" aria-hidden="true">(.*?)</div>', page)
    assert heads is not None
    assert re.findall(r"<span>([^<]+)</span>", heads.group(1)) == [
        "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun",
    ]  # fmt: skip
    today_in_tokyo = datetime.now(UTC).astimezone(ZoneInfo("Asia/Tokyo")).date()
    first_tile = re.search(r'<ol class="days">\s*<li( class="start-(\d)")?>', page)
    assert first_tile is not None
    assert int(first_tile.group(2) or 0) == today_in_tokyo.weekday()


def test_chosen_time_and_details_form_use_the_shown_zone_and_booking_stores_it(site: Site) -> None:
    """The selected-time line is in the page's zone with Berlin beside it, the form's time zone is
    that zone, and booking stores it for the customer: the booked page reads the same."""
    offered = book_slots(book_page(site, site.day, tz="Europe/London"))
    chosen = offered[0]
    value = f"{chosen.start.isoformat()}|{BOB}"
    query = {"day": site.day.isoformat(), "tz": "Europe/London", "slot": value}
    form = site.client.get(f"/book/consultation?{urlencode(query)}")
    london = clock(chosen.start, "Europe/London")

    assert f"{london}–" in form.text and f"· {clock(chosen.start, BERLIN.key)} in Berlin" in form.text
    assert '<option value="Europe/London" selected>' in form.text
    assert 'action="/book/consultation?lang=en&amp;tz=Europe/London"' in form.text
    booked = site.client.post(
        "/book/consultation?lang=en&tz=Europe/London",
        data={
            "csrf": csrf_of(form),
            "slot": value,
            "name": "Lon Don",
            "email": "london@example.com",
            "timezone": "Europe/London",
        },
    )

    assert booked.status_code == 200, booked.text
    assert f"{london}–" in booked.text and "in Berlin" in booked.text
    with Session(site.app.engine) as session:
        customer = session.exec(select(Customer).where(Customer.email == "london@example.com")).one()
        booking = session.exec(select(Booking).where(Booking.customer_id == customer.id)).one()
    assert customer.timezone == "Europe/London"
    assert booking.start == chosen.start


def test_manage_pages_use_the_customers_zone_with_the_venue_beside(site: Site) -> None:
    """A New Yorker's manage, reschedule and cancel pages show New York time with Berlin's beside
    it; ``tz`` shows another zone instead."""
    path = book_new_yorker(site, hour=10)
    start = berlin(site.day, 10)
    new_york = f"{clock(start, 'America/New_York')}–"
    at_venue = f"· {clock(start, BERLIN.key)} in Berlin"

    for page in (site.client.get(path), site.client.get(f"{path}/cancel")):
        assert page.status_code == 200
        assert new_york in page.text and at_venue in page.text
    reschedule = site.client.get(f"{path}/reschedule?day={site.day.isoformat()}")
    assert "All times are New York time (America/New_York)." in reschedule.text
    assert new_york in reschedule.text
    offered = radio_slots(reschedule.text)
    assert offered
    for slot in offered:
        assert slot.time == f"{clock(slot.start, 'America/New_York')} your time"
        assert slot.venue == f"{clock(slot.start, BERLIN.key)} in Berlin"
    in_london = site.client.get(f"{path}?tz=Europe/London")
    assert f"{clock(start, 'Europe/London')}–" in in_london.text


def test_reschedule_post_comes_back_to_the_shown_zones_day(site: Site) -> None:
    """A time taken meanwhile brings the customer back to that time's day in the page's zone."""
    path = book_new_yorker(site, hour=10)
    taken = berlin(site.day + timedelta(days=1), 2)  # no one works at 2 AM: never free
    token = path.rsplit("/", 1)[1]
    page = site.client.get(f"{path}/reschedule?tz=Pacific/Auckland")
    response = site.client.post(
        f"/m/{token}/reschedule?lang=en&tz=Pacific/Auckland",
        data={"csrf": csrf_of(page), "slot": f"{taken.astimezone(UTC).isoformat()}|{BOB}"},
    )

    assert response.status_code == 409
    auckland_day = taken.astimezone(ZoneInfo("Pacific/Auckland")).date()
    assert f'name="day" value="{auckland_day.isoformat()}"' in response.text
    assert "All times are Auckland time (Pacific/Auckland)." in response.text


def test_slot_link_of_an_email_still_preselects_its_time(make_site: SiteFactory) -> None:
    """``?day=&staff=&slot=`` (a reschedule_options email's link, no ``tz``) selects that time in
    the customer's zone."""
    site = make_site()
    path = book_new_yorker(site, hour=10)
    first = radio_slots(site.client.get(f"{path}/reschedule?day={site.day.isoformat()}").text)[3]
    value = f"{first.start.isoformat()}|{BOB}"
    query = urlencode({"day": site.day.isoformat(), "staff": BOB, "slot": value})
    page = site.client.get(f"{path}/reschedule?{query}")

    assert re.search(rf'value="{re.escape(htmllib.escape(value))}" required checked', page.text)
