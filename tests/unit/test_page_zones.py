"""The zone a customer page shows its times in, and the venue's clock beside it (issue 17, item 1)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailflow.outbound.formatting import display_zone, in_person, venue_time, your_time, zone_place

BERLIN = "Europe/Berlin"
TWO_PM_LONDON = datetime(2026, 12, 15, 14, 0, tzinfo=UTC)  # 15:00 in Berlin (CET)
SUMMER = datetime(2026, 7, 15, 13, 0, tzinfo=UTC)  # 14:00 in London (BST), 15:00 in Berlin (CEST)


@pytest.mark.parametrize(
    "wanted",
    [None, "", "Mars/Olympus", "europe/london", "../../etc/passwd", "Europe/", "Europe/London "],
)
def test_an_unknown_zone_falls_back_to_the_business_zone(wanted: str | None) -> None:
    """Anything but an exact IANA zone name this system knows gives the fallback."""
    assert display_zone(wanted, BERLIN) == BERLIN


@pytest.mark.parametrize("wanted", ["Europe/London", "America/New_York", "UTC", "Asia/Kolkata"])
def test_a_known_zone_is_kept(wanted: str) -> None:
    assert display_zone(wanted, BERLIN) == wanted


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (None, True),
        ("", True),
        ("Room 3, first floor", True),
        ("Hauptstraße 1, 10115 Berlin", True),
        ("www.example.com/room", True),  # not an http(s) address: a place
        ("https://meet.example/contoso", False),
        ("  HTTP://video.example/x ", False),
    ],
)
def test_only_an_http_address_makes_a_service_online(location: str | None, expected: bool) -> None:
    assert in_person(location) is expected


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("en", "3:00\u202fPM in Berlin"), ("de", "15:00 in Berlin"), ("fr", "15:00 à Berlin")],
)
def test_venue_time_names_the_venues_clock_and_city(locale: str, expected: str) -> None:
    """2:00 PM in London is 3:00 PM in Berlin, in each language's words and clock."""
    assert venue_time(TWO_PM_LONDON, "Europe/London", BERLIN, locale) == expected


def test_venue_time_follows_daylight_saving_on_both_sides() -> None:
    """In July London and Berlin are both an hour later: still one hour apart."""
    assert venue_time(SUMMER, "Europe/London", BERLIN, "de") == "15:00 in Berlin"
    assert venue_time(SUMMER, "America/New_York", BERLIN, "de") == "15:00 in Berlin"


@pytest.mark.parametrize("shown", [BERLIN, "Europe/Paris", "Europe/Rome"])
def test_no_venue_time_when_both_clocks_read_the_same(shown: str) -> None:
    """Same zone, or another with the same offset at that moment: one clock is enough."""
    assert venue_time(TWO_PM_LONDON, shown, BERLIN, "en") == ""
    assert venue_time(SUMMER, shown, BERLIN, "en") == ""


def test_your_time_is_said_in_each_language() -> None:
    assert your_time("2:00 PM", "en") == "2:00 PM your time"
    assert your_time("14:00", "de") == "14:00 Ihre Zeit"
    assert your_time("14:00", "fr") == "14:00 chez vous"


def test_zone_place_is_the_city_in_the_readers_language() -> None:
    assert zone_place("Europe/London", "en") == "London"
    assert zone_place("Europe/London", "fr") == "Londres"
    assert zone_place("America/New_York", "de") == "New York"
