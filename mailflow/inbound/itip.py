"""Calendar answers (iTIP ``METHOD:REPLY``, RFC 5546) found in an inbound message, read with icalendar.

Outlook sends the answer as a ``text/calendar; method=REPLY`` part; Gmail sends a
``multipart/alternative`` with a ``text/calendar; method=REPLY`` part and the same
calendar again as an ``invite.ics`` attachment (``application/ics``). Any of these
counts: the first part whose calendar says ``METHOD:REPLY`` (or whose Content-Type
does, when the calendar names no method) and holds an event with a UID.
Never raises: a calendar that does not parse is no answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message

from icalendar import Calendar

__all__ = ["CalendarReply", "calendar_reply"]

_CALENDAR_TYPES = frozenset(
    {"text/calendar", "application/ics", "text/x-vcalendar", "application/octet-stream"}
)
_MAX_PARTS = 200
_MAX_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class CalendarReply:
    """One event's answer: its UID and each attendee's PARTSTAT (``ACCEPTED``, ``DECLINED``, …)."""

    uid: str
    answers: tuple[tuple[str, str], ...]
    """``(email in lower case, PARTSTAT in upper case)`` of every ATTENDEE line."""

    def partstat_of(self, address: str) -> str | None:
        """The answer of ``address``; of the only attendee when the client wrote another address."""
        address = address.lower()
        for who, partstat in self.answers:
            if who == address:
                return partstat
        return self.answers[0][1] if len(self.answers) == 1 else None


def calendar_reply(message: Message | None) -> CalendarReply | None:
    """The first calendar REPLY among ``message``'s parts, or None."""
    if message is None:
        return None
    try:
        parts = list(message.walk())[:_MAX_PARTS]
    except Exception:
        return None
    for part in parts:
        try:
            found = _reply_of(part)
        except Exception:  # noqa: S112 - a broken part is skipped, the rest is still read
            continue
        if found is not None:
            return found
    return None


def _reply_of(part: Message) -> CalendarReply | None:
    content_type = part.get_content_type()
    filename = (part.get_filename() or "").lower()
    if content_type not in _CALENDAR_TYPES and not filename.endswith(".ics"):
        return None
    if content_type == "application/octet-stream" and not filename.endswith(".ics"):
        return None
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes) or not data or len(data) > _MAX_BYTES:
        return None
    calendar = Calendar.from_ical(data)
    method = str(calendar.get("METHOD") or part.get_param("method") or "").upper()
    if method != "REPLY":
        return None
    for event in calendar.walk("VEVENT"):
        uid = str(event.get("UID") or "").strip()
        if not uid:
            continue
        attendees = event.get("ATTENDEE") or []
        if not isinstance(attendees, list):
            attendees = [attendees]
        answers = tuple(
            (
                str(attendee).strip().removeprefix("mailto:").removeprefix("MAILTO:").lower(),
                str(attendee.params.get("PARTSTAT", "NEEDS-ACTION")).upper(),
            )
            for attendee in attendees
        )
        return CalendarReply(uid, answers)
    return None
