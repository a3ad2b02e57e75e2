"""Mail etiquette (issue 16, item 9) through the inbound pipeline, on SQLite and PostgreSQL:
answers to "reschedule" are capped per booking per hour, forwards to staff leave big
attachments out with a note, mail to postmaster@ reaches the admins.

The SMTP side (RCPT takes postmaster@) is ``tests/e2e/test_inbound_smtp.py``; ``inbound feed``'s
exit 75 is ``tests/integration/test_cli_process.py``.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlmodel import Session, select

from mailflow.booking.model import Origin
from mailflow.bootstrap import App
from mailflow.inbound.process import process_pending, store_raw
from mailflow.services.inbound import OPTIONS_PER_HOUR
from mailflow.services.postmaster import POSTMASTER_PER_HOUR
from mailflow.store.tables import InboundMessage, OutboxMessage
from tests.conftest import demo_app_on
from tests.integration.test_inbound_pipeline import book, customer_email, last_id, parsed, queued, reply_to

DOMAIN = "replies.contoso.example"
MB = 1024 * 1024


@pytest.fixture
def app(db_url: str, tmp_path: Path, now: datetime) -> Iterator[App]:
    settings = {"MAILFLOW_INBOUND_DOMAIN": DOMAIN, "MAILFLOW_FORWARD_MAX_BYTES": str(2 * MB)}
    with demo_app_on(db_url, tmp_path, now, settings) as application:
        yield application


def feed(
    app: App, raw: bytes, now: datetime, *, rcpt: str = "", sender: str = "max@example.de"
) -> InboundMessage:
    row_id = store_raw(app.engine, raw, envelope_from=sender, envelope_rcpt=rcpt, now=now)
    process_pending(app.mailroom, now)
    with Session(app.engine) as session:
        return session.get_one(InboundMessage, row_id)


def verdict(row: InboundMessage, rule: str) -> str | None:
    return next((v["verdict"] for v in reversed(row.verdicts) if v["rule"] == rule), None)


def kinds_since(app: App, mark: int) -> list[tuple[str, str]]:
    return [(r.recipient, r.kind) for r in queued(app, mark)]


# --- answers to "reschedule" ---------------------------------------------------------------


def test_reschedule_answers_are_capped_per_booking_per_hour(
    app: App, next_tuesday: date, now: datetime
) -> None:
    """Three "verschieben" replies within the hour get free times; the fourth reaches Bob instead
    (recorded as capped); an hour later the customer is answered again."""
    ref = book(app, next_tuesday, 10, now, service_slug="consultation", origin=Origin.SELF_SERVICE)
    confirmation = customer_email(app, ref, "confirmation")

    for minute in range(OPTIONS_PER_HOUR):
        mark = last_id(app)
        row = feed(app, reply_to(confirmation, "Verschieben bitte"), now + timedelta(minutes=minute))
        assert verdict(row, "act") == "options"
        assert ("max@example.de", "reschedule_options") in kinds_since(app, mark)

    mark = last_id(app)
    capped = feed(app, reply_to(confirmation, "Verschieben bitte"), now + timedelta(minutes=10))

    assert verdict(capped, "act") == "capped" and verdict(capped, "forward") == "staff"
    assert kinds_since(app, mark) == [("bob@contoso.example", "customer_message")]

    mark = last_id(app)
    later = feed(app, reply_to(confirmation, "Verschieben bitte"), now + timedelta(minutes=61))
    assert verdict(later, "act") == "options"
    assert ("max@example.de", "reschedule_options") in kinds_since(app, mark)


def test_the_cap_is_per_booking(app: App, next_tuesday: date, now: datetime) -> None:
    """Another booking of the same customer is answered while the first one is capped."""
    first = book(app, next_tuesday, 10, now, service_slug="consultation", origin=Origin.SELF_SERVICE)
    second = book(app, next_tuesday, 14, now, service_slug="consultation", origin=Origin.SELF_SERVICE)
    for _ in range(OPTIONS_PER_HOUR + 1):
        feed(app, reply_to(customer_email(app, first, "confirmation"), "Verschieben"), now)

    row = feed(app, reply_to(customer_email(app, second, "confirmation"), "Verschieben"), now)

    assert verdict(row, "act") == "options"


# --- forwards with big attachments ---------------------------------------------------------


def reply_with_files(original: EmailMessage, text: str, files: dict[str, int]) -> bytes:
    """A reply to ``original`` carrying attachments of the given sizes (random-looking bytes)."""
    message = email.message_from_bytes(reply_to(original, text), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    for name, size in files.items():
        data = (name.encode() * (size // len(name) + 1))[:size]
        message.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return message.as_bytes()


def forwarded(app: App, mark: int) -> tuple[OutboxMessage, EmailMessage, EmailMessage]:
    """The forward to Bob queued after ``mark``, parsed, and the original it carries."""
    (row,) = [r for r in queued(app, mark) if r.kind == "customer_message"]
    message = parsed(row)
    (attachment,) = [part for part in message.iter_attachments() if part.get_filename() == "original.eml"]
    assert attachment.get_content_type() == "message/rfc822"
    (original,) = attachment.iter_parts()
    assert isinstance(original, EmailMessage)
    return row, message, original


def test_a_big_reply_is_forwarded_without_its_big_attachment_and_says_so(
    app: App, next_tuesday: date, now: datetime
) -> None:
    """A 10 MB reply (the issue's case) reaches Bob as a forward under 3 MB: the customer's text
    and the small PDF kept, the photo left out and named in a note."""
    ref = book(app, next_tuesday, 10, now, service_slug="consultation", origin=Origin.SELF_SERVICE)
    raw = reply_with_files(
        customer_email(app, ref, "confirmation"),
        "Hier das Foto vom Ausschlag",
        {"photo.jpg": 10 * MB, "befund.pdf": 100_000},
    )
    assert len(raw) > 13 * MB
    mark = last_id(app)

    row = feed(app, raw, now)

    assert verdict(row, "forward") == "staff"
    out, message, original = forwarded(app, mark)
    assert out.payload is not None and len(out.payload) < 3 * MB
    text = message.get_body(("plain",))
    assert text is not None
    body = text.get_content()
    assert "Hier das Foto vom Ausschlag" in body
    assert "photo.jpg" in body and "left out of this forward" in body and "befund.pdf" not in body
    names = [part.get_filename() for part in original.iter_attachments()]
    assert "befund.pdf" in names and "photo.jpg" not in names


def test_a_reply_under_the_limit_is_forwarded_whole(app: App, next_tuesday: date, now: datetime) -> None:
    """Under the limit nothing is left out: the original is the reply byte for byte, no note."""
    ref = book(app, next_tuesday, 10, now, service_slug="consultation", origin=Origin.SELF_SERVICE)
    raw = reply_with_files(customer_email(app, ref, "confirmation"), "Anbei", {"scan.pdf": 500_000})
    mark = last_id(app)

    feed(app, raw, now)

    _, message, original = forwarded(app, mark)
    assert original.as_bytes() == email.message_from_bytes(raw, policy=email.policy.default).as_bytes()
    text = message.get_body(("plain",))
    assert text is not None and "left out" not in text.get_content()


# --- postmaster ----------------------------------------------------------------------------


def note_to_postmaster(subject: str = "Your server is listed") -> bytes:
    message = EmailMessage()
    message["From"] = "Abuse Desk <abuse@isp.example>"
    message["To"] = f"postmaster@{DOMAIN}"
    message["Subject"] = subject
    message["Message-ID"] = email.utils.make_msgid(domain="isp.example")
    message.set_content("Hello postmaster, one of your messages was reported as spam.\n")
    return message.as_bytes()


def test_mail_to_postmaster_reaches_the_admins(app: App, now: datetime) -> None:
    """Mail at postmaster@<inbound domain> is copied to every admin with the original attached;
    it touches no booking and gets no answer."""
    mark = last_id(app)

    row = feed(
        app, note_to_postmaster(), now, rcpt=f"Postmaster@{DOMAIN.upper()}", sender="abuse@isp.example"
    )

    assert row.status == "done" and verdict(row, "postmaster") == "admins" and row.booking_id is None
    (out,) = queued(app, mark)
    assert (out.recipient, out.kind) == ("admin@contoso.example", "postmaster")
    message = parsed(out)
    assert str(message["Subject"]) == f"Mail to postmaster@{DOMAIN}: Your server is listed"
    text = message.get_body(("plain",))
    assert text is not None and "abuse@isp.example" in text.get_content()
    (attachment,) = list(message.iter_attachments())
    assert b"one of your messages was reported as spam" in attachment.get_content()


def test_mail_to_postmaster_without_an_envelope_is_found_by_its_to_header(app: App, now: datetime) -> None:
    """From the IMAP mailbox there is no envelope: a To: postmaster@<inbound domain> counts."""
    mark = last_id(app)
    row = feed(app, note_to_postmaster(), now, sender="abuse@isp.example")
    assert verdict(row, "postmaster") == "admins"
    assert [r.kind for r in queued(app, mark)] == ["postmaster"]


def test_a_flood_to_postmaster_is_recorded_not_forwarded(app: App, now: datetime) -> None:
    """Beyond the hourly cap, messages to postmaster are kept and listed but mail nobody."""
    for number in range(POSTMASTER_PER_HOUR):
        feed(app, note_to_postmaster(f"report {number}"), now, rcpt=f"postmaster@{DOMAIN}")
    mark = last_id(app)

    row = feed(app, note_to_postmaster("one more"), now, rcpt=f"postmaster@{DOMAIN}")

    assert verdict(row, "postmaster") == "recorded"
    assert queued(app, mark) == []
    with Session(app.engine) as session:
        assert len(session.exec(select(InboundMessage)).all()) == POSTMASTER_PER_HOUR + 1
