"""Customers read the service's name and description in their language on every page (issue 14)."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest

from tests.integration import test_web
from tests.integration.test_web import BOB, Site, berlin, booking_form, slot_value

make_site = test_web.make_site  # the fixture, shared


@pytest.fixture
def site(make_site: test_web.SiteFactory) -> Site:
    return make_site()


def test_self_service_pages_name_the_service_in_german(site: Site) -> None:
    """/book and /book/{service} in German show "Haarschnitt", in English "Haircut"."""
    german = site.client.get("/book?lang=de").text
    assert "Haarschnitt" in german and "Beratung" in german and "Waschen, schneiden" in german
    assert "<h1>Haarschnitt</h1>" in site.client.get("/book/haircut?lang=de").text
    english = site.client.get("/book?lang=en").text
    assert "Haircut" in english and "Haarschnitt" not in english


def test_manage_page_names_the_service_in_the_customers_language(site: Site) -> None:
    """A German customer's manage page says "Beratung", an English one's "Consultation"."""
    german = site.book(10, locale="de", customer="max@example.de")
    english = site.book(11, customer="ada@example.com")
    assert "Beratung" in site.client.get(german.path).text
    page = site.client.get(english.path).text
    assert "Consultation" in page and "Beratung" not in page


def test_a_language_without_a_name_falls_back_to_the_default(site: Site) -> None:
    """A service named only in English shows its English name on the German page."""
    from mailflow.booking.model import Actor, ActorKind
    from mailflow.services import catalog

    admin = Actor(ActorKind.STAFF, "test")
    catalog.update_service(
        site.app.engine, "contoso", "haircut", {"names": {"de": ""}}, actor=admin, now=site.now
    )
    assert "<h1>Haircut</h1>" in site.client.get("/book/haircut?lang=de").text


def test_a_refused_time_is_explained_in_the_readers_language(site: Site) -> None:
    """The core gives a code (off the grid); the German page says why in German, the English in English."""
    off_grid = slot_value(berlin(site.day, 11) + timedelta(minutes=7), BOB)
    answers = {}
    for lang in ("de", "en"):
        data = {**booking_form(site, 11, "eve@example.com"), "slot": off_grid}
        answers[lang] = site.client.post(f"/book/consultation?lang={lang}", data=data)
    assert answers["de"].status_code == answers["en"].status_code == 409
    assert "kann nicht gebucht werden: die Zeit ist keine der angebotenen Anfangszeiten" in answers["de"].text
    assert "the time is not one of the offered start times" in answers["en"].text
    assert site.bookings() == []


def offer(site: Site, *languages: str) -> None:
    """The business offers ``languages`` (the first is the default), as ``business update --languages``."""
    from mailflow.booking.model import Actor, ActorKind
    from mailflow.services.business import update_business

    update_business(
        site.app.engine,
        "contoso",
        {"locale": languages[0], "languages": list(languages)},
        actor=Actor(ActorKind.STAFF, "test"),
        now=site.now,
    )


def menu_of(html: str) -> list[tuple[str, str, bool]]:
    """The language menu's links: (href, name, is current)."""
    nav = re.search(r'<nav class="lang" aria-label="[^"]+">(.*?)</nav>', html, re.DOTALL)
    if nav is None:
        return []
    return [
        (unescape(href), name, bool(current))
        for href, current, name in re.findall(
            r'<a href="([^"]*)" hreflang="\w+" lang="\w+"( aria-current="true")?>([^<]*)</a>', nav.group(1)
        )
    ]


def test_language_menu_offers_the_businesss_languages_with_the_current_one_marked(site: Site) -> None:
    """The menu names the business's languages in themselves, keeps the page's query, marks the current."""
    assert menu_of(site.client.get(f"/book/haircut?lang=de&day={site.day.isoformat()}").text) == [
        (f"/book/haircut?lang=en&day={site.day.isoformat()}", "English", False),
        (f"/book/haircut?lang=de&day={site.day.isoformat()}", "Deutsch", True),
    ]
    offer(site, "en", "de", "fr")
    french = site.client.get("/book?lang=fr").text
    assert '<nav class="lang" aria-label="Choisir la langue">' in french
    assert menu_of(french) == [
        ("/book?lang=en", "English", False),
        ("/book?lang=de", "Deutsch", False),
        ("/book?lang=fr", "Français", True),
    ]
    assert "Coupe" not in french and "Haircut" in french  # no French name yet: the default one


def test_a_business_with_one_language_shows_no_language_menu(site: Site) -> None:
    """With English only there is nothing to choose: no menu."""
    offer(site, "en")
    page = site.client.get("/book").text
    assert menu_of(page) == [] and 'class="lang"' not in page


def test_french_manage_page_writes_its_labels_the_french_way(site: Site) -> None:
    """A French customer's manage page is in French, with a no-break space before each label's colon."""
    offer(site, "en", "de", "fr")
    booked = site.book(10, locale="fr", customer="camille@example.fr")
    page = site.client.get(booked.path).text
    assert '<html lang="fr">' in page and "Votre rendez-vous" in page
    assert "Téléphone\u00a0: <a" in page and "Téléphone:" not in page
    assert menu_of(page)[2] == (f"{booked.path}?lang=fr", "Français", True)
    english = site.client.get(f"{booked.path}?lang=en").text
    assert "Phone: <a" in english
