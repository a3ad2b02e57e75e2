"""Calendar parts (RFC 5545 / iTIP) for booking emails, built with icalendar.

One UID per booking for its whole life; SEQUENCE is the booking's sequence, so
a calendar replaces the old entry on a move and removes it on a cancel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from icalendar import Calendar, Event, vCalAddress, vText

PRODID = "-//mailflow//booking//EN"


class Method(StrEnum):
    REQUEST = "REQUEST"
    CANCEL = "CANCEL"


@dataclass(frozen=True, slots=True)
class CalendarEntry:
    uid: str
    sequence: int
    start: datetime
    end: datetime
    summary: str
    location: str
    description: str
    organizer_name: str
    organizer_email: str
    attendee_name: str
    attendee_email: str
    stamp: datetime
    url: str | None = None


def booking_uid(ref: str, domain: str) -> str:
    """The calendar UID of a booking: stable across every change."""
    return f"{ref.lower()}@{domain}"


def _address(name: str, email: str, **params: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{email}")
    address.params["CN"] = vText(name or email)
    for key, value in params.items():
        address.params[key] = vText(value)
    return address


def calendar_bytes(entry: CalendarEntry, method: Method) -> bytes:
    """The ``text/calendar`` body for ``entry``: REQUEST for new or moved, CANCEL for cancelled."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method.value)
    event = Event()
    event.add("uid", entry.uid)
    event.add("sequence", entry.sequence)
    event.add("dtstamp", entry.stamp)
    event.add("dtstart", entry.start)
    event.add("dtend", entry.end)
    event.add("summary", entry.summary)
    if entry.location:
        event.add("location", entry.location)
    if entry.description:
        event.add("description", entry.description)
    if entry.url:
        event.add("url", entry.url)
    event.add("status", "CANCELLED" if method is Method.CANCEL else "CONFIRMED")
    event.add("transp", "OPAQUE")
    event["organizer"] = _address(entry.organizer_name, entry.organizer_email)
    event.add(
        "attendee",
        _address(entry.attendee_name, entry.attendee_email, ROLE="REQ-PARTICIPANT", PARTSTAT="ACCEPTED"),
    )
    calendar.add_component(event)
    return bytes(calendar.to_ical())
