"""A German browser stays on German pages (issue 17, item 2): it books on /book (no ``?lang=``,
only the browser's Accept-Language), and every link of the German confirmation, and every link
of the pages those open, lands on a German page. The note for the business reaches staff."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, html_of, links_in, text_of
from tests.e2e.test_browser import a_customer, weekday_ahead

# The page's links to other pages: not the language menu (it leads to the other languages on
# purpose), not an anchor on the page itself ("skip to content").
PAGE_LINKS = """() => Array.from(document.querySelectorAll('a[href]'))
  .filter(a => !a.closest('nav.lang') && !a.getAttribute('href').startsWith('#'))
  .map(a => a.href)"""


def is_page(url: str, live_server: LiveServer) -> bool:
    """Whether ``url`` is a page of the live server (not a calendar file, not mailto: or tel:)."""
    return url.startswith(live_server.base_url) and not urlsplit(url).path.endswith(".ics")


def assert_german(page: Page, url: str) -> list[str]:
    """Open ``url``: the page is German (``<html lang="de">``); returns its own page links."""
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    assert page.evaluate("document.documentElement.lang") == "de", url
    links: list[str] = page.evaluate(PAGE_LINKS)
    return links


@pytest.mark.parametrize("page", ["de-DE"], indirect=True)  # a browser that speaks German
def test_a_german_browser_stays_german_from_booking_through_every_emailed_link(
    live_server: LiveServer, page: Page
) -> None:
    """/book opens in German by the browser's language; the booking's confirmation links (manage,
    new booking, the business's name) open German pages, and so does every link on those pages."""
    customer = a_customer("jonas")
    note = "Bitte parfümfreies Shampoo verwenden."
    day = weekday_ahead(2)

    page.goto("/book")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("heading", name="Termin buchen")).to_be_visible()
    page.get_by_role("link", name=re.compile("Haarschnitt")).click()
    page.locator(f'a.day.free[href*="day={day.isoformat()}"]').click()
    page.locator("a.slot").first.click()
    expect(page.get_by_role("heading", name="Ihre Angaben")).to_be_visible()
    page.get_by_label("Name").fill("Jonas Becker")
    page.get_by_label("E-Mail").fill(customer)
    page.get_by_label("Nachricht an uns (optional)").fill(note)
    expect(page.get_by_label("Sprache", exact=True)).to_have_value("de")
    page.get_by_role("button", name="Jetzt buchen").click()
    expect(page.get_by_role("heading", name="Ihr Termin ist gebucht")).to_be_visible()
    ref = page.locator(".details strong").inner_text().strip()

    confirmation = live_server.wait_for_email(kind="confirmation", booking=ref, to=customer)
    emailed = [href for href in links_in(html_of(confirmation)) if href.startswith(live_server.base_url)]
    paths = {urlsplit(href).path for href in emailed}
    assert "/book" in paths and any(path.startswith("/m/") for path in paths), emailed
    for href in emailed:
        if not is_page(href, live_server):  # the calendar file: an event, no page
            answer = httpx.get(href, timeout=10)
            assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/calendar")
            continue
        assert "lang=de" in href, href
        for link in assert_german(page, href):
            if is_page(link, live_server):
                assert_german(page, link)

    # "Any staff member" spreads bookings: whoever got it, the staff email carries the note.
    told = live_server.wait_for_email(kind="booking_created", booking=ref)
    assert note in text_of(told) and note in html_of(told)
