"""Every calendar part of real bookings' emails, read with icalendar and with vobject (issue 18).

A booking is made, moved to another staff member and cancelled through the use cases, with
staff-made bookings of a service with the setting off (no manage link) and self-service ones
(with it); every email with a calendar part, customer's and staff's, is parsed by both parsers.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
import vobject
from icalendar import Calendar
from sqlmodel import Session

from mailflow import services
from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.bootstrap import App
from mailflow.outbound.context import change_instructions, load_facts
from mailflow.store.queries import booking_by_ref
from tests.conftest import berlin
from tests.integration.test_inbound_pipeline import app, parsed, queued  # noqa: F401 - the app fixture

CUSTOMER = services.CustomerInput(
    email="max@example.de", name="Max Mustermann", phone="+49 171 555", locale="de"
)
NOTE = "Bitte kurz vorher anrufen"
STAFF = Actor(ActorKind.STAFF, "admin@contoso.example")
STAFF_KINDS = {"booking_created", "booking_rescheduled", "booking_cancelled", "booking_reassigned"}
CUSTOMER_KINDS = {"confirmation", "rescheduled", "cancelled"}


def _life(site: App, day: date, now: datetime, *, service: str, origin: Origin) -> str:
    """Book with Bob, move to Carla a day later, cancel: every kind with a calendar part."""
    ref = services.create_booking(
        site.engine, business="contoso", service=service, staff="bob@contoso.example", customer=CUSTOMER,
        start=berlin(day, 10), origin=origin, actor=STAFF, now=now, public_url=site.settings.public_url,
        note=NOTE, **site.booking_kwargs(),
    ).ref  # fmt: skip
    services.reschedule_booking(
        site.engine, ref, start=berlin(day + timedelta(days=1), 11), staff="carla@contoso.example",
        actor=STAFF, now=now, notifier=site.notifier, grid=site.booking_kwargs()["grid"],
    )  # fmt: skip
    services.cancel_booking(site.engine, ref, reason=None, actor=STAFF, now=now, notifier=site.notifier)
    return ref


def _parts(site: App, ref: str) -> list[tuple[str, str, bytes]]:
    """``(kind, recipient, calendar bytes)`` of every email of ``ref`` with a calendar part."""
    found = []
    for row in queued(site):
        message = parsed(row)
        if message["X-Mailflow-Booking"] != ref:
            continue
        for part in message.walk():
            if part.get_content_type() == "text/calendar":
                data = part.get_payload(decode=True)
                assert isinstance(data, bytes)
                found.append((row.kind, row.recipient, data))
    return found


def _both(data: bytes) -> tuple[Any, Any]:
    """The event as icalendar and as vobject read it."""
    calendar = Calendar.from_ical(data)
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    other = vobject.readOne(data.decode("utf-8"))
    assert other.method.value == str(calendar["METHOD"])
    return events[0], other.vevent


@pytest.mark.parametrize(
    ("service", "origin", "allowed"),
    [("haircut", Origin.STAFF, False), ("consultation", Origin.SELF_SERVICE, True)],
)
def test_every_calendar_part_fits_its_recipient_in_both_parsers(
    app: App,  # noqa: F811 - the fixture imported above
    next_tuesday: date,
    now: datetime,
    service: str,
    origin: Origin,
    allowed: bool,
) -> None:
    """Customer: "<service> bei Contoso Salon", manage link (or change instructions), phone and address.
    Staff: "<customer> – <service>", the reader as attendee, the customer's details, note and admin
    page. Everyone: the business as organizer, RSVP=FALSE, the booking's UID, LOCATION."""
    ref = _life(app, next_tuesday, now, service=service, origin=origin)
    parts = _parts(app, ref)
    kinds = {(kind, recipient) for kind, recipient, _ in parts}
    assert {kind for kind, _ in kinds} == CUSTOMER_KINDS | STAFF_KINDS
    assert ("booking_reassigned", "bob@contoso.example") in kinds
    assert ("booking_reassigned", "carla@contoso.example") in kinds
    public = app.settings.public_url
    with Session(app.engine) as session:
        facts = load_facts(session, booking_by_ref(session, ref))
        instructions = change_instructions(facts.business, facts.service, "de")
    admin_url = f"{public}/admin/bookings/{ref}"
    uids = set()
    for kind, recipient, data in parts:
        event, other = _both(data)
        where = f"{kind} to {recipient}"
        summary, description = str(event["SUMMARY"]), str(event["DESCRIPTION"])
        assert other.summary.value == summary and other.description.value == description, where
        assert other.uid.value == str(event["UID"]), where
        uids.add(str(event["UID"]))
        assert str(event["ORGANIZER"]) == "mailto:hello@contoso.example", where
        assert other.organizer.value == "mailto:hello@contoso.example", where
        attendees = other.contents["attendee"]
        assert [a.value for a in attendees] == [f"mailto:{recipient}"], where
        assert attendees[0].params["RSVP"] == ["FALSE"], where
        assert attendees[0].params["ROLE"] == ["REQ-PARTICIPANT"], where
        assert event["ATTENDEE"].params["RSVP"] == "FALSE", where
        assert "Hauptstraße 1" in str(event["LOCATION"]) and other.location.value == str(event["LOCATION"])
        if kind in STAFF_KINDS:
            assert summary.startswith("Max Mustermann – "), where
            assert CUSTOMER.email in description and CUSTOMER.phone in description, where
            assert NOTE in description and admin_url in description, where
            assert str(event["URL"]) == admin_url == other.url.value, where
            assert "/m/" not in description, where
        else:
            assert summary.endswith(" bei Contoso Salon") and "Max" not in summary, where
            assert "+49 30 1234567" in description and "Hauptstraße 1" in description, where
            assert NOTE not in description and "/admin/" not in description, where
            if allowed and kind != "cancelled":
                assert f"{public}/m/" in description, where
                assert str(event["URL"]).startswith(f"{public}/m/") and other.url.value == str(event["URL"])
            else:
                # A cancelled booking has nothing left to change: no instructions for it either.
                assert (instructions in description) is (kind != "cancelled"), where
                assert "/m/" not in description and "URL" not in event, where
                assert "url" not in other.contents, where
        cancelled = kind in {"cancelled", "booking_cancelled"} or (
            kind == "booking_reassigned" and recipient == "bob@contoso.example"
        )
        assert str(event["STATUS"]) == ("CANCELLED" if cancelled else "CONFIRMED"), where
        assert other.status.value == str(event["STATUS"]), where
        expected = "CANCEL" if cancelled else "REQUEST"
        assert str(Calendar.from_ical(data)["METHOD"]) == expected, where
    assert uids == {f"{ref.lower()}@{app.settings.inbound_domain}"}
