"""Changed reminder offsets behave the same from every door (issue 14's divergence cases).

Before the service layer, ``PATCH /api/v1/services/{slug}`` changed the offsets without
re-planning the pending reminders, the admin form re-planned but wrote no audit record,
and 24 h -> 1 h -> 24 h left no reminder at all. Now both doors call ``update_service``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from mailflow.services.api_keys import create_api_key
from mailflow.store.tables import AuditEvent, Booking, Reminder
from tests.integration import test_admin_pages
from tests.integration.test_admin_pages import ADMIN, BOB, CARLA, TEST, Admin, csrf_of

make_admin = test_admin_pages.make_admin  # the fixture, shared
Door = Callable[[Admin, list[str]], None]


def through_the_api(site: Admin, offsets: list[str]) -> None:
    key = create_api_key(site.app.engine, "contoso", label="doors", actor=TEST, now=site.now)[1]
    minutes = [{"24 h": 1440, "1 h": 60}[offset] for offset in offsets]
    client = TestClient(site.web)
    answer = client.patch(
        "/api/v1/services/haircut",
        json={"reminder_offsets_minutes": minutes},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert answer.status_code == 200, answer.text


def through_the_admin_form(site: Admin, offsets: list[str]) -> None:
    admin = site.sign_in(ADMIN)
    page = admin.get("/admin/services")
    form = {
        "csrf": csrf_of(page, "/admin/services/haircut"),
        "reminders": ", ".join(offsets),
        "staff": [BOB, CARLA],  # the checked boxes, as a browser posts them
    }
    saved = admin.post("/admin/services/haircut", data=form)
    assert saved.status_code == 303, saved.text


DOORS = {"api": through_the_api, "admin_form": through_the_admin_form}


@pytest.fixture(params=sorted(DOORS))
def door(request: pytest.FixtureRequest) -> Door:
    return DOORS[request.param]


@pytest.fixture
def site(make_admin: test_admin_pages.AdminFactory) -> Admin:
    return make_admin()


def reminders_of(site: Admin, ref: str) -> list[tuple[int, str]]:
    with site.db() as session:
        booking = session.exec(select(Booking).where(Booking.ref == ref)).one()
        rows = session.exec(select(Reminder).where(Reminder.booking_id == booking.id))
        return sorted((row.offset_minutes, row.status) for row in rows)


def service_updates(site: Admin) -> int:
    with site.db() as session:
        rows = session.exec(select(AuditEvent).where(col(AuditEvent.action) == "service.updated"))
        return len(rows.all())


def test_changed_offsets_replan_pending_reminders_and_are_audited(site: Admin, door: Door) -> None:
    """24 h -> 1 h: the 24 h reminder is dropped, a 1 h one is pending, one audit record."""
    ref = site.book(10)
    assert reminders_of(site, ref) == [(1440, "pending")]
    door(site, ["1 h"])
    assert reminders_of(site, ref) == [(60, "pending"), (1440, "dropped")]
    assert service_updates(site) == 1


def test_offset_removed_and_added_again_leaves_one_pending_reminder(site: Admin, door: Door) -> None:
    """24 h -> 1 h -> 24 h leaves exactly one pending 24 h reminder per booking, two audit records."""
    refs = [site.book(10), site.book(14, customer="grace@example.com")]
    door(site, ["1 h"])
    door(site, ["24 h"])
    for ref in refs:
        pending = [offset for offset, status in reminders_of(site, ref) if status == "pending"]
        assert pending == [1440]
    assert service_updates(site) == 2
