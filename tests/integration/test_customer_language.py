"""The customer's language follows them through every page and link (issue 17, item 2); the
"not possible" page says the cut-off and leads back; the booking form's note reaches staff (item 6).

Order of the page language: ``?lang=`` (offered by the business), on a booking's pages the
customer's stored language, the browser's ``Accept-Language``, the business's default.
"""

from __future__ import annotations

import html as htmllib
import re
from collections import deque
from datetime import timedelta
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import pytest

from mailflow import services
from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.services.manage import cutoff_text
from mailflow.web.deps import clock
from tests.conftest import queued_emails
from tests.integration.test_admin_pages import ADMIN, AdminFactory, make_admin
from tests.integration.test_pages_language import menu_of, offer
from tests.integration.test_web import BOB, Site, berlin, booking_form, csrf_of_any, make_site, site

__all__ = ["make_admin", "make_site", "site"]  # fixtures used here

GERMAN_BROWSER = {"accept-language": "de-DE,de;q=0.9,en;q=0.8"}
ENGLISH_BROWSER = {"accept-language": "en-GB,en;q=0.9"}
HREF = re.compile(r'href="([^"]*)"')


def page_language(body: str) -> str:
    found = re.search(r'<html lang="([^"]+)">', body)
    assert found is not None, "not a page"
    return found.group(1)


def outbox(site: Site, kind: str, recipient: str) -> list[EmailMessage]:
    """The queued emails of ``kind`` to ``recipient``, oldest first, parsed."""
    return queued_emails(site.app.engine, kind, recipient)


def body_of(message: EmailMessage, kind: str) -> str:
    part = message.get_body(preferencelist=(kind,))
    assert part is not None
    content: str = part.get_content()
    return content.replace("\r\n", "\n")


# --- the order of the choice --------------------------------------------------------------------


def test_book_page_speaks_the_browsers_language(site: Site) -> None:
    """/book follows Accept-Language by its weights; ``?lang=`` wins; an unknown language gets the default."""
    assert page_language(site.client.get("/book", headers=GERMAN_BROWSER).text) == "de"
    assert page_language(site.client.get("/book", headers={"accept-language": "ja, de;q=0.5"}).text) == "de"
    assert page_language(site.client.get("/book", headers={"accept-language": "de;q=0, en"}).text) == "en"
    assert page_language(site.client.get("/book", headers={"accept-language": "ja"}).text) == "en"
    assert page_language(site.client.get("/book?lang=en", headers=GERMAN_BROWSER).text) == "en"
    service = site.client.get("/book/haircut", headers=GERMAN_BROWSER).text
    assert page_language(service) == "de" and "<h1>Haarschnitt</h1>" in service


def test_a_language_the_business_does_not_offer_counts_as_not_asked(site: Site) -> None:
    """French has a catalog, but a business offering English and German ignores ``?lang=fr``:
    the browser's language, else the default, and French is not in the menu."""
    offer(site, "en", "de")
    german = site.client.get("/book?lang=fr", headers=GERMAN_BROWSER).text
    assert page_language(german) == "de"
    assert page_language(site.client.get("/book?lang=fr").text) == "en"
    assert [name for _href, name, _current in menu_of(german)] == ["English", "Deutsch"]
    offer(site, "en", "de", "fr")
    assert page_language(site.client.get("/book?lang=fr", headers=GERMAN_BROWSER).text) == "fr"


def test_manage_page_speaks_the_customers_language_before_the_browsers(site: Site) -> None:
    """A manage link belongs to its customer: their stored language beats the browser's; ``?lang=``
    beats both, and an unoffered ``?lang=`` falls back to the stored language."""
    offer(site, "en", "de")
    german = site.book(10, customer="max@example.de", locale="de")
    english = site.book(12, customer="ada@example.com", locale="en")
    assert page_language(site.client.get(german.path, headers=ENGLISH_BROWSER).text) == "de"
    assert page_language(site.client.get(f"{german.path}?lang=fr", headers=ENGLISH_BROWSER).text) == "de"
    assert page_language(site.client.get(f"{german.path}?lang=en").text) == "en"
    assert page_language(site.client.get(english.path, headers=GERMAN_BROWSER).text) == "en"
    assert page_language(site.client.get(f"{english.path}/cancel", headers=GERMAN_BROWSER).text) == "en"


def test_not_found_page_speaks_the_browsers_language_and_its_links_keep_it(site: Site) -> None:
    """A dead manage link in a German browser gets the German 404 page, whose links stay German."""
    response = site.client.get("/m/no-such-token", headers=GERMAN_BROWSER)
    assert response.status_code == 404 and page_language(response.text) == "de"
    assert 'href="/book?lang=de"' in response.text and 'action="/m?lang=de"' in response.text


# --- every link keeps the language --------------------------------------------------------------


LINK = re.compile(r'href="([^"]*)"')
MENU = re.compile(r'<nav class="lang".*?</nav>', re.DOTALL)


def own_links(body: str) -> tuple[list[str], list[str]]:
    """The page's links and form actions to pages of this site, the language menu left out."""
    body = MENU.sub("", body)
    found = ([], [])  # type: tuple[list[str], list[str]]
    for target, pattern in zip(found, (LINK, re.compile(r'action="([^"]*)"')), strict=True):
        for raw in pattern.findall(body):
            href = htmllib.unescape(raw)
            parts = urlsplit(href)
            if parts.scheme or href.startswith("#") or parts.path.startswith("/static"):
                continue
            target.append(href)
    return found


def crawl(site: Site, starts: list[str], limit: int = 60) -> dict[str, str]:
    """GET the customer pages linked from ``starts`` (links only, no forms, no calendar files),
    breadth first: {url: page}. Each kind of link (path and query names) is followed once, or
    the calendar's days and times would be the whole crawl."""
    seen: dict[str, str] = {}
    kinds: set[tuple[str, frozenset[str]]] = set()
    queue = deque(starts)
    while queue and len(seen) < limit:
        url = queue.popleft()
        if url in seen:
            continue
        response = site.client.get(url)
        assert response.status_code in (200, 303), (url, response.status_code)
        if response.status_code == 303:
            queue.append(response.headers["location"])
            continue
        seen[url] = response.text
        for href in own_links(response.text)[0]:
            parts = urlsplit(href)
            kind = (re.sub(r"/m/[^/]+", "/m/T", parts.path), frozenset(parse_qs(parts.query)))
            if not parts.path.endswith(".ics") and kind not in kinds:
                kinds.add(kind)
                queue.append(href)
    return seen


def test_every_link_of_a_german_customers_pages_keeps_german(site: Site) -> None:
    """From a German customer's manage link, every page reached is German and every link and
    form on it carries ``lang=de`` (a calendar file needs none)."""
    booked = site.book(10, customer="max@example.de", locale="de")
    pages = crawl(site, [booked.path])
    paths = {re.sub(r"/m/[^/?]+", "/m/T", urlsplit(url).path) for url in pages}
    assert {"/m/T", "/m/T/reschedule", "/m/T/cancel", "/book", "/book/haircut"} <= paths
    for url, body in pages.items():
        assert page_language(body) == "de", url
        links, actions = own_links(body)
        assert links and [link for link in links if "lang=de" not in link and ".ics" not in link] == [], url
        assert [action for action in actions if "lang=de" not in action] == [], url


def test_every_link_of_a_german_booking_page_keeps_german(site: Site) -> None:
    """From /book in German (by the browser's language), the pages reached all speak German."""
    response = site.client.get("/book", headers=GERMAN_BROWSER)
    starts = [htmllib.unescape(raw) for raw in HREF.findall(response.text) if "/book/" in raw]
    assert starts and all("lang=de" in start for start in starts)
    pages = crawl(site, starts)
    assert len(pages) > 3
    for url, body in pages.items():
        assert page_language(body) == "de", url
        links, actions = own_links(body)
        assert [link for link in [*links, *actions] if "lang=de" not in link] == [], url


def test_confirmation_links_open_the_pages_in_the_customers_language(site: Site) -> None:
    """The German confirmation's manage and new-booking links carry ``lang=de``; the French
    customer's ``lang=fr``; the calendar file is the manage link's."""
    offer(site, "en", "de", "fr")
    site.book(10, customer="max@example.de", locale="de")
    site.book(12, customer="camille@example.fr", locale="fr")
    for address, lang in (("max@example.de", "de"), ("camille@example.fr", "fr")):
        (confirmation,) = outbox(site, "confirmation", address)
        html, text = body_of(confirmation, "html"), body_of(confirmation, "plain")
        links = [htmllib.unescape(href) for href in re.findall(r'href="([^"]+)"', html)]
        pages = [link for link in links if link.startswith("http://testserver/")]
        manage = [link for link in pages if "/m/" in link and not link.endswith(".ics")]
        assert manage and all(link.endswith(f"?lang={lang}") for link in manage)
        assert f"http://testserver/book?lang={lang}" in pages
        assert all(link.endswith(f"lang={lang}") or link.endswith("/booking.ics") for link in pages)
        assert f"http://testserver/book?lang={lang}" in text
        opened = site.client.get(manage[0].removeprefix("http://testserver"), headers=ENGLISH_BROWSER)
        assert opened.status_code == 200 and page_language(opened.text) == lang


# --- every customer page has the language menu ----------------------------------------------


def test_the_answers_of_forms_have_the_language_menu_leading_to_a_page(site: Site) -> None:
    """After a POST (a refused change, a booking made, a form with errors) the menu is there
    too, each link a GET page in that language."""
    data = booking_form(site, 11, "eve@example.com", name="")
    failed = site.client.post("/book/consultation?lang=de", data=data)
    assert failed.status_code == 400
    menu = menu_of(failed.text)
    assert [current for *_rest, current in menu] == [False, True]
    english = site.client.get(menu[0][0])
    assert english.status_code == 200 and page_language(english.text) == "en"
    assert data["slot"] in htmllib.unescape(english.text)  # the same time, chosen again

    booked = site.client.post("/book/consultation?lang=de", data=booking_form(site, 12, "eve@example.com"))
    assert booked.status_code == 200 and menu_of(booked.text)[0][0] == "/book?lang=en"


# --- the "not possible" page -----------------------------------------------------------------


def refuse_cancel(site: Site, lang: str) -> tuple[str, str]:
    """Open the cancel page of a booking whose service allows changes until 24 hours before,
    then post it 2 hours before: (the manage path, the refused page)."""
    site.set_service("consultation", change_cutoff_minutes=24 * 60)
    booked = site.book(10, customer=f"{lang}@example.com", locale=lang)
    csrf = csrf_of_any(site.client.get(f"{booked.path}/cancel"))
    site.web.dependency_overrides[clock] = lambda: berlin(site.day, 8)
    try:
        refused = site.client.post(f"{booked.path}/cancel?lang={lang}", data={"csrf": csrf})
    finally:
        site.web.dependency_overrides.clear()
    assert refused.status_code == 403
    assert site.booking(booked.ref).status == "confirmed"
    return booked.path, htmllib.unescape(refused.text)


@pytest.mark.parametrize(
    ("lang", "sentence", "back"),
    [
        ("en", "Changes are possible up to 24 hours before the appointment.", "Back to my booking"),
        ("de", "Änderungen sind bis 24 Stunden vor dem Termin möglich.", "Zurück zu meinem Termin"),
    ],
)
def test_refused_page_says_the_cutoff_and_leads_back_to_the_booking(
    site: Site, lang: str, sentence: str, back: str
) -> None:
    """Past the cut-off, the page says until when changes were possible, keeps its contact form
    and links back to the booking's page, in the customer's language."""
    path, page = refuse_cancel(site, lang)
    assert sentence in page
    assert f'<a class="button" href="{path}?lang={lang}">{back}</a>' in page
    assert f'action="{path}/message?lang={lang}"' in page  # the contact form stays
    assert menu_of(page)  # and the language menu


def test_manage_page_past_the_cutoff_says_the_cutoff(site: Site) -> None:
    """The manage page of a booking too close to change says what the cut-off is."""
    site.set_service("consultation", change_cutoff_minutes=3 * 24 * 60)
    booked = site.book(10, customer="max@example.de", locale="de")
    site.web.dependency_overrides[clock] = lambda: berlin(site.day, 10) - timedelta(days=1)
    try:
        page = site.client.get(booked.path).text
    finally:
        site.web.dependency_overrides.clear()
    assert "Änderungen sind bis 3 Tage vor dem Termin möglich." in page


@pytest.mark.parametrize(
    ("minutes", "lang", "text"),
    [
        (60, "en", "Changes are possible up to 1 hour before the appointment."),
        (1440, "en", "Changes are possible up to 24 hours before the appointment."),
        (2880, "en", "Changes are possible up to 2 days before the appointment."),
        (90, "en", "Changes are possible up to 90 minutes before the appointment."),
        (60, "de", "Änderungen sind bis 1 Stunde vor dem Termin möglich."),
        (1440, "de", "Änderungen sind bis 24 Stunden vor dem Termin möglich."),
        (60, "fr", "Les modifications sont possibles jusqu’à 1 heure avant le rendez-vous."),
        (4320, "fr", "Les modifications sont possibles jusqu’à 3 jours avant le rendez-vous."),
    ],
)
def test_cutoff_in_words(minutes: int, lang: str, text: str) -> None:
    """Whole days from two days on, else whole hours, else minutes; singular and plural by language."""
    assert cutoff_text(minutes, lang) == text


# --- the note for the business --------------------------------------------------------------


def test_note_is_stored_and_shown_to_staff(site: Site) -> None:
    """The booking form's note is kept on the booking (both engines) and is a row of the staff's
    emails about it, line breaks kept; the customer's confirmation does not repeat it."""
    note = "Bitte das parfümfreie Shampoo.\nIch komme mit Kinderwagen."
    data = booking_form(site, 11, "eve@example.com", note=note)
    response = site.client.post("/book/consultation?lang=de", data=data)
    assert response.status_code == 200, response.text
    (booking,) = site.bookings()
    assert booking.note == note
    (told,) = outbox(site, "booking_created", BOB)
    assert note in body_of(told, "plain")
    assert "Bitte das parfümfreie Shampoo." in htmllib.unescape(body_of(told, "html"))
    (confirmation,) = outbox(site, "confirmation", "eve@example.com")
    assert "parfümfreie" not in body_of(confirmation, "plain")


def test_a_booking_without_a_note_has_none(site: Site) -> None:
    """An empty note is no note: nothing stored, no row in the staff email."""
    response = site.client.post(
        "/book/consultation", data=booking_form(site, 11, "eve@example.com", note="  ")
    )
    assert response.status_code == 200
    (booking,) = site.bookings()
    assert booking.note is None
    (told,) = outbox(site, "booking_created", BOB)
    assert "Note:" not in body_of(told, "plain")


def test_a_too_long_note_is_shown_next_to_its_field_in_the_pages_words(site: Site) -> None:
    """Over the limit, the German page says so next to the note, naming it in German; nothing is booked."""
    data = booking_form(site, 11, "eve@example.com", name="y" * 201)
    response = site.client.post("/book/consultation?lang=de", data=data)
    assert response.status_code == 400
    page = htmllib.unescape(response.text)
    assert "Name: höchstens 200 Zeichen" in page and "customer.name" not in page
    data = booking_form(site, 11, "eve@example.com", note="x" * 1001)
    page = htmllib.unescape(site.client.post("/book/consultation?lang=de", data=data).text)
    assert '<p class="field-error" id="note-error">Nachricht an uns: höchstens 1000 Zeichen</p>' in page
    assert site.bookings() == []


def test_admin_booking_page_shows_the_customers_note(make_admin: AdminFactory) -> None:
    """The admin's booking page shows the note (line breaks kept), and no note row without one."""
    admin_site = make_admin()
    view = services.create_booking(
        admin_site.app.engine,
        business="contoso",
        service="haircut",
        staff=BOB,
        customer=services.CustomerInput(email="max@example.de", name="Max"),
        start=berlin(admin_site.day, 10),
        origin=Origin.SELF_SERVICE,
        actor=Actor(ActorKind.CUSTOMER_SELF_SERVICE, "max@example.de"),
        now=admin_site.now,
        public_url=admin_site.app.settings.public_url,
        note="Fragrance-free, please.\nI use a wheelchair.",
        **admin_site.app.booking_kwargs(),
    )
    plain = admin_site.book(12)
    admin = admin_site.sign_in(ADMIN)
    page = htmllib.unescape(admin.get(f"/admin/bookings/{view.ref}?lang=en").text)
    assert (
        '<dt>Customer\'s note</dt><dd class="note">Fragrance-free, please.\nI use a wheelchair.</dd>' in page
    )
    assert "Customer's note" not in htmllib.unescape(admin.get(f"/admin/bookings/{plain}?lang=en").text)
