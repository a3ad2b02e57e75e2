"""A service layer's error is shown in the page's language: German on a German page, English otherwise.

The sentence comes from the gettext catalog (``error.text(locale)``); the CLI and the API keep
the English ``str(error)``.
"""

from __future__ import annotations

import html as htmllib

import pytest

from mailflow.booking.model import Actor, ActorKind
from tests.integration.test_admin_pages import ADMIN, BOB, Admin, AdminFactory, csrf_of, make_admin
from tests.integration.test_web import Site, booking_form, make_site, site

__all__ = ["make_admin", "make_site", "site"]  # fixtures used here

STAFF = Actor(ActorKind.STAFF, "test")


@pytest.fixture
def admin_site(make_admin: AdminFactory) -> Admin:
    return make_admin()


def test_booking_page_in_german_shows_the_service_error_in_german(site: Site) -> None:
    """An unknown time zone posted on the German booking page comes back in German; nothing is booked."""
    data = booking_form(site, 11, "eve@example.com", timezone="Europe")

    german = site.client.post("/book/consultation?lang=de", data=data)
    english = site.client.post("/book/consultation", data=data)

    assert german.status_code == english.status_code == 400
    assert "Unbekannte Zeitzone „Europe“" in htmllib.unescape(german.text)
    assert "unknown time zone" not in htmllib.unescape(german.text)
    assert "unknown time zone 'Europe'" in htmllib.unescape(english.text)
    assert site.bookings() == []


def test_admin_page_shows_the_service_error_in_the_admins_language(admin_site: Admin) -> None:
    """A member who reads the admin in German (chosen once, remembered) reads the hours' error in German."""
    admin = admin_site.sign_in(ADMIN)
    page = admin.get(f"/admin/staff/{BOB}?lang=de")
    data = {"csrf": csrf_of(page), "tue": "09:00-13:00, 12:00-17:00", "wed": "9-5"}

    bad = admin.post(f"/admin/staff/{BOB}/hours", data=data)

    assert bad.status_code == 400
    text = htmllib.unescape(bad.text)
    assert "hours.tue: Die Zeiträume überschneiden sich" in text
    assert "„9“ ist keine Uhrzeit wie 09:00" in text
    assert "overlap" not in text
