"""MIME assembly: one RFC 5322 message per recipient, built directly as bytes.

The standard library's ``email`` package with ``policy=SMTP`` costs about 2 ms
per message here, more than rendering; this module writes the same structure
itself (CRLF everywhere, quoted-printable text, HTML as 7bit where ``html_lines.as_7bit``
can write it so and quoted-printable where not, base64 calendar, RFC 2047 headers via
``email.header``/``email.utils``) in a fraction of that.
``tests/unit/test_compose.py`` parses every variant back with the standard
library to prove it. Header values never contain CR or LF: a value with one is
refused (``HeaderInjection``), names and subjects are collapsed to one line
before they get here.
"""

from __future__ import annotations

import binascii
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr

from mailflow.errors import MailflowError
from mailflow.outbound.html_lines import MAX_LINE, as_7bit
from mailflow.outbound.ics import Method
from mailflow.outbound.render import RenderedEmail

CRLF = b"\r\n"


class HeaderInjection(MailflowError):
    """A header value contained a line break."""


@dataclass(frozen=True, slots=True)
class Address:
    email: str
    name: str = ""

    def header(self) -> str:
        """The address for a header: RFC 2047 name folded before the address when needed."""
        _check(self.email)
        _check(self.name)
        if not self.name or self.name.isascii():
            return formataddr((self.name, self.email))
        return f"{encoded_words(self.name)}\r\n <{self.email}>"


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Envelope:
    """Everything about a message except its content."""

    sender: Address
    to: Address
    message_id: str
    date: datetime
    kind: str
    reply_to: Address | None = None
    thread_id: str | None = None
    booking_ref: str | None = None
    in_reply_to: str | None = None
    """The message this one answers, when it is not the booking's thread anchor (a staff
    member's answer to the customer's own email)."""


def new_message_id(domain: str) -> str:
    """A globally unique ``Message-ID`` (with angle brackets), fixed when a message is queued."""
    return f"<{secrets.token_hex(16)}@{domain}>"


def thread_id(ref: str, domain: str) -> str:
    """The ``References`` anchor shared by every email of one booking."""
    return f"<booking.{ref.lower()}@{domain}>"


def _check(value: str) -> None:
    if "\r" in value or "\n" in value:
        raise HeaderInjection(f"line break in a header value: {value[:40]!r}")


def encoded_words(value: str) -> str:
    """``value`` as RFC 2047 base64 encoded words, folded one word a line.

    Each word holds at most 39 bytes of UTF-8 (never half a character), so a
    line stays under 78 characters; readers join adjacent words without the
    folding space. ``email.header.Header`` does the same but is slow, and
    every non-English subject and name passes here.

    >>> encoded_words("Bestätigung")
    '=?utf-8?b?QmVzdMOkdGlndW5n?='
    """
    data = value.encode("utf-8", "surrogatepass")
    words: list[str] = []
    start = 0
    while start < len(data):
        end = min(start + _WORD_BYTES, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # never cut inside a character
            end -= 1
        words.append(_word(data[start:end]))
        start = end
    return "\r\n ".join(words)


_WORD_BYTES = 39  # 52 base64 characters: with "Subject: " a line stays under 78


def _word(data: bytes) -> str:
    return f"=?utf-8?b?{binascii.b2a_base64(data, newline=False).decode('ascii')}?="


def _text_header(name: str, value: str) -> bytes:
    _check(value)
    if value.isascii() and len(name) + len(value) < 76:
        return f"{name}: {value}".encode("ascii") + CRLF
    if value.isascii():  # long but plain: folded at spaces, no encoding needed
        encoded = Header(value, "us-ascii", header_name=name).encode(linesep="\r\n")
    else:
        encoded = encoded_words(value)
    return f"{name}: {encoded}".encode("ascii") + CRLF


def _qp(text: str) -> bytes:
    body = text.replace("\r\n", "\n").encode("utf-8")
    return binascii.b2a_qp(body, quotetabs=False, istext=True, header=False).replace(b"\n", CRLF)


def _html_part(email: RenderedEmail) -> bytes:
    """The HTML alternative: 7bit when it can be (a fraction of quoted-printable's cost)."""
    body = as_7bit(email.html, styles_ascii=email.styles_ascii)
    if body is None:
        return _part('text/html; charset="utf-8"', "quoted-printable", _qp(email.html))
    return _part('text/html; charset="utf-8"', "7bit", body)


def _base64(data: bytes) -> bytes:
    return b"".join(
        binascii.b2a_base64(data[i : i + 57]).replace(b"\n", CRLF) for i in range(0, len(data), 57)
    )


def _attached(file: Attachment) -> tuple[str, str, bytes]:
    """An attachment's type, transfer encoding and body.

    A ``message/rfc822`` (a forwarded original) is attached as the message
    itself, so mail clients open it as an email: RFC 2046 allows it only in
    7bit or 8bit, so its line endings become CRLF and a message with a line
    too long for either is attached as ``application/octet-stream`` in base64.
    """
    if file.content_type == "message/rfc822":
        lines = file.data.replace(b"\r\n", b"\n").split(b"\n")
        if all(len(line) <= MAX_LINE for line in lines):
            body = CRLF.join(lines)
            if not body.endswith(CRLF):
                body += CRLF
            return file.content_type, "7bit" if body.isascii() else "8bit", body
        return "application/octet-stream", "base64", _base64(file.data)
    return file.content_type, "base64", _base64(file.data)


def _part(content_type: str, encoding: str, body: bytes, extra: str = "") -> bytes:
    head = f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: {encoding}\r\n{extra}\r\n"
    # The CRLF before a boundary belongs to the delimiter, so one is always added.
    return head.encode("ascii") + body + CRLF


def _multipart(subtype: str, parts: list[bytes]) -> tuple[str, bytes]:
    boundary = "=_mf_" + secrets.token_hex(12)
    delimiter = f"--{boundary}\r\n".encode("ascii")
    body = b"".join(delimiter + part for part in parts) + f"--{boundary}--\r\n".encode("ascii")
    return f'multipart/{subtype}; boundary="{boundary}"', body


def compose(
    envelope: Envelope,
    email: RenderedEmail,
    calendar: tuple[bytes, Method] | None = None,
    attachments: Sequence[Attachment] = (),
) -> bytes:
    """The complete message: text and HTML alternatives, plus the calendar part when given.

    With a calendar the structure is ``multipart/mixed`` of a
    ``multipart/alternative`` (text, HTML, ``text/calendar; method=…``) and
    the same calendar as an ``invite.ics`` attachment, which is what Outlook,
    Gmail and Apple Mail each expect.
    """
    alternatives = [
        _part('text/plain; charset="utf-8"', "quoted-printable", _qp(email.text)),
        _html_part(email),
    ]
    if calendar is not None:
        ics, method = calendar
        alternatives.append(
            _part(f'text/calendar; charset="utf-8"; method={method.value}', "base64", _base64(ics))
        )
    content_type, body = _multipart("alternative", alternatives)
    files = list(attachments)
    if calendar is not None:
        files.insert(0, Attachment("invite.ics", "application/ics", calendar[0]))
    if files:
        inner = f"Content-Type: {content_type}\r\n\r\n".encode("ascii") + body
        parts = [inner]
        for file in files:
            name = file.filename.replace('"', "").replace("\\", "")
            _check(name)
            _check(file.content_type)
            content_type, encoding, data = _attached(file)
            parts.append(
                _part(
                    f'{content_type}; name="{name}"',
                    encoding,
                    data,
                    f'Content-Disposition: attachment; filename="{name}"\r\n',
                )
            )
        content_type, body = _multipart("mixed", parts)

    headers = [
        b"From: " + envelope.sender.header().encode("ascii") + CRLF,
        b"To: " + envelope.to.header().encode("ascii") + CRLF,
    ]
    if envelope.reply_to is not None:
        headers.append(b"Reply-To: " + envelope.reply_to.header().encode("ascii") + CRLF)
    headers.append(_text_header("Subject", email.subject))
    headers.append(f"Date: {format_datetime(envelope.date)}\r\n".encode("ascii"))
    _check(envelope.message_id)
    headers.append(f"Message-ID: {envelope.message_id}\r\n".encode("ascii"))
    if envelope.thread_id:
        _check(envelope.thread_id)
        answered = envelope.in_reply_to or envelope.thread_id
        _check(answered)
        # One id a line (folded), the booking's anchor first, the message answered last.
        references = "\r\n ".join(dict.fromkeys([envelope.thread_id, answered]))
        headers.append(f"In-Reply-To: {answered}\r\nReferences: {references}\r\n".encode("ascii"))
    headers.append(b"MIME-Version: 1.0\r\n")
    headers.append(b"Auto-Submitted: auto-generated\r\nX-Auto-Response-Suppress: All\r\n")
    headers.append(_text_header("X-Mailflow-Kind", envelope.kind))
    if envelope.booking_ref:
        headers.append(_text_header("X-Mailflow-Booking", envelope.booking_ref))
    headers.append(f"Content-Type: {content_type}\r\n".encode("ascii"))
    return b"".join(headers) + CRLF + body
