"""Busy times read from iCalendar text: what blocks and what does not (``services.busy_times``)."""

from __future__ import annotations

from datetime import UTC, datetime

from mailflow.services.busy_times import busy_intervals, merge
from mailflow.services.secret_box import SecretUnreadable, open_secret, seal_secret

START = datetime(2026, 12, 7, tzinfo=UTC)
END = datetime(2027, 1, 7, tzinfo=UTC)


def calendar(*events: str) -> bytes:
    body = "".join(
        f"BEGIN:VEVENT\r\nDTSTAMP:20261201T000000Z\r\n{event.strip()}\r\nEND:VEVENT\r\n" for event in events
    )
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n{body}END:VCALENDAR\r\n".encode()


def busy(*events: str) -> list[tuple[datetime, datetime]]:
    return busy_intervals(
        [calendar(*events)], start=START, end=END, zone="Europe/Berlin", own_domain="book.example"
    )


def utc(day: int, hour: int, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def test_a_weekly_event_blocks_each_week_in_the_window() -> None:
    """A weekly recurring event is expanded: one busy time per week, at the wall time of its zone."""
    found = busy(
        "UID:w@x\r\nDTSTART;TZID=Europe/Berlin:20261208T100000\r\nDTEND;TZID=Europe/Berlin:20261208T110000\r\nRRULE:FREQ=WEEKLY;COUNT=3"
    )
    assert found == [(utc(8, 9), utc(8, 10)), (utc(15, 9), utc(15, 10)), (utc(22, 9), utc(22, 10))]


def test_an_all_day_event_blocks_the_day_in_the_staff_zone() -> None:
    """A date-only event covers the local day, midnight to midnight in the staff member's zone."""
    found = busy("UID:d@x\r\nDTSTART;VALUE=DATE:20261210\r\nDTEND;VALUE=DATE:20261211")
    assert found == [(datetime(2026, 12, 9, 23, tzinfo=UTC), datetime(2026, 12, 10, 23, tzinfo=UTC))]


def test_free_cancelled_and_own_events_block_nothing() -> None:
    """Transparent, Outlook-"free" and cancelled events, and our own bookings' UIDs, are no busy time."""
    span = "DTSTART:20261208T090000Z\r\nDTEND:20261208T100000Z"
    assert busy(f"UID:a@x\r\n{span}\r\nTRANSP:TRANSPARENT") == []
    assert busy(f"UID:b@x\r\n{span}\r\nX-MICROSOFT-CDO-BUSYSTATUS:FREE") == []
    assert busy(f"UID:c@x\r\n{span}\r\nSTATUS:CANCELLED") == []
    assert busy(f"UID:bk-7q2m9x@Book.Example\r\n{span}") == []
    assert busy(f"UID:d@x\r\n{span}\r\nTRANSP:OPAQUE") == [(utc(8, 9), utc(8, 10))]


def test_floating_times_are_read_in_the_staff_zone_and_overlaps_merge() -> None:
    """A time without zone is the staff member's wall time; overlapping events become one interval."""
    found = busy(
        "UID:f@x\r\nDTSTART:20261208T100000\r\nDTEND:20261208T110000",
        "UID:g@x\r\nDTSTART:20261208T093000Z\r\nDURATION:PT1H",
    )
    assert found == [(utc(8, 9), datetime(2026, 12, 8, 10, 30, tzinfo=UTC))]


def test_merge_joins_touching_spans() -> None:
    """Touching intervals merge; separate ones stay apart, sorted."""
    assert merge([(utc(8, 11), utc(8, 12)), (utc(8, 9), utc(8, 10)), (utc(8, 10), utc(8, 11))]) == [
        (utc(8, 9), utc(8, 12))
    ]


def test_sealed_secret_opens_only_with_its_key() -> None:
    """A sealed password reads back with the same secret key and is refused with another."""
    sealed = seal_secret("key one", "hunter2")
    assert "hunter2" not in sealed
    assert open_secret("key one", sealed) == "hunter2"
    try:
        open_secret("key two", sealed)
    except SecretUnreadable:
        pass
    else:  # pragma: no cover
        raise AssertionError("another key opened the secret")
