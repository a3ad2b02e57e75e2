"""Busy times read from a staff member's own calendar: fetched over the network, then parsed.

``fetch_calendars`` gets the iCalendar text of an iCalendar URL (httpx) or of a CalDAV
calendar (the ``caldav`` package, a time-range query); ``busy_intervals`` turns it into
merged UTC intervals over a window: recurring events expanded by
``recurring-ical-events``, all-day and floating times read in the staff member's zone,
and left out: transparent ("free") events, Outlook's ``X-MICROSOFT-CDO-BUSYSTATUS:FREE``,
cancelled events, and mailflow's own bookings (UIDs ``…@<message domain>``, which a
staff member's calendar holds once they accept our invitations or subscribe to our feed).

Nothing here touches the database: the caller fetches outside any transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import recurring_ical_events
from icalendar import Calendar

__all__ = ["CALDAV", "ICS", "FetchError", "busy_intervals", "fetch_calendars"]

ICS = "ics"
CALDAV = "caldav"
MAX_BYTES = 10 * 1024 * 1024
MAX_INTERVALS = 20_000
Span = tuple[datetime, datetime]


class FetchError(Exception):
    """A calendar could not be read; the message says why, in words an admin can act on."""


def fetch_calendars(
    kind: str,
    url: str,
    *,
    start: datetime,
    end: datetime,
    timeout: float,
    username: str | None = None,
    password: str | None = None,
) -> list[bytes]:
    """The iCalendar texts of the calendar at ``url`` that may hold events in ``[start, end)``."""
    try:
        if kind == CALDAV:
            return _caldav(url, start, end, timeout, username, password)
        return [_ics(url, timeout, username, password)]
    except FetchError:
        raise
    except httpx.TimeoutException:
        raise FetchError(f"no answer within {timeout:g} s") from None
    except Exception as exc:  # every library raises its own; the admin needs the gist
        raise FetchError(_gist(exc)) from None


def _gist(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    if "timed out" in text.lower() or "timeout" in name.lower():
        return "no answer in time"
    return f"{name}: {text}"[:300] if text else name


def _ics(url: str, timeout: float, username: str | None, password: str | None) -> bytes:
    if url.lower().startswith("webcal"):
        url = "https" + url[len("webcal") :]
    auth = (username, password or "") if username else None
    with (
        httpx.Client(timeout=timeout, follow_redirects=True, auth=auth) as client,
        client.stream("GET", url, headers={"Accept": "text/calendar"}) as response,
    ):
        if response.status_code >= 400:
            raise FetchError(f"HTTP {response.status_code} from the calendar's address")
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_BYTES:
                raise FetchError(f"the calendar is larger than {MAX_BYTES // 1024 // 1024} MB")
    if b"BEGIN:VCALENDAR" not in body[:4096].upper():
        raise FetchError("the address does not give an iCalendar file (BEGIN:VCALENDAR missing)")
    return bytes(body)


def _caldav(
    url: str, start: datetime, end: datetime, timeout: float, username: str | None, password: str | None
) -> list[bytes]:
    from caldav.davclient import DAVClient  # imported here: only CalDAV syncs need it (slow to import)

    with DAVClient(url=url, username=username, password=password, timeout=int(timeout) or 1) as client:
        calendar = client.calendar(url=url)  # type: ignore[no-untyped-call]
        found = calendar.search(start=start, end=end, event=True, expand=False)
        return [str(event.data).encode() for event in found]


def busy_intervals(
    texts: Iterable[bytes], *, start: datetime, end: datetime, zone: str, own_domain: str
) -> list[Span]:
    """The merged busy intervals of ``texts`` that overlap ``[start, end)``, in aware UTC.

    Raises ``FetchError`` for a text that is no iCalendar data.
    """
    local = ZoneInfo(zone)
    own = "@" + own_domain.lower()
    spans: list[Span] = []
    for text in texts:
        try:
            calendar = Calendar.from_ical(text)
            events = recurring_ical_events.of(calendar, skip_bad_series=True).between(start, end)
        except Exception as exc:
            raise FetchError(f"the calendar cannot be read: {_gist(exc)}") from None
        for event in events:
            if _free(event) or str(event.get("UID", "")).lower().endswith(own):
                continue
            span = _span(event, local)
            if span is not None and span[1] > start and span[0] < end:
                spans.append(span)
            if len(spans) > MAX_INTERVALS:
                raise FetchError(f"more than {MAX_INTERVALS} events in the coming months")
    return merge(spans)


def _free(event: Any) -> bool:
    """Transparent, "free" (Outlook) or cancelled: no busy time."""
    return (
        str(event.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT"
        or str(event.get("X-MICROSOFT-CDO-BUSYSTATUS", "")).upper() == "FREE"
        or str(event.get("STATUS", "")).upper() == "CANCELLED"
    )


def _span(event: Any, zone: ZoneInfo) -> Span | None:
    if "DTSTART" not in event:
        return None
    first = event["DTSTART"].dt
    if "DTEND" in event:
        last = event["DTEND"].dt
    elif "DURATION" in event:
        last = first + event["DURATION"].dt
    else:  # RFC 5545: a day for a date, an instant (no busy time) for a date-time
        last = first + timedelta(days=1) if not isinstance(first, datetime) else first
    start, end = _instant(first, zone), _instant(last, zone)
    return (start, end) if end > start else None


def _instant(value: date | datetime, zone: ZoneInfo) -> datetime:
    """A DTSTART/DTEND value as aware UTC: dates are the zone's midnight, floating times the zone's."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0))
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def merge(spans: Sequence[Span]) -> list[Span]:
    """Overlapping or touching intervals joined, sorted by start."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged
