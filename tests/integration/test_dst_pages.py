"""Daylight saving on the admin pages where a time is typed (issue 16, item 3), SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlmodel import select

from mailflow.store.tables import Booking
from tests.integration import test_admin_pages
from tests.integration.test_admin_pages import ADMIN, BOB, Admin, new_booking

make_admin = test_admin_pages.make_admin  # the fixture, shared


@pytest.fixture
def site(make_admin: test_admin_pages.AdminFactory) -> Admin:
    return make_admin()


def count_bookings(site: Admin) -> int:
    with site.db() as session:
        return len(session.exec(select(Booking)).all())


@pytest.mark.parametrize(
    ("day", "says"),
    [
        ("2027-03-28", ["does not exist in Europe/Berlin", "clocks go forward"]),  # skipped
        ("2027-10-31", ["2027-10-31T02:30+02:00", "2027-10-31T02:30+01:00"]),  # happens twice
    ],
)
def test_forcing_a_time_the_clocks_skip_or_repeat_says_so_and_books_nothing(
    site: Admin, day: str, says: list[str]
) -> None:
    """02:30 typed into the new-booking form on a night the clocks change: 400, the page says why."""
    admin = site.sign_in(ADMIN)
    before = count_bookings(site)
    page = new_booking(admin, site, when="force", force_day=day, force_time="02:30", force_staff=BOB)
    assert page.status_code == 400
    assert all(text in page.text for text in says), page.text
    assert count_bookings(site) == before
