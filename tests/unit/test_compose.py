"""MIME assembly: parsed back by the standard library, headers safe, names intact."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from mailflow.outbound.compose import (
    Address,
    Attachment,
    Envelope,
    HeaderInjection,
    compose,
    new_message_id,
    thread_id,
)
from mailflow.outbound.ics import CalendarEntry, Method, calendar_bytes
from mailflow.outbound.render import RenderedEmail

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
EVIL_NAME = "<script>alert(1)</script> Ö'Brien"


def envelope(**overrides: object) -> Envelope:
    values: dict[str, object] = {
        "sender": Address("hello@contoso.example", "Contoso Salon"),
        "to": Address("ada@example.com", EVIL_NAME),
        "message_id": new_message_id("mailflow.localhost"),
        "date": NOW,
        "kind": "confirmation",
        "reply_to": Address("reply+abc123@mailflow.localhost", "Contoso Salon"),
        "thread_id": thread_id("BK-7Q2M9X", "mailflow.localhost"),
        "booking_ref": "BK-7Q2M9X",
    }
    values.update(overrides)
    return Envelope(**values)  # type: ignore[arg-type]


def rendered(subject: str = "Ihr Termin ist bestätigt – Dienstag, 3. März") -> RenderedEmail:
    long_line = "Zeile mit Umlauten äöü und = Zeichen " * 40
    return RenderedEmail(
        subject=subject, html=f"<p>Hallo {EVIL_NAME}</p><p>{long_line}</p>", text=f"Hallo\n{long_line}\n"
    )


def ics() -> bytes:
    entry = CalendarEntry(
        uid="bk-7q2m9x@mailflow.localhost",
        sequence=2,
        start=NOW + timedelta(days=2),
        end=NOW + timedelta(days=2, minutes=45),
        summary="Haarschnitt bei Contoso Salon",
        location="Hauptstraße 1, 10115 Berlin",
        description="BK-7Q2M9X",
        organizer_name="Contoso Salon",
        organizer_email="hello@contoso.example",
        attendee_name=EVIL_NAME,
        attendee_email="ada@example.com",
        stamp=NOW,
    )
    return calendar_bytes(entry, Method.REQUEST)


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert not message.defects, message.defects
    for part in message.walk():
        assert not part.defects, part.defects
    return message


def test_message_is_rfc_shaped_crlf_and_short_lines() -> None:
    """Every line ends in CRLF and none is longer than 998 octets (78 for headers)."""
    data = compose(envelope(), rendered(), (ics(), Method.REQUEST))
    assert b"\n" not in data.replace(b"\r\n", b"")
    lines = data.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998
    header_block = data.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in header_block.split(b"\r\n"))
    assert data.isascii()


def test_structure_text_html_calendar_and_attachment() -> None:
    """With a calendar: mixed(alternative(text, html, calendar;method), invite.ics)."""
    message = parse(compose(envelope(), rendered(), (ics(), Method.REQUEST)))
    assert message.get_content_type() == "multipart/mixed"
    kinds = [part.get_content_type() for part in message.walk()]
    assert kinds == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "text/calendar",
        "application/ics",
    ]
    calendar = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    assert calendar.get_param("method") == "REQUEST"
    assert calendar.get_payload(decode=True) == ics()
    attachment = next(p for p in message.walk() if p.get_content_type() == "application/ics")
    assert attachment.get_filename() == "invite.ics"


def test_without_calendar_it_is_just_alternative() -> None:
    """Emails with no calendar part are multipart/alternative of text and HTML."""
    message = parse(compose(envelope(kind="reminder"), rendered()))
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]


def test_bodies_and_headers_decode_to_the_original_text() -> None:
    """Names, subject and bodies survive encoding exactly, special characters included."""
    original = rendered()
    message = parse(compose(envelope(), original))
    assert message["Subject"] == original.subject
    assert message["To"].addresses[0].display_name == EVIL_NAME
    assert message["To"].addresses[0].addr_spec == "ada@example.com"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content().replace("\r\n", "\n") == original.text
    assert html.get_content() == original.html


@pytest.mark.parametrize(
    "subject",
    [
        "Bestätigung: Ihr Termin bei Contoso Salon – Dienstag, 3. März 2026, 10:00–10:45 (MEZ) 💇",
        "ü" * 120,
        "日本語の件名" * 12,
    ],
)
def test_long_non_ascii_subject_and_name_round_trip_with_short_lines(subject: str) -> None:
    """Encoded words never split a character and keep every header line under 78 characters.

    (A display name is compared only as far as one encoded word goes: Python's own
    address parser keeps the space between two encoded words, against RFC 2047.)
    """
    data = compose(envelope(to=Address("ada@example.com", subject[:70])), rendered(subject))
    head = data.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 78
    assert parse(data)["Subject"] == subject
    short = subject[:12]
    message = parse(compose(envelope(to=Address("ada@example.com", short)), rendered(subject)))
    assert message["To"].addresses[0].display_name == short


def test_threading_and_mailflow_headers() -> None:
    """Message-ID as queued, threading on the booking, auto-reply suppression and our own markers."""
    env = envelope()
    message = parse(compose(env, rendered()))
    assert message["Message-ID"] == env.message_id
    assert message["In-Reply-To"] == message["References"] == "<booking.bk-7q2m9x@mailflow.localhost>"
    assert message["Reply-To"].addresses[0].addr_spec == "reply+abc123@mailflow.localhost"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Auto-Response-Suppress"] == "All"
    assert message["X-Mailflow-Kind"] == "confirmation"
    assert message["X-Mailflow-Booking"] == "BK-7Q2M9X"
    assert message["MIME-Version"] == "1.0"


def test_an_answer_threads_under_the_message_it_answers() -> None:
    """``in_reply_to``: In-Reply-To names that message, References the booking's anchor then it,
    one id a folded line (an id itself cannot be folded)."""
    answered = "<" + "CAF=x" * 12 + "@mail.gmail.com>"
    data = compose(envelope(kind="staff_reply", in_reply_to=answered), rendered())
    message = parse(data)
    assert message["In-Reply-To"] == answered
    assert message["References"].split() == ["<booking.bk-7q2m9x@mailflow.localhost>", answered]
    header_block = data.split(b"\r\n\r\n", 1)[0].decode()
    assert f"References: <booking.bk-7q2m9x@mailflow.localhost>\r\n {answered}\r\n" in header_block


@pytest.mark.parametrize(
    "bad",
    [
        {"to": Address("ada@example.com", "Ada\r\nBcc: victim@example.com")},
        {"sender": Address("hello@contoso.example\nBcc: x@example.com")},
        {"kind": "confirmation\r\nX-Evil: 1"},
        {"message_id": "<a@b>\r\nBcc: x@example.com"},
    ],
)
def test_line_breaks_in_header_values_are_refused(bad: dict[str, object]) -> None:
    """No header value can smuggle in another header."""
    with pytest.raises(HeaderInjection):
        compose(envelope(**bad), rendered())


def test_line_break_in_subject_is_refused() -> None:
    """The renderer collapses subjects; composing a raw one with CRLF still fails closed."""
    with pytest.raises(HeaderInjection):
        compose(envelope(), rendered(subject="Hi\r\nBcc: victim@example.com"))


def test_message_ids_are_unique() -> None:
    """A thousand queued messages get a thousand distinct Message-IDs."""
    assert len({new_message_id("x.example") for _ in range(1000)}) == 1000


ORIGINAL = (
    "From: Ada <ada@example.com>\nTo: reply+k@mailflow.localhost\nSubject: Re: Termin\n"
    "Message-ID: <q1@example.com>\nContent-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: 8bit\n\nKann ich meinen Hund mitbringen? Grüße\n"
).encode()


@pytest.mark.parametrize(
    ("original", "encoding"),
    [(ORIGINAL, "8bit"), (ORIGINAL.decode().replace("Grüße", "Gruesse").encode(), "7bit")],
)
def test_a_forwarded_original_is_attached_as_an_email(original: bytes, encoding: str) -> None:
    """``message/rfc822`` in 7bit or 8bit (RFC 2046 allows no base64 there), its lines made CRLF."""
    attachment = Attachment("original.eml", "message/rfc822", original)
    data = compose(envelope(kind="customer_message"), rendered(), attachments=[attachment])
    assert b"\n" not in data.replace(b"\r\n", b"")
    message = parse(data)
    (part,) = message.iter_attachments()
    assert part.get_content_type() == "message/rfc822"
    assert part["Content-Transfer-Encoding"] == encoding
    (inner,) = part.iter_parts()
    assert inner["Message-ID"] == "<q1@example.com>"
    assert "Kann ich meinen Hund mitbringen?" in inner.get_content()


def test_an_original_with_a_line_too_long_for_8bit_is_attached_as_bytes() -> None:
    original = ORIGINAL + b"x" * 1200 + b"\n"
    attachment = Attachment("original.eml", "message/rfc822", original)
    message = parse(compose(envelope(kind="customer_message"), rendered(), attachments=[attachment]))
    (part,) = message.iter_attachments()
    assert part.get_content_type() == "application/octet-stream"
    assert part.get_content() == original
