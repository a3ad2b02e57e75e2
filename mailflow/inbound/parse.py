"""Parse raw inbound bytes into a :class:`ParsedMessage` — for any input, without raising.

The inbound pipeline stores the raw bytes first and parses them second, so
parsing must survive whatever an MTA hands over: undeclared or unknown
charsets, 8-bit headers, broken MIME, truncated files. The modern
``email.policy.default`` parses headers lazily and some malformed headers
raise only when read, so this module never asks the policy for a header: it
reads the raw ``(name, value)`` pairs and decodes them itself, leniently.

>>> parsed = parse_message(b"From: Ann <ANN@example.org>\\r\\nSubject: Re: Hi\\r\\n\\r\\nHello")
>>> parsed.from_address, parsed.subject
('ann@example.org', 'Re: Hi')
"""

from __future__ import annotations

import binascii
import email
import email.policy
import functools
import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.utils import getaddresses, parsedate_to_datetime

__all__ = [
    "ParsedMessage",
    "decode_bytes",
    "decode_header_value",
    "extract_addresses",
    "message_ids",
    "parse_message",
    "raw_headers",
    "text_parts",
]

_MSGID = re.compile(r"<([^<>\s]+)>")
# An RFC 2047 encoded word (RFC 2231 language suffix allowed): charset, encoding, text.
_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=")
_TAG = re.compile(r"<[^<>]*>")
_TEXT_LIMIT = 20_000  # how much of a message's text the body rules read: fingerprints sit at the top
_FOLD = re.compile(r"\r?\n[ \t]*")
_SPACES = re.compile(r"\s+")
# Headers whose values name the mailbox the message was delivered to.
_DELIVERY_HEADERS = ("delivered-to", "x-original-to", "envelope-to", "x-envelope-to")


class _ReadPolicy(email.policy.EmailPolicy):
    """``email.policy.default`` that parses each distinct header value once per process.

    ``get_content_type()`` and friends re-parse ``Content-Type`` on every call,
    and the rules ask many times per message; the same values (``text/plain;
    charset=utf-8``) recur across messages too. Parsed headers are immutable.
    """

    def header_fetch_parse(self, name: str, value: str) -> str:
        if hasattr(value, "name"):
            return value
        return _parsed_header(name, value)


@functools.lru_cache(maxsize=4096)
def _parsed_header(name: str, value: str) -> str:
    return email.policy.default.header_fetch_parse(name, value)  # type: ignore[no-any-return]


_READ_POLICY = _ReadPolicy()


@dataclass(frozen=True)
class ParsedMessage:
    """One inbound message, decoded once, safe to read field by field.

    Addresses are lower-cased addr-specs. ``return_path`` is ``""`` for the
    null path ``<>`` (bounces, many auto-replies) and ``None`` when the
    header is absent. ``headers`` maps lower-cased names to every value, in
    order, RFC 2047-decoded and unfolded. ``message`` is ``None`` only when
    the bytes could not be parsed at all.
    """

    message: EmailMessage | None
    message_id: str | None
    from_address: str | None
    from_name: str | None
    to_addresses: list[str]
    cc_addresses: list[str]
    delivered_to: list[str]
    subject: str
    in_reply_to: str | None
    references: list[str]
    return_path: str | None
    date: datetime | None
    defects: list[str]
    size: int
    sha256: str
    headers: Mapping[str, list[str]] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or ``None``."""
        values = self.headers.get(name.lower())
        return values[0] if values else None

    @functools.cached_property
    def own_text(self) -> str:
        """The message's own text (not attached messages), HTML reduced to text, first 20 000 chars.

        Decoded once; several rules read it.
        """
        chunks: list[str] = []
        size = 0
        for content_type, text in text_parts(self.message):
            if content_type == "text/html":
                text = _TAG.sub(" ", text)
            chunks.append(text)
            size += len(text)
            if size >= _TEXT_LIMIT:
                break
        return "\n".join(chunks)[:_TEXT_LIMIT]


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse ``raw`` into a :class:`ParsedMessage`; never raises for any bytes."""
    raw = bytes(raw)
    message: EmailMessage | None
    try:
        parsed = email.message_from_bytes(raw, policy=_READ_POLICY)
        message = parsed if isinstance(parsed, EmailMessage) else None
    except Exception:  # the parser is lenient, but a crash must not lose the message
        message = None
    headers = raw_headers(message) if message is not None else {}

    def first(name: str) -> str | None:
        values = headers.get(name)
        return values[0] if values else None

    from_pairs = extract_addresses(headers.get("from", []))
    from_address = next((address for _, address in from_pairs if address), None)
    from_name = next((name for name, address in from_pairs if address == from_address and name), None)
    delivered: list[str] = []
    for name in _DELIVERY_HEADERS:
        delivered.extend(address for _, address in extract_addresses(headers.get(name, [])) if address)
    message_id_values = message_ids(first("message-id") or "")
    in_reply_to = message_ids(first("in-reply-to") or "")
    references: list[str] = []
    for value in headers.get("references", []):
        references.extend(message_ids(value))

    return ParsedMessage(
        message=message,
        message_id=message_id_values[0] if message_id_values else _bare_id(first("message-id")),
        from_address=from_address,
        from_name=from_name,
        to_addresses=[address for _, address in extract_addresses(headers.get("to", [])) if address],
        cc_addresses=[address for _, address in extract_addresses(headers.get("cc", [])) if address],
        delivered_to=delivered,
        subject=_SPACES.sub(" ", first("subject") or "").strip(),
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=references,
        return_path=_return_path(first("return-path")),
        date=_date(first("date")),
        defects=_defects(message),
        size=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        headers=headers,
    )


def raw_headers(message: Message) -> dict[str, list[str]]:
    """Every header of ``message`` (top level only), decoded: lower-cased name -> values."""
    headers: dict[str, list[str]] = {}
    try:
        items = list(message.raw_items())
    except Exception:
        return headers
    for name, value in items:
        try:
            key = _text(str(name)).strip().lower()
            headers.setdefault(key, []).append(decode_header_value(str(value)))
        except Exception:  # noqa: S112 - one unreadable header must not hide the others
            continue
    return headers


def decode_header_value(value: str) -> str:
    """Unfold a raw header value and decode RFC 2047 words; unknown charsets degrade, never raise.

    Written here rather than using ``email.header.decode_header``, whose
    regular expression takes quadratic time on a long run of unterminated
    encoded words. Adjacent words of one charset are joined before decoding,
    so a character split across two words survives.
    """
    text = _FOLD.sub(" ", _text(value)).strip()
    if "=?" not in text:
        return text
    out: list[str] = []
    pending: list[bytes] = []
    pending_charset = ""
    position = 0

    def flush() -> None:
        if pending:
            out.append(decode_bytes(b"".join(pending), pending_charset))
            pending.clear()

    for match in _ENCODED_WORD.finditer(text):
        between = text[position : match.start()]
        charset = match.group(1).lower()
        if position == 0 or between.strip():  # text before the word is kept
            flush()
            out.append(between)
        elif charset != pending_charset:  # whitespace between two words is dropped
            flush()
        pending_charset = charset
        pending.append(_word_bytes(match.group(2), match.group(3)))
        position = match.end()
    flush()
    out.append(text[position:])
    return "".join(out)


def _word_bytes(encoding: str, data: str) -> bytes:
    raw = data.encode("ascii", "replace")
    try:
        if encoding in "bB":
            return binascii.a2b_base64(raw + b"=" * (-len(raw) % 4))
        return binascii.a2b_qp(raw, header=True)
    except (binascii.Error, ValueError):
        return raw


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode ``data`` in ``charset``; unknown or wrong charsets fall back to UTF-8, then cp1252."""
    if charset:
        name = charset.strip().strip('"').lower()
        if name in {"unknown-8bit", "x-unknown", "unknown"}:
            name = ""
        if name:
            try:
                return data.decode(name, "replace")
            except Exception:  # noqa: S110 - LookupError, non-text codecs, codec bugs: fall back
                pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def extract_addresses(values: list[str]) -> list[tuple[str, str]]:
    """``(display name, lower-cased addr-spec)`` pairs from address header values; never raises."""
    if not values:  # most of the headers asked for are absent: skip the parser's set-up
        return []
    try:
        pairs = getaddresses(values)
    except Exception:
        return []
    out: list[tuple[str, str]] = []
    for name, address in pairs:
        address = address.strip().strip("<>").lower()
        if address or name:
            out.append((name.strip(), address))
    return out


def message_ids(value: str) -> list[str]:
    """Every ``<id>`` in a Message-ID, In-Reply-To or References value, in order."""
    return [f"<{match}>" for match in _MSGID.findall(value)]


def text_parts(message: Message | None, *, descend_attached: bool = False) -> Iterator[tuple[str, str]]:
    """``(content type, decoded text)`` of every ``text/*`` leaf part.

    Attached messages (``message/rfc822``) are skipped unless
    ``descend_attached``: their text is someone else's. Never raises.
    """
    if message is None:
        return
    stack: list[Message] = [message]
    seen = 0
    while stack and seen < 500:
        part = stack.pop(0)
        seen += 1
        try:
            content_type = part.get_content_type()
            payload = part.get_payload()
            if content_type == "message/rfc822" and not descend_attached:
                continue
            if isinstance(payload, list):
                stack[0:0] = [p for p in payload if isinstance(p, Message)]
                continue
            if part.get_content_maintype() == "multipart":  # no usable boundary: the body is text
                content_type = "text/plain"
            elif part.get_content_maintype() != "text":
                continue
            data = part.get_payload(decode=True)
            if not isinstance(data, bytes):
                continue
            yield content_type, decode_bytes(data, _param(part, "charset"))
        except Exception:  # noqa: S112 - a broken part is skipped, the rest is still read
            continue


def _param(part: Message, name: str) -> str | None:
    try:
        value = part.get_param(name)
    except Exception:
        return None
    if isinstance(value, tuple):  # RFC 2231 (charset, language, value)
        value = value[2]
    return value if isinstance(value, str) else None


def _text(value: str) -> str:
    """Turn surrogate-escaped raw bytes (8-bit headers) back into text."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return decode_bytes(value.encode("utf-8", "surrogateescape"), None)


def _safe_decode(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except Exception:
        return data.decode("latin-1")


def _bare_id(value: str | None) -> str | None:
    """A Message-ID written without angle brackets, normalized to ``<id>``."""
    if not value:
        return None
    token = value.strip()
    if not token or any(c.isspace() for c in token) or "<" in token or ">" in token:
        return None
    return f"<{token}>"


def _return_path(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip()
    match = re.search(r"<([^<>]*)>", text)
    address = (match.group(1) if match else text).strip().lower()
    return address


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except Exception:
        return None
    if parsed.tzinfo is None:  # "-0000": the zone is unknown, the time is UTC
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _defects(message: Message | None) -> list[str]:
    if message is None:
        return ["MessageUnparseable: the bytes could not be parsed"]
    out: list[str] = []
    try:
        for part in message.walk():
            for defect in getattr(part, "defects", []):
                out.append(f"{type(defect).__name__}: {defect}")
            if len(out) >= 100:
                break
    except Exception as exc:
        out.append(f"{type(exc).__name__}: {exc}")
    return out
