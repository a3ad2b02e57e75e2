"""The customer's side in a real browser: email link → manage page → reschedule or cancel, and booking.

Everything runs against one live ``mailflow serve --demo``: bookings are made
with the CLI or on the self-service page, the emails are read from the
server's maildir, and the links in them are opened in Chromium.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

from babel.dates import format_date, format_skeleton
from playwright.sync_api import Page, expect

from tests.conftest import BERLIN, berlin, next_weekday
from tests.e2e.conftest import LiveServer, html_of, manage_links, text_of

MANAGE_LINK = re.compile(r"/m/[\w-]+(?![\w-]|/booking\.ics)")  # not the .ics download (issue 18)

BOB = "bob@contoso.example"
CARLA = "carla@contoso.example"
MANAGE_PATH = re.compile(r"/m/[A-Za-z0-9_-]+(\?lang=[a-z]+)?$")  # the page in the email's language

# Controls without a label, an aria-label/-labelledby, or (for buttons) visible text.
UNLABELLED_CONTROLS = """() => Array.from(document.querySelectorAll('input, select, textarea, button'))
  .filter(el => el.type !== 'hidden')
  .filter(el => !(el.labels && el.labels.length)
             && !el.getAttribute('aria-label')
             && !el.getAttribute('aria-labelledby')
             && !(el.tagName === 'BUTTON' && el.textContent.trim()))
  .map(el => el.outerHTML)"""


def a_customer(name: str) -> str:
    """A fresh customer address, so each test's emails are its own."""
    return f"{name}-{uuid.uuid4().hex[:8]}@example.com"


def weekday_ahead(weekday: int) -> date:
    """The date of ``weekday`` (0 = Monday) one to two weeks from today in Berlin."""
    today = datetime.now(UTC).astimezone(BERLIN).date()
    return next_weekday(today + timedelta(days=6), weekday)


def book_by_cli(
    live_server: LiveServer, *, service: str, customer: str, start: datetime, origin: str
) -> dict[str, str]:
    """A booking with Bob for ``customer``, made through the CLI."""
    return live_server.create_booking(
        service=service,
        staff=BOB,
        customer_email=customer,
        customer_name=customer.split("-")[0].title(),
        start=start.isoformat(),
        origin=origin,
    )


def test_customer_reschedules_to_carla_through_the_emailed_manage_link(
    live_server: LiveServer, page: Page
) -> None:
    """The emailed Manage link moves a booking from Bob to Carla; the customer, Carla and Bob hear of it."""
    customer = a_customer("ada")
    day = weekday_ahead(1)
    booking = book_by_cli(
        live_server, service="consultation", customer=customer, start=berlin(day, 10), origin="self_service"
    )
    ref = booking["ref"]
    confirmation = live_server.wait_for_email(kind="confirmation", booking=ref, to=customer)
    links = [href for href in manage_links(confirmation) if MANAGE_PATH.search(href)]
    assert links and links[0].startswith(f"{live_server.base_url}/m/"), manage_links(confirmation)

    page.goto(links[0])
    expect(page.get_by_role("heading", name="Your booking")).to_be_visible()
    expect(page.locator(".details")).to_contain_text("Bob Berger")
    page.get_by_role("link", name="Reschedule").click()
    expect(page.get_by_role("heading", name="Reschedule", exact=True)).to_be_visible()

    page.get_by_label("Staff member").select_option(CARLA)
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"staff=carla%40contoso\.example"))
    page.locator(f'a.day.free[href*="day={day.isoformat()}"]').click()
    expect(page.locator("a.day.selected")).to_have_attribute("href", re.compile(f"day={day.isoformat()}"))
    first_time = page.get_by_role("radio").first
    expect(page.locator("label.slot").first).to_contain_text("Carla Castro")
    first_time.check()
    page.get_by_role("button", name="Move my booking here").click()

    expect(page.get_by_role("heading", name="Your booking has been moved")).to_be_visible()
    expect(page.locator(".details")).to_contain_text("Carla Castro")

    moved = live_server.wait_for_email(kind="rescheduled", booking=ref, to=customer)
    assert "Carla" in html_of(moved) and "Carla" in text_of(moved)
    live_server.wait_for_email(kind="booking_reassigned", booking=ref, to=CARLA)
    live_server.wait_for_email(kind="booking_reassigned", booking=ref, to=BOB)
    shown = live_server.cli("bookings", "show", ref)
    assert (shown["staff"], shown["status"]) == (CARLA, "confirmed")


def test_customer_cancels_with_a_reason_that_reaches_staff(live_server: LiveServer, page: Page) -> None:
    """Cancelling on the manage page with a reason confirms it to the customer and tells Bob the reason."""
    customer = a_customer("grace")
    reason = "My train was cancelled, sorry!"
    booking = book_by_cli(
        live_server,
        service="consultation",
        customer=customer,
        start=berlin(weekday_ahead(1), 11),
        origin="self_service",
    )
    ref = booking["ref"]

    page.goto(booking["manage_url"])
    page.get_by_role("link", name="Cancel booking").click()
    expect(page.get_by_role("heading", name="Cancel this booking?")).to_be_visible()
    page.get_by_label("Reason (optional)").fill(reason)
    page.get_by_role("button", name="Yes, cancel my booking").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("cancelled")

    live_server.wait_for_email(kind="cancelled", booking=ref, to=customer)
    staff_email = live_server.wait_for_email(kind="booking_cancelled", booking=ref, to=BOB)
    assert reason in text_of(staff_email)

    page.goto(booking["manage_url"])
    expect(page.locator(".status")).to_have_text("Cancelled")
    expect(page.locator(".notice")).to_contain_text(reason)
    expect(page.get_by_role("link", name="Reschedule")).to_have_count(0)


def test_staff_booking_hides_manage_actions_when_setting_off(live_server: LiveServer, page: Page) -> None:
    """A staff-made haircut offers no online change, only the business's instructions, in page and email."""
    customer = a_customer("max")
    booking = book_by_cli(
        live_server, service="haircut", customer=customer, start=berlin(weekday_ahead(1), 13), origin="staff"
    )

    page.goto(booking["manage_url"])
    expect(page.get_by_role("heading", name="Your booking")).to_be_visible()
    notice = page.locator("section.notice")
    expect(notice.get_by_role("heading")).to_have_text("This booking cannot be changed online")
    expect(notice).to_contain_text("+49 30 1234567")
    expect(page.get_by_role("link", name="Reschedule")).to_have_count(0)
    expect(page.get_by_role("link", name="Cancel booking")).to_have_count(0)

    confirmation = live_server.wait_for_email(kind="confirmation", booking=booking["ref"], to=customer)
    assert manage_links(confirmation) == []
    assert not MANAGE_LINK.search(text_of(confirmation))
    assert "+49 30 1234567" in text_of(confirmation)


def test_self_service_booking_in_german(live_server: LiveServer, page: Page) -> None:
    """Booking a haircut on the German self-service page confirms it in German, on the page and by email,
    with the service's German name throughout."""
    customer = a_customer("erika")
    day = weekday_ahead(3)
    page.goto("/book?lang=de")
    expect(page.get_by_role("heading", name="Termin buchen")).to_be_visible()
    page.get_by_role("link", name=re.compile("Haarschnitt")).click()
    expect(page.get_by_role("heading", name="Haarschnitt")).to_be_visible()
    page.locator(f'a.day.free[href*="day={day.isoformat()}"]').click()
    expect(page.locator("a.day.selected")).to_have_attribute("href", re.compile(f"day={day.isoformat()}"))
    page.locator("a.slot").first.click()

    expect(page.get_by_role("heading", name="Ihre Angaben")).to_be_visible()
    page.get_by_label("Name").fill("Erika Musterfrau")
    page.get_by_label("E-Mail").fill(customer)
    expect(page.get_by_label("Sprache", exact=True)).to_have_value("de")
    page.get_by_role("button", name="Jetzt buchen").click()

    expect(page.get_by_role("heading", name="Ihr Termin ist gebucht")).to_be_visible()
    expect(page.locator("main")).to_contain_text(customer)
    ref = page.locator(".details strong").inner_text().strip()

    confirmation = live_server.wait_for_email(kind="confirmation", booking=ref, to=customer)
    assert str(confirmation["Subject"]).startswith("Bestätigt: Haarschnitt, ")
    assert "vielen Dank für Ihre Buchung" in text_of(confirmation)
    assert "Haarschnitt" in text_of(confirmation) and "Haircut" not in text_of(confirmation)
    assert "Termin verwalten" in html_of(confirmation)
    assert manage_links(confirmation), "a self-service booking carries the Manage booking link"


def offer_french(live_server: LiveServer) -> None:
    """The demo business offers French too, and names its haircut in French (the CLI, as an admin would)."""
    business = live_server.cli("business", "update", "contoso", "--languages", "en,de,fr")
    assert business["locales"] == ["en", "de", "fr"]
    live_server.cli(
        "services", "update", "haircut",
        "--name", "fr=Coupe de cheveux", "--description", "fr=Shampooing, coupe et coiffage.",
    )  # fmt: skip


def test_self_service_journey_in_french(live_server: LiveServer, page: Page) -> None:
    """With French offered, a customer books on /book?lang=fr, gets a French confirmation with French dates,
    and moves then cancels the booking on French pages from its emailed link, told in French each time."""
    offer_french(live_server)
    customer = a_customer("camille")
    day = weekday_ahead(3)
    page.goto("/book?lang=fr")
    expect(page.get_by_role("heading", name="Prendre rendez-vous")).to_be_visible()
    menu = page.get_by_role("navigation", name="Choisir la langue")
    expect(menu.get_by_role("link")).to_have_text(["English", "Deutsch", "Français"])
    expect(menu.get_by_role("link", name="Français")).to_have_attribute("aria-current", "true")
    expect(menu.get_by_role("link", name="Deutsch")).not_to_have_attribute("aria-current", "true")
    page.get_by_role("link", name=re.compile("Coupe de cheveux")).click()
    expect(page.get_by_role("heading", name="Coupe de cheveux")).to_be_visible()
    page.locator(f'a.day.free[href*="day={day.isoformat()}"]').click()
    page.locator("a.slot").first.click()

    expect(page.get_by_role("heading", name="Vos coordonnées")).to_be_visible()
    page.get_by_label("Nom", exact=True).fill("Camille Martin")
    page.get_by_label("E-mail", exact=True).fill(customer)
    expect(page.get_by_label("Langue", exact=True)).to_have_value("fr")
    page.get_by_role("button", name="Réserver").click()
    expect(page.get_by_role("heading", name="Votre rendez-vous est réservé")).to_be_visible()
    ref = page.locator(".details strong").inner_text().strip()

    confirmation = live_server.wait_for_email(kind="confirmation", booking=ref, to=customer)
    french_day = format_date(day, format="full", locale="fr")  # « jeudi 10 décembre 2026 »
    short_day = format_skeleton("MMMEd", day, locale="fr")  # « jeu. 10 déc. »
    assert re.fullmatch(
        rf"Confirmé\u00a0: Coupe de cheveux, {re.escape(short_day)}, \d\d:\d\d · Contoso Salon",
        str(confirmation["Subject"]),
    ), confirmation["Subject"]
    text = text_of(confirmation)
    assert "Merci d’avoir pris rendez-vous chez Contoso Salon" in text
    assert re.search(rf"{french_day}, \d\d:\d\d–\d\d:\d\d \(", text), text  # 24-hour times
    # A manage token or the booking's reference (BK-7GDAMP in a failed CI run) may hold "AM" by chance.
    words = re.sub(rf"https?://\S+|{re.escape(ref)}", "", text)
    assert "Haircut" not in words and "AM" not in words and "PM" not in words
    assert "Gérer mon rendez-vous" in html_of(confirmation)
    links = [href for href in manage_links(confirmation) if MANAGE_PATH.search(href)]
    assert links, "a self-service booking carries the manage link"

    page.goto(links[0])
    expect(page.get_by_role("heading", name="Votre rendez-vous", exact=True)).to_be_visible()
    expect(page.locator(".status")).to_have_text("Confirmé")
    page.get_by_role("link", name="Déplacer le rendez-vous").click()
    expect(page.get_by_role("heading", name="Déplacer le rendez-vous")).to_be_visible()
    page.locator(f'a.day.free:not([href*="day={day.isoformat()}"])').first.click()
    page.get_by_role("radio").first.check()
    page.get_by_role("button", name="Déplacer mon rendez-vous à cet horaire").click()
    expect(page.get_by_role("heading", name="Votre rendez-vous a été déplacé")).to_be_visible()
    moved = live_server.wait_for_email(kind="rescheduled", booking=ref, to=customer)
    assert str(moved["Subject"]).startswith("Déplacé\u00a0: Coupe de cheveux, désormais le ")
    assert f"Ancien horaire\u00a0: {french_day}" in text_of(moved)

    page.goto(links[0])
    page.get_by_role("link", name="Annuler le rendez-vous").click()
    expect(page.get_by_role("heading", name=re.compile(r"Annuler ce rendez-vous\s\?"))).to_be_visible()
    page.get_by_label("Motif (facultatif)").fill("Je suis malade, désolée.")
    page.get_by_role("button", name="Oui, annuler mon rendez-vous").click()
    expect(page.get_by_role("heading", name="Votre rendez-vous a été annulé")).to_be_visible()
    cancelled = live_server.wait_for_email(kind="cancelled", booking=ref, to=customer)
    assert str(cancelled["Subject"]).startswith("Annulé à votre demande")
    assert "Motif indiqué\u00a0: Je suis malade, désolée." in text_of(cancelled)
    page.goto(links[0])
    expect(page.locator(".status")).to_have_text("Annulé")


def test_manage_pages_are_labelled_and_keyboard_reachable(live_server: LiveServer, page: Page) -> None:
    """Every control on the manage, reschedule and cancel pages has a label; Tab reaches Reschedule."""
    booking = book_by_cli(
        live_server,
        service="consultation",
        customer=a_customer("kim"),
        start=berlin(weekday_ahead(2), 10),
        origin="self_service",
    )
    manage_url = booking["manage_url"]
    for url in (manage_url, f"{manage_url}/reschedule", f"{manage_url}/cancel"):
        page.goto(url)
        assert page.evaluate(UNLABELLED_CONTROLS) == [], url

    page.goto(manage_url)
    reschedule = page.get_by_role("link", name="Reschedule")
    for _ in range(20):
        page.keyboard.press("Tab")
        if reschedule.evaluate("link => link === document.activeElement"):
            break
    expect(reschedule).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Reschedule", exact=True)).to_be_visible()
