"""The admin in the reader's language: ``?lang=`` (remembered), the browser's, the business's default."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import update

from mailflow.store.tables import Business
from mailflow.web.admin import LANG_COOKIE
from tests.integration import test_admin_pages
from tests.integration.test_admin_pages import ADMIN, BOB, Admin, csrf_of, new_booking

make_admin = test_admin_pages.make_admin  # the fixture, shared
GERMAN = {"accept-language": "de-DE,de;q=0.9,en;q=0.8"}


@pytest.fixture
def site(make_admin: test_admin_pages.AdminFactory) -> Admin:
    return make_admin()


def heading(html: str) -> str:
    found = re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S)
    assert found is not None, html[:500]
    return found.group(1).strip()


def test_lang_parameter_shows_the_bookings_in_german_and_is_remembered(site: Admin) -> None:
    """``?lang=de`` gives the German list and sets the cookie; later pages stay German until ``?lang=en``."""
    admin = site.sign_in(ADMIN)
    site.book(10)
    german = admin.get(f"/admin/bookings?from={site.day.isoformat()}&lang=de")
    assert german.status_code == 200 and '<html lang="de">' in german.text
    assert heading(german.text) == "Buchungen" and "1 Buchung vom" in german.text
    assert german.cookies.get(LANG_COOKIE) == "de"
    later = admin.get(f"/admin/bookings?from={site.day.isoformat()}")
    assert heading(later.text) == "Buchungen" and "Neue Buchung für eine Kundin" in later.text
    back = admin.get("/admin/bookings?lang=en")
    assert heading(back.text) == "Bookings" and admin.cookies.get(LANG_COOKIE) == "en"
    assert heading(admin.get("/admin/account").text) == "Your account"


def test_a_count_of_several_bookings_is_plural_in_both_languages(site: Admin) -> None:
    """Two bookings read "2 bookings" and "2 Buchungen"; the singular form is only for one."""
    site.book(10)
    site.book(11, customer="grace@example.com")
    admin = site.sign_in(ADMIN)
    listing = f"/admin/bookings?from={site.day.isoformat()}&to={site.day.isoformat()}"
    assert "2 bookings from" in admin.get(listing).text
    assert "2 Buchungen vom" in admin.get(f"{listing}&lang=de").text


def test_the_browsers_language_chooses_german_until_the_reader_picks_another(site: Admin) -> None:
    """Accept-Language: de gives the German sign-in page; an explicit choice wins over the header."""
    browser = site.browser()
    page = browser.get("/admin/sign-in", headers=GERMAN)
    assert heading(page.text) == "Anmelden" and "Passwort vergessen?" in page.text
    assert LANG_COOKIE not in page.cookies  # nothing chosen, nothing remembered
    chosen = browser.get("/admin/sign-in?lang=en", headers=GERMAN)
    assert heading(chosen.text) == "Sign in"
    assert heading(browser.get("/admin/sign-in", headers=GERMAN).text) == "Sign in"


def test_without_a_usable_browser_language_the_business_default_applies(site: Admin) -> None:
    """A browser asking only for a language without a catalog sees the business's default language."""
    browser = site.browser()
    assert heading(browser.get("/admin/sign-in", headers={"accept-language": "ja"}).text) == "Sign in"
    site.execute(update(Business).values(default_locale="de"))
    assert heading(browser.get("/admin/sign-in", headers={"accept-language": "ja"}).text) == "Anmelden"
    assert heading(browser.get("/admin/sign-in?lang=xx").text) == "Anmelden"  # not a language: ignored
    assert LANG_COOKIE not in browser.cookies


def test_form_errors_and_the_force_explanation_come_in_german(site: Admin) -> None:
    """A refused new booking answers in German: the field's problem and the forced-time explanation."""
    admin = site.sign_in(ADMIN)
    admin.get("/admin/bookings?lang=de")
    missing = new_booking(admin, site, name="", email="nope")
    assert missing.status_code == 400
    assert "Geben Sie den Namen der Kundin oder des Kunden ein." in missing.text
    assert "Doppelbuchungen lassen sich nicht erzwingen." in missing.text
    assert "enter the customer" not in missing.text


def test_a_wrong_password_is_refused_in_the_browsers_language(site: Admin) -> None:
    """The sign-in error follows Accept-Language too."""
    browser = site.browser()
    token = csrf_of(browser.get("/admin/sign-in", headers=GERMAN))
    refused = browser.post(
        "/admin/sign-in",
        data={"csrf": token, "email": ADMIN, "password": "not it", "next": ""},
        headers=GERMAN,
    )
    assert refused.status_code == 400 and "E-Mail-Adresse oder Passwort ist falsch." in refused.text


def test_the_language_menu_links_every_language_and_marks_the_current_one(site: Admin) -> None:
    """The header's menu names each language in itself; a POST page links to the page above it."""
    admin = site.sign_in(ADMIN)
    page = admin.get("/admin/staff?lang=de").text
    menu = re.search(r'<nav class="admin-lang" aria-label="Sprache">(.*?)</nav>', page, re.S)
    assert menu is not None
    assert '<a href="/admin/staff?lang=de" lang="de" aria-current="true">Deutsch</a>' in menu.group(1)
    assert '<a href="/admin/staff?lang=en" lang="en" hreflang="en">English</a>' in menu.group(1)
    hours = admin.get(f"/admin/staff/{BOB}")
    token = csrf_of(hours, f"/admin/staff/{BOB}/hours")
    refused = admin.post(f"/admin/staff/{BOB}/hours", data={"csrf": token, "mon": "nonsense"})
    assert refused.status_code == 400
    assert f'href="/admin/staff/{BOB}?lang=en"' in refused.text  # the member's page, not the POST-only path
