"""The calendar entry each recipient of a booking email gets, and the customer's "add to calendar" links.

A customer's entry is named after the service and the business ("Haircut at
Contoso Salon"); its DESCRIPTION gives the manage link when the customer may
manage (else the business's change instructions), the business's phone and
address. A staff member's entry is named after the customer ("Ada Lovelace –
Haircut") and gives what staff need: the customer's name, email, phone and
note, and the booking's admin page. In both the recipient is the ATTENDEE
(``RSVP=FALSE``) and the business the ORGANIZER (see ``mailflow.outbound.ics``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from mailflow.booking.model import BookingState, BookingStatus
from mailflow.outbound.context import BookingFacts, Reader, change_instructions
from mailflow.outbound.i18n import message
from mailflow.outbound.ics import CalendarEntry, booking_uid

GOOGLE = "https://calendar.google.com/calendar/render"
OUTLOOK = "https://outlook.live.com/calendar/0/deeplink/compose"


def calendar_entry(
    facts: BookingFacts,
    state: BookingState,
    locale: str,
    domain: str,
    now: datetime,
    *,
    attendee: Reader | None = None,
    manage_url: str | None = None,
    admin_url: str | None = None,
) -> CalendarEntry:
    """The entry of ``state`` for the customer, or, with ``admin_url``, for the staff ``attendee``.

    ``manage_url`` only when the customer may manage (it then is the entry's URL too).
    """
    business, customer, service = facts.business, facts.customer, facts.service
    service_name = service.name_in(locale)
    staff_name = facts.staff.name or facts.staff.email
    overview = f"{service_name} · {staff_name} · {state.ref}"
    if admin_url is not None:
        summary = message(locale, "calendar.staff_summary", customer=customer.name, service=service_name)
        lines = [
            message(locale, "calendar.customer", name=customer.name),
            message(locale, "calendar.email", email=customer.email),
        ]
        if customer.phone:
            lines.append(message(locale, "calendar.phone", phone=customer.phone))
        if facts.note:
            lines.append(message(locale, "calendar.note", note=facts.note))
        lines += [overview, message(locale, "calendar.admin", url=admin_url)]
        url: str | None = admin_url
    else:
        summary = message(locale, "summary", service=service_name, business=business.name)
        lines = [overview]
        if manage_url:
            lines.append(message(locale, "calendar.manage", url=manage_url))
        elif state.status is not BookingStatus.CANCELLED:  # nothing left to change
            lines.append(change_instructions(business, service, locale))
        if business.phone:
            lines.append(message(locale, "calendar.phone", phone=business.phone))
        if business.address:
            lines.append(message(locale, "calendar.address", address=business.address))
        url = manage_url
    who = attendee or Reader(customer.name, customer.email, locale, customer.timezone)
    return CalendarEntry(
        uid=booking_uid(state.ref, domain),
        sequence=state.sequence,
        start=state.start,
        end=state.end,
        summary=summary,
        location=service.location or business.address,
        description="\n".join(lines),
        organizer_name=business.sender_name or business.name,
        organizer_email=business.sender_email or business.email,
        attendee_name=who.name,
        attendee_email=who.email,
        stamp=now,
        url=url,
        cancelled=state.status is BookingStatus.CANCELLED,
    )


def add_to_calendar_links(entry: CalendarEntry) -> dict[str, str]:
    """Google Calendar's and Outlook on the web's "new event" links, filled in from ``entry``.

    Each value is percent-encoded once for both links (``urlencode`` took a tenth of a
    millisecond per email, a tenth of rendering the whole email).
    """
    start, end = entry.start.astimezone(UTC), entry.end.astimezone(UTC)
    title, details, place = (
        quote(value, safe="/:") for value in (entry.summary, entry.description, entry.location)
    )
    google = (
        f"{GOOGLE}?action=TEMPLATE&text={title}&dates={start:%Y%m%dT%H%M%SZ}/{end:%Y%m%dT%H%M%SZ}"
        f"&details={details}&location={place}"
    )
    outlook = (
        f"{OUTLOOK}?path=/calendar/action/compose&rru=addevent&subject={title}"
        f"&startdt={start:%Y-%m-%dT%H:%M:%SZ}&enddt={end:%Y-%m-%dT%H:%M:%SZ}&body={details}&location={place}"
    )
    return {"add_to_google": google, "add_to_outlook": outlook}
