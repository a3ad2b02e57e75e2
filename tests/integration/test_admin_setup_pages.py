"""The set-up pages (first run, services, staff, hours, time off, closures) through TestClient.

Each form is posted as a browser would and the result read back through the
service layer: forms save through it, mistakes come back next to their field
with the values kept and nothing stored, and actions over confirmed bookings
list those bookings with links to them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mailflow.bootstrap import App, build
from mailflow.config import load_settings
from mailflow.services.business import get_business, list_businesses, mint_setup_link
from mailflow.services.catalog import get_service
from mailflow.services.closures import list_closures
from mailflow.services.staff import get_staff
from mailflow.services.time_off import list_time_off
from mailflow.web.admin.forms import texts_of
from mailflow.web.app import create_web_app
from tests.integration.test_admin_pages import ADMIN, BOB, HTML, Admin, csrf_of, make_admin, site

__all__ = ["make_admin", "site"]  # fixtures used here

ADMIN_PASSWORD = "a long passphrase for setup"


# --- the first run ------------------------------------------------------------------------


@pytest.fixture
def empty_app(db_url: str, tmp_path: Path) -> Iterator[App]:
    """A migrated database with no business yet (as ``mailflow serve`` finds it on a first run)."""
    settings = load_settings(
        {
            "MAILFLOW_DATABASE_URL": db_url,
            "MAILFLOW_OUTBOUND_URL": f"memory://setup-{uuid.uuid4().hex}",
            "MAILFLOW_DATA_DIR": str(tmp_path),
            "MAILFLOW_PUBLIC_URL": "http://testserver",
        }
    )
    app = build(settings)
    yield app
    app.close()


@pytest.fixture
def first_run(empty_app: App) -> tuple[TestClient, str]:
    """A browser and the one-time set-up token."""
    token = mint_setup_link(empty_app.engine, now=datetime.now(UTC))
    assert token is not None
    return TestClient(create_web_app(empty_app.web), follow_redirects=False), token


def setup_form(csrf: str, **changes: object) -> dict[str, object]:
    return {
        "csrf": csrf,
        "name": "Studio Nord",
        "slug": "studio-nord",
        "timezone": "Europe/Berlin",
        "locale": "en",
        "languages": ["en", "de"],
        "phone": "+49 40 123456",
        "email": "hello@studio-nord.example",
        "admin_name": "Nora Nord",
        "admin_email": "nora@studio-nord.example",
        "password": ADMIN_PASSWORD,
        "confirm": ADMIN_PASSWORD,
        **changes,
    }


def test_setup_creates_the_business_and_signs_the_admin_in(
    first_run: tuple[TestClient, str], empty_app: App
) -> None:
    """Set-up creates the business (en, de) and its admin who, signed in, lands on the next steps."""
    client, token = first_run
    form = client.get(f"/admin/setup?token={token}")
    assert form.status_code == 200 and "Set up your business" in form.text
    done = client.post(f"/admin/setup?token={token}", data=setup_form(csrf_of(form)))
    assert done.status_code == 303 and done.headers["location"] == "/admin/services?welcome=1"
    business = get_business(empty_app.engine, "studio-nord")
    assert (business.name, business.locales) == ("Studio Nord", ["en", "de"])
    guide = client.get("/admin/services?welcome=1")
    assert guide.status_code == 200 and "add staff and their working hours" in guide.text


def test_setup_link_works_once_then_is_a_plain_404(first_run: tuple[TestClient, str]) -> None:
    """After the business exists, the same link (GET or POST) and any other token get 404."""
    client, token = first_run
    other = TestClient(client.app, follow_redirects=False)  # another tab opened the link too
    other_csrf = csrf_of(other.get(f"/admin/setup?token={token}"))
    csrf = csrf_of(client.get(f"/admin/setup?token={token}"))
    assert client.post(f"/admin/setup?token={token}", data=setup_form(csrf)).status_code == 303
    assert client.get(f"/admin/setup?token={token}").status_code == 404
    again = other.post(f"/admin/setup?token={token}", data=setup_form(other_csrf, slug="second"))
    assert again.status_code == 404 and "no longer works" in again.text
    # This browser is signed in now: a form token from before the sign-in no longer counts.
    assert client.post(f"/admin/setup?token={token}", data=setup_form(csrf, slug="third")).status_code == 403
    assert client.get("/admin/setup?token=made-up").status_code == 404


def test_setup_mistakes_are_shown_at_the_field_and_nothing_is_stored(
    first_run: tuple[TestClient, str], empty_app: App
) -> None:
    """An unknown time zone comes back next to its field, values kept; no business; the link still works."""
    client, token = first_run
    csrf = csrf_of(client.get(f"/admin/setup?token={token}"))
    bad = client.post(f"/admin/setup?token={token}", data=setup_form(csrf, timezone="Mars/Olympus"))
    assert bad.status_code == 400
    assert 'id="setup-timezone-error"' in bad.text and "unknown time zone" in bad.text
    assert 'value="Mars/Olympus"' in bad.text and 'value="Studio Nord"' in bad.text
    assert list_businesses(empty_app.engine) == []
    differ = client.post(f"/admin/setup?token={token}", data=setup_form(csrf, confirm="something else"))
    assert differ.status_code == 400 and "The two passwords differ." in differ.text
    assert client.get(f"/admin/setup?token={token}").status_code == 200


def test_setup_post_without_csrf_gets_403(first_run: tuple[TestClient, str], empty_app: App) -> None:
    """The anonymous set-up form is CSRF-protected like every admin form."""
    client, token = first_run
    client.get(f"/admin/setup?token={token}")
    assert client.post(f"/admin/setup?token={token}", data=setup_form("")).status_code == 403
    assert list_businesses(empty_app.engine) == []


# --- services -----------------------------------------------------------------------------


def new_service_form(csrf: str, **changes: object) -> dict[str, object]:
    return {
        "csrf": csrf,
        "slug": "colour",
        "name_en": "Colour",
        "name_de": "Färben",
        "description_en": "Full colour",
        "description_de": "",
        "instructions_en": "",
        "instructions_de": "",
        "duration": "90",
        "buffer_before": "0",
        "buffer_after": "15",
        "min_notice": "2 h",
        "horizon_days": "30",
        "change_cutoff": "24 h",
        "reminders": "24 h, 1 h",
        "location": "Room 2",
        "staff": [BOB],
        **changes,
    }


def test_new_service_is_saved_with_names_per_language(site: Admin) -> None:
    """The new-service form creates the service with its German name, minutes, reminders and staff."""
    admin = site.sign_in(ADMIN)
    page = admin.get("/admin/services")
    saved = admin.post("/admin/services", data=new_service_form(csrf_of(page, "/admin/services")))
    assert saved.status_code == 303
    created = get_service(site.app.engine, "contoso", "colour")
    assert created.names == {"en": "Colour", "de": "Färben"}
    assert (created.duration_minutes, created.buffer_after_minutes, created.min_notice_minutes) == (
        90,
        15,
        120,
    )
    assert (created.reminder_offsets_minutes, created.staff, created.location) == (
        [1440, 60],
        [BOB],
        "Room 2",
    )


def test_new_service_with_a_slug_in_use_is_refused_at_the_slug(site: Admin) -> None:
    """A slug in use comes back next to the slug field, every value kept, nothing stored."""
    admin = site.sign_in(ADMIN)
    page = admin.get("/admin/services")
    bad = admin.post("/admin/services", data=new_service_form(csrf_of(page), slug="haircut", name_en="Cut 2"))
    assert bad.status_code == 400
    assert 'id="svc-new-slug-error"' in bad.text and "in use" in bad.text
    assert 'value="Cut 2"' in bad.text and 'value="Room 2"' in bad.text
    assert get_service(site.app.engine, "contoso", "haircut").name == "Haircut"


def test_editing_a_service_sets_its_german_name(site: Admin) -> None:
    """The edit form saves a name per language through the catalog."""
    admin = site.sign_in(ADMIN)
    page = admin.get("/admin/services")
    data = {"csrf": csrf_of(page), "name_en": "Haircut", "name_de": "Haarschnitt", "staff": [BOB]}
    assert admin.post("/admin/services/haircut", data=data).status_code == 303
    assert get_service(site.app.engine, "contoso", "haircut").names == {"en": "Haircut", "de": "Haarschnitt"}


def test_archiving_a_service_keeps_it_listed_as_archived(site: Admin) -> None:
    """Archive takes the service off the booking pages; the settings page offers to restore it."""
    admin = site.sign_in(ADMIN)
    page = admin.get("/admin/services")
    assert admin.post("/admin/services/consultation/archive", data={"csrf": csrf_of(page)}).status_code == 303
    assert get_service(site.app.engine, "contoso", "consultation").active is False
    assert "Restore Consultation" in admin.get("/admin/services").text


# --- staff, hours, time off ---------------------------------------------------------------


def test_adding_staff_and_weekly_hours_with_a_lunch_break(site: Admin) -> None:
    """A new member is added and their Monday gets two periods; an empty day is a day off."""
    admin = site.sign_in(ADMIN)
    page = admin.get("/admin/staff")
    added = admin.post(
        "/admin/staff",
        data={
            "csrf": csrf_of(page, "/admin/staff"),
            "email": "Dana@Contoso.example",
            "name": "Dana",
            "role": "staff",
        },
    )
    assert added.status_code == 303 and added.headers["location"].startswith(
        "/admin/staff/dana@contoso.example"
    )
    member_page = admin.get("/admin/staff/dana@contoso.example")
    hours = {day: "" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    hours["mon"] = "09:00-12:00, 13:00-17:00"
    csrf = csrf_of(member_page, "/admin/staff/dana@contoso.example/hours")
    assert (
        admin.post("/admin/staff/dana@contoso.example/hours", data={"csrf": csrf, **hours}).status_code == 303
    )
    assert get_staff(site.app.engine, "contoso", "dana@contoso.example").hours == {
        "mon": [["09:00", "12:00"], ["13:00", "17:00"]]
    }


def test_overlapping_hours_are_refused_at_their_day(site: Admin) -> None:
    """Overlapping periods come back next to that day, as typed; the hours stay as they were."""
    admin = site.sign_in(ADMIN)
    before = get_staff(site.app.engine, "contoso", BOB).hours
    page = admin.get(f"/admin/staff/{BOB}")
    data = {"csrf": csrf_of(page), "tue": "09:00-13:00, 12:00-17:00", "wed": "9-5"}
    bad = admin.post(f"/admin/staff/{BOB}/hours", data=data)
    assert bad.status_code == 400
    assert 'id="hours-tue-error"' in bad.text and "overlap" in bad.text
    assert 'id="hours-wed-error"' in bad.text and 'value="09:00-13:00, 12:00-17:00"' in bad.text
    assert get_staff(site.app.engine, "contoso", BOB).hours == before


def test_time_off_over_a_booking_lists_it_and_can_be_removed(site: Admin) -> None:
    """Time off over Bob's booking is saved and lists that booking with a link; removing it works."""
    ref = site.book(hour=10)
    admin = site.sign_in(ADMIN)
    page = admin.get(f"/admin/staff/{BOB}")
    day = site.day.isoformat()
    data = {"csrf": csrf_of(page), "from": f"{day}T09:00", "to": f"{day}T12:00", "reason": "Dentist"}
    saved = admin.post(f"/admin/staff/{BOB}/time-off", data=data)
    assert saved.status_code == 200
    assert "These confirmed bookings fall in the time off" in saved.text
    assert f'href="/admin/bookings/{ref}"' in saved.text
    (entry,) = list_time_off(site.app.engine, "contoso", BOB)
    assert entry.reason == "Dentist"
    removed = admin.post(f"/admin/staff/{BOB}/time-off/{entry.id}/remove", data={"csrf": csrf_of(page)})
    assert removed.status_code == 303 and list_time_off(site.app.engine, "contoso", BOB) == []


def test_reversed_time_off_is_refused_and_nothing_stored(site: Admin) -> None:
    """A time off that ends before it starts comes back at its field, values kept."""
    admin = site.sign_in(ADMIN)
    page = admin.get(f"/admin/staff/{BOB}")
    day = site.day.isoformat()
    data = {"csrf": csrf_of(page), "from": f"{day}T12:00", "to": f"{day}T09:00", "reason": "x"}
    bad = admin.post(f"/admin/staff/{BOB}/time-off", data=data)
    assert bad.status_code == 400 and 'id="time-off-to-error"' in bad.text
    assert f'value="{day}T12:00"' in bad.text
    assert list_time_off(site.app.engine, "contoso", BOB) == []


def test_deactivating_staff_lists_their_upcoming_bookings(site: Admin) -> None:
    """Deactivating Bob shows his confirmed bookings to be moved."""
    ref = site.book(hour=11)
    admin = site.sign_in(ADMIN)
    page = admin.get(f"/admin/staff/{BOB}")
    done = admin.post(f"/admin/staff/{BOB}/deactivate", data={"csrf": csrf_of(page)})
    assert done.status_code == 200 and f'href="/admin/bookings/{ref}"' in done.text
    assert get_staff(site.app.engine, "contoso", BOB).active is False


# --- closures -----------------------------------------------------------------------------


def test_closure_over_a_booking_lists_it_and_can_be_removed(site: Admin) -> None:
    """A closure on the day of a booking lists the booking; remove opens the day again."""
    ref = site.book(hour=10)
    admin = site.sign_in(ADMIN)
    page = admin.get("/admin/closures")
    data = {"csrf": csrf_of(page), "from": site.day.isoformat(), "to": "", "label": "Team day"}
    saved = admin.post("/admin/closures", data=data)
    assert saved.status_code == 200 and f'href="/admin/bookings/{ref}"' in saved.text
    (closure,) = list_closures(site.app.engine, "contoso")
    assert (closure.start, closure.label) == (site.day, "Team day")
    assert admin.post(f"/admin/closures/{closure.id}/remove", data={"csrf": csrf_of(page)}).status_code == 303
    assert list_closures(site.app.engine, "contoso") == []


def test_holiday_import_lists_added_and_skipped_days(site: Admin) -> None:
    """Importing DE/BY twice adds the holidays once and reports the second run's days as skipped."""
    admin = site.sign_in(ADMIN)
    page = admin.get("/admin/closures")
    year = datetime.now(UTC).year + 1
    data = {
        "csrf": csrf_of(page, "/admin/closures/holidays"),
        "country": "DE",
        "subdivision": "BY",
        "year": str(year),
    }
    first = admin.post("/admin/closures/holidays", data=data)
    assert first.status_code == 200 and "public holidays added, 0 skipped" in first.text
    assert date(year, 12, 25) in {c.start for c in list_closures(site.app.engine, "contoso")}
    second = admin.post("/admin/closures/holidays", data=data)
    assert "0 public holidays added" in second.text and "Skipped (closed already)" in second.text


def test_unknown_holiday_region_is_refused_at_its_field(site: Admin) -> None:
    """An unknown region comes back next to the region field; nothing is imported."""
    admin = site.sign_in(ADMIN)
    page = admin.get("/admin/closures")
    data = {
        "csrf": csrf_of(page, "/admin/closures/holidays"),
        "country": "DE",
        "subdivision": "XX",
        "year": "2030",
    }
    bad = admin.post("/admin/closures/holidays", data=data)
    assert (
        bad.status_code == 400 and 'id="holidays-subdivision-error"' in bad.text and 'value="XX"' in bad.text
    )
    assert list_closures(site.app.engine, "contoso") == []


# --- who may -------------------------------------------------------------------------------

SET_UP_PAGES = ["/admin/closures", f"/admin/staff/{BOB}", "/admin/staff"]
SET_UP_POSTS = [
    "/admin/services",
    "/admin/services/haircut/archive",
    "/admin/staff",
    f"/admin/staff/{BOB}",
    f"/admin/staff/{BOB}/hours",
    f"/admin/staff/{BOB}/time-off",
    f"/admin/staff/{BOB}/deactivate",
    "/admin/closures",
    "/admin/closures/holidays",
    "/admin/closures/1/remove",
]


def test_set_up_pages_need_an_admin(site: Admin) -> None:
    """Signed-out browsers are sent to sign in (401 for others); staff get 403."""
    stranger, bob = site.browser(), site.sign_in(BOB)
    for path in SET_UP_PAGES:
        assert stranger.get(path, headers=HTML).headers["location"].startswith("/admin/sign-in?next=")
        assert stranger.get(path, headers={"accept": "application/json"}).status_code == 401
        assert bob.get(path).status_code == 403, path


def test_set_up_posts_without_csrf_get_403(site: Admin) -> None:
    """Every set-up form refuses a POST without its CSRF token, and changes nothing."""
    admin = site.sign_in(ADMIN)
    for path in SET_UP_POSTS:
        assert admin.post(path, data={"country": "DE", "year": "2030"}).status_code == 403, path
    assert get_staff(site.app.engine, "contoso", BOB).active is True
    assert list_closures(site.app.engine, "contoso") == []


def test_texts_of_reads_one_field_per_language() -> None:
    """``name_en``/``name_de`` form fields become a ``{language: text}`` map."""
    assert texts_of({"name_en": "Cut", "name_de": "Schnitt"}, "name", ["en", "de"]) == {
        "en": "Cut",
        "de": "Schnitt",
    }
