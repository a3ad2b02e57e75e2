"""The admin calendar shows the bookings of the chosen local days only (issue 14, item 5)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mailflow.web.deps import clock
from tests.conftest import berlin
from tests.integration import test_admin_pages
from tests.integration.test_admin_pages import ADMIN, BOB, Admin

make_admin = test_admin_pages.make_admin  # the fixture, shared


@pytest.fixture
def site(make_admin: test_admin_pages.AdminFactory) -> Admin:
    return make_admin()


def test_day_view_holds_only_that_days_bookings(site: Admin) -> None:
    """A booking of the next day is not on this day's view, nor one of the day before."""
    today = site.book(10)
    site.day += timedelta(days=1)
    tomorrow = site.book(10, customer="grace@example.com")
    site.day -= timedelta(days=1)
    admin = site.sign_in(ADMIN)
    page = admin.get(f"/admin/bookings?view=day&day={site.day.isoformat()}").text
    assert today in page and tomorrow not in page
    next_page = admin.get(f"/admin/bookings?view=day&day={(site.day + timedelta(days=1)).isoformat()}").text
    assert tomorrow in next_page and today not in next_page


def test_list_of_one_day_excludes_the_day_before(site: Admin) -> None:
    """The list from D to D holds D's bookings only (not the previous day's, nor the next)."""
    site.day += timedelta(days=1)
    chosen = site.book(9, staff=BOB)
    site.day -= timedelta(days=1)
    before = site.book(16, staff=BOB, customer="grace@example.com")  # late the day before
    day = (site.day + timedelta(days=1)).isoformat()
    page = site.sign_in(ADMIN).get(f"/admin/bookings?from={day}&to={day}").text
    assert chosen in page and before not in page


def test_today_follows_the_clock_dependency(site: Admin) -> None:
    """The admin pages read the time from ``web.deps.clock``: overriding it moves the calendar's today."""
    later = site.day + timedelta(days=3)
    site.web.dependency_overrides[clock] = lambda: berlin(later, 10)
    try:  # signed in at that time too: it can be further ahead than a session lasts
        page = site.sign_in(ADMIN).get("/admin/bookings?view=day").text
    finally:
        site.web.dependency_overrides.clear()
    assert f'name="day" type="date" value="{later.isoformat()}"' in page
    assert f"day={(later + timedelta(days=1)).isoformat()}" in page
    assert ">Today</a>" not in page  # the day shown is the (overridden) today
