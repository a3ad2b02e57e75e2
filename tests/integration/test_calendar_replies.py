"""Calendar answers (iTIP REPLY) from the customer, as Outlook and Gmail send them (issue 18).

DECLINED is a cancellation request under the same rule as a ``cancel`` reply (cancelled email,
or action_refused and a forward to staff); ACCEPTED and TENTATIVE are recorded, nothing sent.
Calendar clients answer the ORGANIZER's address (the business's), without our reply key:
the booking is found by the event's UID, and the sender must still be its customer.
"""

from __future__ import annotations

import email.utils
from datetime import date, datetime
from email.message import EmailMessage

import pytest
from icalendar import Calendar, Event, vCalAddress, vText

from mailflow.booking.model import Origin
from mailflow.bootstrap import App
from tests.integration.test_inbound_pipeline import (  # noqa: F401 - the app fixture
    app,
    book,
    customer_email,
    feed,
    last_id,
    queued,
    status_of,
)


def invite_of(message: EmailMessage) -> Calendar:
    part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return Calendar.from_ical(data)


def itip_reply(invite: Calendar, partstat: str, attendee: str, prodid: str) -> bytes:
    """The answer a calendar client writes to ``invite``: METHOD:REPLY, the attendee's PARTSTAT."""
    original = invite.walk("VEVENT")[0]
    calendar = Calendar()
    calendar.add("prodid", prodid)
    calendar.add("version", "2.0")
    calendar.add("method", "REPLY")
    event = Event()
    for key in ("DTSTART", "DTEND"):
        event.add(key, original[key].dt)
    event.add("dtstamp", original["DTSTAMP"].dt)
    event["organizer"] = original["ORGANIZER"]
    event.add("uid", str(original["UID"]))
    event.add("sequence", int(original["SEQUENCE"]))
    event.add("summary", str(original["SUMMARY"]))
    who = vCalAddress(f"mailto:{attendee}")
    who.params["CN"] = vText("Max Mustermann")
    who.params["PARTSTAT"] = vText(partstat)
    event.add("attendee", who)
    calendar.add_component(event)
    return bytes(calendar.to_ical())


def _headers(reply: EmailMessage, subject: str, sender: str) -> None:
    reply["From"] = f"Max Mustermann <{sender}>"
    reply["To"] = "Contoso Salon <hello@contoso.example>"  # the ORGANIZER: no reply key, no references
    reply["Subject"] = subject
    reply["Message-ID"] = email.utils.make_msgid(domain="example.de")
    reply["Date"] = email.utils.formatdate()


def gmail_reply(invite: Calendar, partstat: str, sender: str = "max@example.de") -> bytes:
    """Gmail: multipart/mixed of a multipart/alternative (text, HTML, text/calendar;method=REPLY)
    and the same calendar as an ``invite.ics`` attachment."""
    ics = itip_reply(invite, partstat, sender, "-//Google Inc//Google Calendar 70.9054//EN")
    reply = EmailMessage()
    word = {"DECLINED": "Abgelehnt", "ACCEPTED": "Angenommen"}.get(partstat, "Vorbehaltlich")
    _headers(reply, f"{word}: Termin @ Di. 10:00 (max@example.de)", sender)
    reply.set_content(f"Max Mustermann hat diese Einladung beantwortet: {word}.")
    reply.add_alternative(f"<p>Max Mustermann: {word}</p>", subtype="html")
    reply.add_alternative(ics.decode(), subtype="calendar", params={"method": "REPLY"})
    reply.make_mixed()
    reply.add_attachment(ics, maintype="application", subtype="ics", filename="invite.ics")
    return reply.as_bytes()


def outlook_reply(invite: Calendar, partstat: str, sender: str = "max@example.de") -> bytes:
    """Outlook: the answer's text and a ``text/calendar; method=REPLY`` part."""
    ics = itip_reply(invite, partstat, sender, "-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN")
    reply = EmailMessage()
    word = {"DECLINED": "Abgelehnt", "ACCEPTED": "Zugesagt"}.get(partstat, "Mit Vorbehalt angenommen")
    _headers(reply, f"{word}: Haarschnitt bei Contoso Salon", sender)
    reply.set_content("")
    reply.add_alternative(ics.decode(), subtype="calendar", params={"method": "REPLY"})
    return reply.as_bytes()


@pytest.mark.parametrize("client", [gmail_reply, outlook_reply])
def test_declined_is_a_cancellation_when_the_customer_may_cancel(
    app: App,  # noqa: F811 - the fixture imported above
    next_tuesday: date,
    now: datetime,
    client: object,
) -> None:
    """The booking is cancelled and the customer gets the cancelled email; nothing reaches staff
    as a message."""
    ref = book(app, next_tuesday, 10, now, service_slug="consultation", origin=Origin.SELF_SERVICE)
    invite = invite_of(customer_email(app, ref, "confirmation"))
    mark = last_id(app)
    assert callable(client)
    row = feed(app, client(invite, "DECLINED"), now)
    assert status_of(app, ref)[0] == "cancelled"
    assert {"rule": "target", "verdict": "calendar_uid", "detail": ""} in row.verdicts
    assert {"rule": "calendar", "verdict": "declined", "detail": ref} in row.verdicts
    assert {"rule": "act", "verdict": "cancelled", "detail": ref} in row.verdicts
    after = queued(app, mark)
    assert [r.kind for r in after if r.recipient == "max@example.de"] == ["cancelled"]
    assert "customer_message" not in {r.kind for r in after}


def test_declined_is_refused_and_forwarded_like_a_cancel_reply(
    app: App,  # noqa: F811 - the fixture imported above
    next_tuesday: date,
    now: datetime,
) -> None:
    """A staff-made booking of a service with the setting off: action_refused, staff get it."""
    ref = book(app, next_tuesday, 10, now, service_slug="haircut", origin=Origin.STAFF)
    invite = invite_of(customer_email(app, ref, "confirmation"))
    mark = last_id(app)
    row = feed(app, gmail_reply(invite, "DECLINED"), now)
    assert status_of(app, ref)[0] == "confirmed"
    assert {"rule": "act", "verdict": "refused", "detail": "origin_staff_and_setting_off"} in row.verdicts
    after = queued(app, mark)
    assert [r.kind for r in after if r.recipient == "max@example.de"] == ["action_refused"]
    assert any(r.kind == "customer_message" and r.recipient == "bob@contoso.example" for r in after)


@pytest.mark.parametrize("partstat", ["ACCEPTED", "TENTATIVE"])
@pytest.mark.parametrize("client", [gmail_reply, outlook_reply])
def test_accepted_and_tentative_are_recorded_and_nothing_else(
    app: App,  # noqa: F811 - the fixture imported above
    next_tuesday: date,
    now: datetime,
    partstat: str,
    client: object,
) -> None:
    """No email to anyone, no forward, the booking unchanged."""
    ref = book(app, next_tuesday, 10, now, service_slug="consultation", origin=Origin.SELF_SERVICE)
    invite = invite_of(customer_email(app, ref, "confirmation"))
    mark = last_id(app)
    assert callable(client)
    row = feed(app, client(invite, partstat), now)
    assert status_of(app, ref)[0] == "confirmed"
    assert {"rule": "calendar", "verdict": partstat.lower(), "detail": ref} in row.verdicts
    assert queued(app, mark) == []


def test_a_declined_answer_through_the_reply_address_cancels_too(
    app: App,  # noqa: F811 - the fixture imported above
    next_tuesday: date,
    now: datetime,
) -> None:
    """Sent to the email's Reply-To (our reply key) rather than the organizer: the same."""
    ref = book(app, next_tuesday, 10, now, service_slug="consultation", origin=Origin.SELF_SERVICE)
    confirmation = customer_email(app, ref, "confirmation")
    raw = gmail_reply(invite_of(confirmation), "DECLINED").replace(
        b"To: Contoso Salon <hello@contoso.example>", f"To: {confirmation['Reply-To']}".encode()
    )
    row = feed(app, raw, now)
    assert any(v["rule"] == "target" and v["verdict"] == "reply_key" for v in row.verdicts)
    assert status_of(app, ref)[0] == "cancelled"


def test_someone_else_declining_the_customers_event_does_not_act(
    app: App,  # noqa: F811 - the fixture imported above
    next_tuesday: date,
    now: datetime,
) -> None:
    """The UID finds the booking, but only its customer may answer for it: staff see the message."""
    ref = book(app, next_tuesday, 10, now, service_slug="consultation", origin=Origin.SELF_SERVICE)
    invite = invite_of(customer_email(app, ref, "confirmation"))
    mark = last_id(app)
    row = feed(app, gmail_reply(invite, "DECLINED", sender="mallory@evil.example"), now)
    assert status_of(app, ref)[0] == "confirmed"
    assert any(v["rule"] == "sender" and v["verdict"] == "unverified" for v in row.verdicts)
    assert [r.kind for r in queued(app, mark)] == ["customer_message"]
