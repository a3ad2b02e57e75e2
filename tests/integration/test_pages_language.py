"""Customers read the service's name and description in their language on every page (issue 14)."""

from __future__ import annotations

from datetime import timedelta

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
