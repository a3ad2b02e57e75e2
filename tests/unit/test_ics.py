"""Calendar parts parse back with icalendar and carry UID, SEQUENCE and METHOD."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from mailflow.outbound.ics import PRODID, CalendarEntry, Method, booking_uid, calendar_bytes

START = datetime(2026, 3, 3, 9, tzinfo=UTC)


def entry(sequence: int = 0, start: datetime = START) -> CalendarEntry:
    return CalendarEntry(
        uid=booking_uid("BK-7Q2M9X", "mailflow.localhost"),
        sequence=sequence,
        start=start,
        end=start + timedelta(minutes=45),
        summary="Haircut at Contoso Salon",
        location="Hauptstraße 1, 10115 Berlin",
        description="Haircut · Bob · BK-7Q2M9X",
        organizer_name="Contoso Salon",
        organizer_email="hello@contoso.example",
        attendee_name="Ada Lovelace",
        attendee_email="ada@example.com",
        stamp=START - timedelta(days=1),
    )


def event_of(data: bytes) -> tuple[Calendar, object]:
    calendar = Calendar.from_ical(data)
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    return calendar, events[0]


def test_request_has_uid_sequence_times_in_utc_and_people() -> None:
    """A REQUEST names organizer and attendee and gives UTC times."""
    calendar, event = event_of(calendar_bytes(entry(), Method.REQUEST))
    assert str(calendar["METHOD"]) == "REQUEST"
    assert str(event["UID"]) == "bk-7q2m9x@mailflow.localhost"  # type: ignore[index]
    assert int(event["SEQUENCE"]) == 0  # type: ignore[index]
    assert event["DTSTART"].dt == START  # type: ignore[index]
    assert event["DTSTART"].to_ical().endswith(b"Z")  # type: ignore[index]
    assert str(event["STATUS"]) == "CONFIRMED"  # type: ignore[index]
    assert str(event["ORGANIZER"]) == "mailto:hello@contoso.example"  # type: ignore[index]
    assert str(event["ATTENDEE"]) == "mailto:ada@example.com"  # type: ignore[index]
    assert event["LOCATION"] == "Hauptstraße 1, 10115 Berlin"  # type: ignore[index]


def test_reschedule_keeps_uid_and_raises_sequence() -> None:
    """The moved booking is the same calendar entry, with a higher sequence and new times."""
    _, first = event_of(calendar_bytes(entry(0), Method.REQUEST))
    _, moved = event_of(calendar_bytes(entry(1, START + timedelta(days=1)), Method.REQUEST))
    assert moved["UID"] == first["UID"]  # type: ignore[index]
    assert int(moved["SEQUENCE"]) > int(first["SEQUENCE"])  # type: ignore[index]
    assert moved["DTSTART"].dt == START + timedelta(days=1)  # type: ignore[index]


def test_cancel_has_method_cancel_and_status_cancelled() -> None:
    """A cancellation removes the entry in the customer's calendar."""
    calendar, event = event_of(calendar_bytes(entry(2), Method.CANCEL))
    assert str(calendar["METHOD"]) == "CANCEL"
    assert str(event["STATUS"]) == "CANCELLED"  # type: ignore[index]
    assert int(event["SEQUENCE"]) == 2  # type: ignore[index]


def reference_bytes(given: CalendarEntry, method: Method) -> bytes:
    """The same calendar built with icalendar's object model (what calendar_bytes must equal)."""
    from icalendar import Event, vCalAddress, vText

    def address(name: str, email: str, **params: str) -> vCalAddress:
        value = vCalAddress(f"mailto:{email}")
        value.params["CN"] = vText(name or email)
        for key, param in params.items():
            value.params[key] = vText(param)
        return value

    calendar = Calendar()
    for key, value in (
        ("prodid", PRODID),
        ("version", "2.0"),
        ("calscale", "GREGORIAN"),
        ("method", method.value),
    ):
        calendar.add(key, value)
    event = Event()
    event.add("uid", given.uid)
    event.add("sequence", given.sequence)
    event.add("dtstamp", given.stamp)
    event.add("dtstart", given.start)
    event.add("dtend", given.end)
    event.add("summary", given.summary)
    for key, optional in (
        ("location", given.location),
        ("description", given.description),
        ("url", given.url),
    ):
        if optional:
            event.add(key, optional)
    event.add("status", "CANCELLED" if method is Method.CANCEL or given.cancelled else "CONFIRMED")
    event.add("transp", "OPAQUE")
    event["organizer"] = address(given.organizer_name, given.organizer_email)
    if method is not Method.PUBLISH:
        event.add(
            "attendee",
            address(
                given.attendee_name,
                given.attendee_email,
                ROLE="REQ-PARTICIPANT",
                PARTSTAT="ACCEPTED",
                RSVP="FALSE",
            ),
        )
    calendar.add_component(event)
    return bytes(calendar.to_ical())


@pytest.mark.parametrize(
    "text",
    [
        "Contoso Salon",
        'Müller, "Hans"; Dr.',
        "O'Brien: back\\slash",
        "line one\nline two\r\nthree",
        "caret ^ and tab\there",
        "ÄÖÜ " * 40,
        "",
    ],
)
@pytest.mark.parametrize("method", list(Method))
def test_written_lines_equal_icalendars_object_model(text: str, method: Method) -> None:
    """Escaping, parameter quoting and folding are icalendar's own, byte for byte."""
    given = replace(
        entry(3, START + timedelta(hours=5)),
        summary=text or "x",
        description=text,
        location=text,
        organizer_name=text,
        attendee_name=text,
        url=f"https://salon.example/m/{len(text)}/booking.ics" if text else None,
    )
    assert calendar_bytes(given, method) == reference_bytes(given, method)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([*"ab ;,:\\^=é€", "c" * 7, "\\n", "x" * 70]), max_size=40).map("".join))
def test_folding_equals_icalendars_for_any_line(line: str) -> None:
    """The shortcut folding (short lines, ASCII lines) gives icalendar's bytes, escapes at a cut
    included; other lines are icalendar's own."""
    from icalendar.parser import Contentline

    from mailflow.outbound.ics import _folded

    assert _folded(line) == Contentline(line).to_ical()
    long_ascii = "DESCRIPTION:" + line.encode("ascii", "replace").decode() * 5
    assert _folded(long_ascii) == Contentline(long_ascii).to_ical()
