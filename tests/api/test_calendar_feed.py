"""The staff calendar feed (issue 19): ``/cal/{token}.ics``, read by ``icalendar`` as a calendar app would."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from icalendar import Calendar
from sqlmodel import Session, select

from mailflow.booking.model import Actor, ActorKind
from mailflow.services.calendar_feed import new_feed_url
from mailflow.store.tables import AuditEvent, CalendarFeed
from mailflow.web.deps import clock
from tests.api.conftest import BOB, CARLA, PUBLIC, Api

STAFF = Actor(ActorKind.STAFF, "test")
ADMIN = "admin@contoso.example"


def feed_path(api: Api, email: str) -> str:
    url = new_feed_url(api.app.engine, "contoso", email, public_url=PUBLIC, actor=STAFF, now=api.now)
    assert url.startswith(f"{PUBLIC}/cal/") and url.endswith(".ics")
    return url.removeprefix(PUBLIC)


def events(body: bytes) -> dict[str, Any]:
    """The feed's events by UID."""
    calendar = Calendar.from_ical(body)
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


def email_uid(message: EmailMessage) -> str:
    """The UID of an email's calendar part."""
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            [event] = Calendar.from_ical(part.get_content()).walk("VEVENT")
            return str(event["UID"])
    raise AssertionError("no calendar part")


def test_feed_lists_bookings_with_the_emails_uids_and_the_customer(api: Api) -> None:
    """Bob's feed holds his confirmed bookings with the customer's name and phone, each UID the
    confirmation email's; cancelled ones and other staff's bookings are not in it."""
    customer = {"email": "ada@example.com", "name": "Ada Lovelace", "phone": "+49 170 1234567"}
    mine = api.book(10, customer=customer)
    gone = api.book(12)
    theirs = api.book(10, staff=CARLA)
    assert api.post(f"/bookings/{gone['ref']}/cancel", {}).status_code == 200
    response = api.client.get(feed_path(api, BOB))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    found = events(response.content)
    uid = email_uid(api.outbox("confirmation")[0])
    assert list(found) == [uid] and uid.startswith(mine["ref"].lower() + "@")
    event = found[uid]
    assert "Ada Lovelace" in str(event["SUMMARY"])
    assert "+49 170 1234567" in str(event["DESCRIPTION"]) and "Ada Lovelace" in str(event["DESCRIPTION"])
    assert event["DTSTART"].dt == datetime.fromisoformat(mine["start"])
    assert theirs["ref"].lower() not in response.text.lower()


def test_conditional_get_answers_304_until_something_changes(api: Api) -> None:
    """The same ETag gets 304 with no body; a new booking changes the ETag and the feed."""
    api.book(10)
    path = feed_path(api, BOB)
    first = api.client.get(path)
    etag = first.headers["etag"]
    again = api.client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    api.book(14)
    changed = api.client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert len(events(changed.content)) == 2


def test_a_new_url_revokes_the_old_one_and_only_the_hash_is_stored(
    api: Api, run_cli: Any, db_url: str
) -> None:
    """``staff calendar-feed`` prints a new URL; the old one gets 404, as does a made-up token."""
    old = feed_path(api, BOB)
    assert api.client.get(old).status_code == 200
    env = {
        "MAILFLOW_DATABASE_URL": db_url,
        "MAILFLOW_PUBLIC_URL": PUBLIC,
        "MAILFLOW_OUTBOUND_URL": "memory://",
    }
    made = run_cli("staff", "calendar-feed", BOB, "--json", env=env, check=True)
    new = json.loads(made.stdout)["url"].removeprefix(PUBLIC)
    assert re.fullmatch(r"/cal/[A-Za-z0-9_-]{43}\.ics", new)
    assert api.client.get(old).status_code == 404
    assert api.client.get(new).status_code == 200
    assert api.client.get("/cal/" + "A" * 43 + ".ics").status_code == 404
    token = new.removeprefix("/cal/").removesuffix(".ics")
    with Session(api.app.engine) as session:
        [row] = session.exec(select(CalendarFeed)).all()
        audited = session.exec(
            select(AuditEvent).where(AuditEvent.action == "staff.calendar_feed_created")
        ).all()
    assert token not in row.token_hash and len(row.token_hash) == 64 and len(audited) == 2


def test_an_admins_feed_covers_the_whole_business(api: Api) -> None:
    """An admin's own feed holds every staff member's bookings, each summary naming the staff member."""
    api.book(10)
    api.book(11, staff=CARLA)
    found = events(api.client.get(feed_path(api, ADMIN)).content)
    assert len(found) == 2
    summaries = sorted(str(event["SUMMARY"]) for event in found.values())
    assert any("Bob" in text or BOB in text for text in summaries)
    assert any("Carla" in text or CARLA in text for text in summaries)


def test_feed_keeps_30_days_of_past_bookings(api: Api) -> None:
    """A booking stays in the feed until 30 days after it ended, then leaves it."""
    end = datetime.fromisoformat(api.book(10)["end"])
    path = feed_path(api, BOB)
    overrides = api.client.app.dependency_overrides  # type: ignore[attr-defined]
    overrides[clock] = lambda: end + timedelta(days=29)
    assert len(events(api.client.get(path).content)) == 1
    overrides[clock] = lambda: end + timedelta(days=31)
    assert events(api.client.get(path).content) == {}
