"""Calendar answers in inbound mail: only an iTIP REPLY counts, and nothing makes the reader raise."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

from mailflow.inbound.itip import calendar_reply

REPLY = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//y//EN\r\nMETHOD:{method}\r\nBEGIN:VEVENT\r\n"
    "UID:bk-7q2m9x@replies.example\r\nDTSTAMP:20260301T120000Z\r\n"
    "ATTENDEE;CN=Max;PARTSTAT={partstat}:mailto:Max@Example.DE\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def message_with(body: str, subtype: str = "calendar", **params: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "max@example.de"
    message.set_content("answer")
    if subtype == "calendar":
        message.add_alternative(body, subtype="calendar", params=params)
    else:
        message.add_attachment(body.encode(), maintype="application", subtype="ics", filename="invite.ics")
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_a_reply_gives_the_uid_and_the_senders_answer() -> None:
    found = calendar_reply(message_with(REPLY.format(method="REPLY", partstat="DECLINED"), method="REPLY"))
    assert found is not None and found.uid == "bk-7q2m9x@replies.example"
    assert found.partstat_of("max@example.de") == "DECLINED"


def test_an_ics_attachment_counts_too() -> None:
    found = calendar_reply(message_with(REPLY.format(method="REPLY", partstat="ACCEPTED"), "ics"))
    assert found is not None and found.partstat_of("MAX@example.de") == "ACCEPTED"


def test_an_invitation_or_a_broken_calendar_is_no_answer() -> None:
    assert calendar_reply(message_with(REPLY.format(method="REQUEST", partstat="DECLINED"))) is None
    assert calendar_reply(message_with("BEGIN:VCALENDAR\r\nnonsense", method="REPLY")) is None
    assert calendar_reply(message_with("just text", "ics")) is None
    assert calendar_reply(None) is None
