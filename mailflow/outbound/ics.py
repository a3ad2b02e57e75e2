"""Calendar parts (RFC 5545 / iTIP) for booking emails, written with icalendar's escaping and folding.

One UID per booking for its whole life; SEQUENCE is the booking's sequence, so
a calendar replaces the old entry on a move and removes it on a cancel. The
attendee is the email's recipient, with ``RSVP=FALSE``: nobody is asked to
answer (a customer's DECLINED answer still reaches the inbound pipeline as a
cancellation request, see ``mailflow.inbound.steps.calendar_reply``). A
``PUBLISH`` calendar (the manage page's download) names no attendee.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from icalendar import vText, vUri
from icalendar.parser import Contentline, Parameters

PRODID = "-//mailflow//booking//EN"


class Method(StrEnum):
    REQUEST = "REQUEST"
    CANCEL = "CANCEL"
    PUBLISH = "PUBLISH"


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
    cancelled: bool = False
    """STATUS:CANCELLED whatever the method (a PUBLISH download of a cancelled booking)."""


def booking_uid(ref: str, domain: str) -> str:
    """The calendar UID of a booking: stable across every change."""
    return f"{ref.lower()}@{domain}"


def calendar_bytes(entry: CalendarEntry, method: Method) -> bytes:
    """The ``text/calendar`` body for ``entry``: REQUEST for new or moved, CANCEL for cancelled,
    PUBLISH for a download.

    Written line by line with icalendar's own escaping, parameter quoting and
    folding, in the order its object model writes them (``tests/unit/test_ics.py``
    checks the bytes are the same): building the ``Calendar`` objects cost a
    millisecond per email, about a fifth of building the whole email.
    """
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{_text(PRODID)}",
        "CALSCALE:GREGORIAN",
        f"METHOD:{method.value}",
        *_event_lines(entry, method),
        "END:VCALENDAR",
    ]
    return b"".join(_folded(line) + b"\r\n" for line in lines)


def feed_bytes(name: str, entries: Sequence[CalendarEntry], refresh_minutes: int) -> bytes:
    """A subscription feed (``METHOD:PUBLISH``) of ``entries``, named ``name`` in calendar apps,
    asking them to poll every ``refresh_minutes`` (``REFRESH-INTERVAL``, RFC 7986)."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{_text(PRODID)}",
        "CALSCALE:GREGORIAN",
        f"METHOD:{Method.PUBLISH.value}",
        f"NAME:{_text(name)}",
        f"X-WR-CALNAME:{_text(name)}",
        f"REFRESH-INTERVAL;VALUE=DURATION:PT{int(refresh_minutes)}M",
        f"X-PUBLISHED-TTL:PT{int(refresh_minutes)}M",
    ]
    for entry in entries:
        lines += _event_lines(entry, Method.PUBLISH)
    lines.append("END:VCALENDAR")
    return b"".join(_folded(line) + b"\r\n" for line in lines)


def _event_lines(entry: CalendarEntry, method: Method) -> list[str]:
    """The VEVENT of ``entry``, in the order icalendar's object model writes it."""
    lines = [
        "BEGIN:VEVENT",
        f"SUMMARY:{_text(entry.summary)}",
        f"DTSTART:{_utc(entry.start)}",
        f"DTEND:{_utc(entry.end)}",
        f"DTSTAMP:{_utc(entry.stamp)}",
        f"UID:{_text(entry.uid)}",
        f"SEQUENCE:{int(entry.sequence)}",
    ]
    if method is not Method.PUBLISH:
        lines.append(
            _address(
                "ATTENDEE",
                entry.attendee_name,
                entry.attendee_email,
                PARTSTAT="ACCEPTED",
                ROLE="REQ-PARTICIPANT",
                RSVP="FALSE",
            )
        )
    if entry.description:
        lines.append(f"DESCRIPTION:{_text(entry.description)}")
    if entry.location:
        lines.append(f"LOCATION:{_text(entry.location)}")
    lines.append(_address("ORGANIZER", entry.organizer_name, entry.organizer_email))
    cancelled = entry.cancelled or method is Method.CANCEL
    lines.append(f"STATUS:{'CANCELLED' if cancelled else 'CONFIRMED'}")
    lines.append("TRANSP:OPAQUE")
    if entry.url:
        lines.append(f"URL:{vUri(entry.url).to_ical().decode()}")
    lines.append("END:VEVENT")
    return lines


def _folded(line: str) -> bytes:
    """The content line folded at 75 octets, never inside a character or an escape.

    icalendar's folding walks every line character by character, a third of an email's
    calendar part; the lines that need no walk are done here with the same result
    (``tests/unit/test_ics.py`` compares them): a short line stays as it is, an ASCII
    line is cut every 74 characters, a backslash or caret at a cut moved to the next line.
    """
    if len(line) < 75 and line.isascii():
        return line.encode("ascii")
    if line.isascii():
        pieces, start = [], 0
        while len(line) - start > _FOLD_AT:
            end = start + _FOLD_AT
            if line[end - 1] in "\\^":  # an escape is never split from what it escapes
                end -= 1
            pieces.append(line[start:end])
            start = end
        pieces.append(line[start:])
        return "\r\n ".join(pieces).encode("ascii")
    folded: bytes = Contentline(line).to_ical()  # type: ignore[no-untyped-call]
    return folded


_FOLD_AT = 74
"""icalendar's folded lines: 74 octets, 75 with a continuation line's leading space."""


def _text(value: str) -> str:
    """A TEXT value (RFC 5545 §3.3.11): backslash, semicolon, comma and newlines escaped."""
    return vText(value).to_ical().decode()


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _address(name: str, cn: str, email: str, **params: str) -> str:
    """An ORGANIZER or ATTENDEE line, its parameters quoted by icalendar's rules."""
    quoted = Parameters(CN=cn or email, **params).to_ical().decode()
    return f"{name};{quoted}:mailto:{email}"
