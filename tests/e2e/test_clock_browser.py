"""One clock on every customer page (issue 17, items 1 and 6), in browsers set elsewhere.

Each browser context has its own ``timezone_id`` and ``locale``, as a customer in London or
New York would have it: the booking page guesses that zone, every time on a page is in it, and
the venue's (Berlin) time stands beside it for an appointment at the salon. On a 375 px phone the
reschedule page keeps a 7-column month and its button within reach.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from babel.dates import format_time
from playwright.sync_api import Page, expect

from tests.conftest import BERLIN, berlin
from tests.e2e.conftest import LiveServer, PageFactory, manage_links, text_of
from tests.e2e.test_browser import BOB, MANAGE_PATH, a_customer, weekday_ahead

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def clock(moment: datetime, zone: ZoneInfo) -> str:
    """``moment`` on the wall clock of ``zone`` as the English pages write it ("2:00 PM")."""
    return format_time(moment.astimezone(zone), "short", tzinfo=zone, locale="en")


def normal(text: str) -> str:
    """``text`` with every run of white space (line breaks, Babel's narrow no-break space in
    "2:00\u202fPM") as one plain space."""
    return " ".join(text.split())


def slot_start(value: str) -> datetime:
    """The UTC start of a slot's form value (``<ISO start>|<staff email>``)."""
    return datetime.fromisoformat(value.partition("|")[0])


def test_london_customer_books_two_pm_and_every_page_and_email_says_two_pm_london(
    live_server: LiveServer, open_page: PageFactory
) -> None:
    """A browser in London gets /book in London time (guessed, named on the page, Berlin beside it);
    the 2:00 PM it clicks is 2:00 PM on the selected-time line, the booked page, the manage page
    and in the confirmation email, and London is the zone stored for the customer."""
    page = open_page(timezone_id="Europe/London", locale="en-GB")
    customer = a_customer("london")
    day = weekday_ahead(2)
    start = datetime.combine(day, time(14), LONDON)
    two_pm, in_berlin = clock(start, LONDON), f"{clock(start, BERLIN)} in Berlin"
    assert two_pm == "2:00\u202fPM" and in_berlin != f"{two_pm} in Berlin"

    page.goto("/book/consultation")
    expect(page).to_have_url(re.compile(r"tz=Europe%2FLondon"))  # book.js: the browser's zone
    expect(page.locator("#zone-note")).to_contain_text("London time (Europe/London)")
    expect(page.get_by_label("Time zone")).to_have_value("Europe/London")
    page.locator(f'a.day.free[href*="day={day.isoformat()}"]').click()
    value = start.astimezone(UTC).isoformat()
    slot = page.locator(f'a.slot[href*="{value.replace("+", "%2B").replace(":", "%3A")}"]').first
    assert normal(slot.locator(".slot-when").inner_text()) == normal(f"{two_pm} your time · {in_berlin}")
    slot.click()

    selected = page.locator(".selected-time")
    expect(selected).to_contain_text(two_pm)
    expect(selected).to_contain_text(in_berlin)
    expect(page.locator("#zone-note")).to_contain_text("Europe/London")
    expect(page.get_by_label("Time zone")).to_have_value("Europe/London")  # stored for the customer
    page.get_by_label("Name", exact=True).fill("Lon Don")
    page.get_by_label("Email", exact=True).fill(customer)
    button = page.get_by_role("button", name="Book now").bounding_box()
    field = page.get_by_label("Time zone").bounding_box()
    assert button is not None and field is not None
    assert button["y"] - (field["y"] + field["height"]) >= 12, "Book now touches the field above"
    page.get_by_role("button", name="Book now").click()

    expect(page.get_by_role("heading", name="You're booked")).to_be_visible()
    when = page.locator(".details dd").nth(1)
    expect(when).to_contain_text(f"{day.day}, {day.year}, {two_pm}")
    expect(when).to_contain_text(in_berlin)
    ref = page.locator(".details strong").inner_text().strip()
    assert live_server.cli("bookings", "show", ref)["customer"]["timezone"] == "Europe/London"

    confirmation = live_server.wait_for_email(kind="confirmation", booking=ref, to=customer)
    text = text_of(confirmation)
    # The email is on the customer's clock in British English (a London zone), with the venue's
    # clock beside it for this in-person service.
    assert "14:00–" in text and "(15:00 in Berlin)" in text, text
    links = [href for href in manage_links(confirmation) if MANAGE_PATH.search(href)]
    page.goto(links[0])
    expect(page.get_by_role("heading", name="Your booking")).to_be_visible()
    expect(page.locator(".details dd").nth(1)).to_contain_text(f"{two_pm}–")
    expect(page.locator(".details dd").nth(1)).to_contain_text(in_berlin)


def test_new_york_customer_reschedules_an_in_person_booking_seeing_both_clocks(
    live_server: LiveServer, open_page: PageFactory
) -> None:
    """A New York customer's reschedule page is in New York time (their stored zone), each time with
    the salon's Berlin time beside it; the moved booking reads the same way."""
    page = open_page(timezone_id="America/New_York", locale="en-US")
    customer = a_customer("newyork")
    booked_at = berlin(weekday_ahead(3), 10)
    booking = live_server.create_booking(
        service="haircut", staff=BOB, customer_email=customer, customer_name="New York",
        start=booked_at.isoformat(), origin="self_service", timezone="America/New_York",
    )  # fmt: skip

    page.goto(booking["manage_url"])
    when = page.locator(".details dd").nth(1)
    expect(when).to_contain_text(f"{clock(booked_at, NEW_YORK)}–")
    expect(when).to_contain_text(f"{clock(booked_at, BERLIN)} in Berlin")
    page.get_by_role("link", name="Reschedule").click()
    expect(page.locator("#zone-note")).to_contain_text("New York time (America/New_York)")
    day = weekday_ahead(4)
    page.locator(f'a.day.free[href*="day={day.isoformat()}"]').click()
    expect(page.locator("a.day.selected")).to_have_attribute("href", re.compile(f"day={day.isoformat()}"))

    radio = page.get_by_role("radio").nth(2)
    start = slot_start(radio.get_attribute("value") or "")
    label = page.locator("label.slot").nth(2)
    expected = f"{clock(start, NEW_YORK)} your time · {clock(start, BERLIN)} in Berlin"
    assert normal(label.locator(".slot-when").inner_text()) == normal(expected)
    assert start.astimezone(NEW_YORK).date() == day
    radio.check()
    page.get_by_role("button", name="Move my booking here").click()

    expect(page.get_by_role("heading", name="Your booking has been moved")).to_be_visible()
    moved = page.locator(".details dd").nth(1)
    expect(moved).to_contain_text(f"{clock(start, NEW_YORK)}–")
    expect(moved).to_contain_text(f"{clock(start, BERLIN)} in Berlin")
    assert datetime.fromisoformat(live_server.cli("bookings", "show", booking["ref"])["start"]) == start


def test_reschedule_on_a_phone_has_a_seven_column_month_and_the_button_in_reach(
    live_server: LiveServer, open_page: PageFactory
) -> None:
    """At 375×812 the month has 7 columns with every day under its weekday, the page is far shorter
    than the 2,750 px of 30 tiles then 30 times, and the button stays on screen by any chosen time."""
    page = open_page(timezone_id="Europe/Berlin", locale="en-GB", width=375, height=812)
    booking = live_server.create_booking(
        service="consultation", staff=BOB, customer_email=a_customer("phone"), customer_name="Phone",
        start=berlin(weekday_ahead(1), 16).isoformat(), origin="self_service",
    )  # fmt: skip
    page.goto(f"{booking['manage_url']}/reschedule")
    day = weekday_ahead(2)  # a whole free day: the first day's list shrinks as the day goes by
    page.locator(f'a.day.free[href*="day={day.isoformat()}"]').click()
    expect(page.locator("a.day.selected")).to_have_attribute("href", re.compile(f"day={day.isoformat()}"))

    columns = page.locator("ol.days").evaluate(
        "el => getComputedStyle(el).gridTemplateColumns.split(' ').length"
    )
    assert columns == 7
    heads = page.locator(".weekdays span")
    expect(heads).to_have_count(7)
    centres = []
    for index in range(7):
        box = heads.nth(index).bounding_box()
        assert box is not None
        centres.append(box["x"] + box["width"] / 2)
    tiles = page.locator("a.day.free")
    assert tiles.count() >= 10
    for index in range(tiles.count()):
        tile = tiles.nth(index)
        found = re.search(r"day=(\d{4}-\d\d-\d\d)", tile.get_attribute("href") or "")
        assert found is not None
        box = tile.bounding_box()
        assert box is not None
        weekday = date.fromisoformat(found.group(1)).weekday()  # English weeks start on Monday
        assert abs(box["x"] + box["width"] / 2 - centres[weekday]) < 2, (found.group(1), box)

    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 2200, f"the reschedule page is {height} px tall at 375 px"
    radios = page.get_by_role("radio")
    assert radios.count() >= 10
    last = radios.nth(radios.count() - 1)
    last.scroll_into_view_if_needed()
    last.check()
    chosen = page.locator("label.slot").nth(radios.count() - 1).bounding_box()
    button = page.get_by_role("button", name="Move my booking here").bounding_box()
    assert chosen is not None and button is not None
    assert button["y"] >= 0 and button["y"] + button["height"] <= 812, "the button is off screen"
    assert abs(button["y"] - (chosen["y"] + chosen["height"])) < 812 / 2
    page.evaluate("window.scrollTo(0, 0)")
    page.get_by_role("radio").first.check()
    button = page.get_by_role("button", name="Move my booking here").bounding_box()
    assert button is not None and button["y"] + button["height"] <= 812, "the button is off screen"


def test_booking_page_without_javascript_is_in_the_business_zone(
    live_server: LiveServer, open_page: PageFactory
) -> None:
    """With the zone not carried (as without JavaScript), /book shows Berlin time, named; an unknown
    ``tz`` is ignored the same way, and the zone control changes the page's clock."""
    page = open_page(timezone_id="Asia/Tokyo", locale="en-GB")
    page.route("**/static/book.js", lambda route: route.abort())
    page.goto("/book/consultation?tz=Mars%2FOlympus")
    expect(page.locator("#zone-note")).to_contain_text("Berlin time (Europe/Berlin)")
    first = page.locator("a.slot").first
    start = slot_start(parse_qs(urlsplit(first.get_attribute("href") or "").query)["slot"][0])
    expect(first.locator(".slot-when")).to_have_text(clock(start, BERLIN))  # one clock: no "your time"
    page.get_by_label("Time zone").select_option("Asia/Tokyo")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#zone-note")).to_contain_text("Asia/Tokyo")
    expect(page).to_have_url(re.compile(r"tz=Asia%2FTokyo"))
    assert "your time" in normal(page.locator("a.slot .slot-when").first.inner_text())


def test_manage_page_of_a_berlin_customer_shows_one_clock(live_server: LiveServer, page: Page) -> None:
    """No second clock when the customer's zone reads like the venue's: no "in Berlin" anywhere."""
    booking = live_server.create_booking(
        service="haircut", staff=BOB, customer_email=a_customer("berliner"), customer_name="Berliner",
        start=berlin(weekday_ahead(0) + timedelta(days=7), 11).isoformat(), origin="self_service",
    )  # fmt: skip
    page.goto(booking["manage_url"])
    expect(page.locator(".details dd").nth(1)).to_contain_text("11:00")
    expect(page.locator("main")).not_to_contain_text("in Berlin")
