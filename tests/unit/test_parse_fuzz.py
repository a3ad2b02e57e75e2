"""parse_message and classify survive any bytes: random, mutated, truncated, mis-labelled.

The examples below pin what the parser makes of awkward but real input;
the hypothesis tests then throw random and mutated messages at it. Mutations
start from hand-built seeds and, when the corpora are present
(``MAILFLOW_CORPORA`` or ``<repo>/../shared/corpora``), from real bounces and
replies too.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailflow.inbound.parse import ParsedMessage, parse_message
from mailflow.inbound.reports import bounce_info
from mailflow.inbound.rules import RuleContext, classify

CTX = RuleContext(our_addresses=frozenset({"hello@contoso.example"}), inbound_domain="mailflow.localhost")
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SEEDS: list[bytes] = [
    b"From: Ada <ada@example.com>\r\nTo: reply+k3y@mailflow.localhost\r\nSubject: Re: Your booking\r\n"
    b"Message-ID: <r1@example.com>\r\nIn-Reply-To: <c1@mailflow.localhost>\r\n"
    b'Content-Type: text/plain; charset="utf-8"\r\n\r\ncancel\r\n\r\n> Your booking\r\n',
    b"From: MAILER-DAEMON@mx.example.com\r\nTo: bounce+bk-1@mailflow.localhost\r\nReturn-Path: <>\r\n"
    b"Subject: Undelivered Mail Returned to Sender\r\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
    b'--b\r\nContent-Type: text/plain; charset="iso-8859-1"\r\n\r\nThis is the mail system at host mx.\r\n'
    b"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
    b"Final-Recipient: rfc822; ada@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
    b"--b\r\nContent-Type: message/rfc822\r\n\r\nMessage-ID: <c1@mailflow.localhost>\r\n"
    b"X-Mailflow-Kind: confirmation\r\nX-Mailflow-Booking: BK-1\r\n\r\nHi\r\n--b--\r\n",
    b"From: =?utf-8?q?J=C3=BCrgen?= <j@example.de>\r\n"
    b"Subject: =?iso-8859-1?q?Abwesenheitsnotiz=3A_Termin?=\r\n"
    b"Auto-Submitted: auto-replied\r\nContent-Type: text/html; charset=windows-1252\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n<p>Ich bin nicht im B=FCro.</p>\r\n",
    b"From: x@example.org\r\nSubject: \xe4\xf6\xfc raw 8-bit\r\n"
    b"Content-Type: multipart/mixed\r\n\r\nno boundary\r\n",
]


def _corpus_seeds() -> list[bytes]:
    root = Path(
        os.environ.get("MAILFLOW_CORPORA", Path(__file__).resolve().parents[2].parent / "shared/corpora")
    )
    names = [
        "sisimai/maildir/bsd/lhost-exim-01.eml",
        "sisimai/maildir/bsd/lhost-postfix-07.eml",
        "sisimai/maildir/bsd/lhost-office365-04.eml",
        "sisimai/maildir/bsd/rfc3464-36.eml",
        "sisimai/maildir/bsd/rfc3834-02.eml",
        "sisimai/maildir/bsd/arf-01.eml",
        "talon/tests/fixtures/standard_replies/gmail.eml",
        "talon/tests/fixtures/standard_replies/iphone.eml",
    ]
    return [(root / name).read_bytes() for name in names if (root / name).is_file()]


SEEDS += _corpus_seeds()

CHARSETS = st.one_of(
    st.sampled_from(
        [
            "utf-8",
            "utf-7",
            "utf-16",
            "utf-32",
            "iso-2022-jp",
            "x-unknown",
            "unknown-8bit",
            "base64",
            "rot13",
            "zlib",
            "idna",
            "punycode",
            "unicode-escape",
            "",
            '"',
            "utf-8'en'",
        ]
    ),
    st.text(min_size=0, max_size=30),
)


def assert_survives(raw: bytes) -> None:
    parsed = parse_message(raw)
    assert isinstance(parsed, ParsedMessage)
    assert parsed.size == len(raw)
    for values in parsed.headers.values():
        for value in values:
            value.encode("utf-8")  # every decoded value is storable text
    parsed.subject.encode("utf-8")
    assert "\n" not in parsed.subject
    result = classify(parsed, CTX)
    assert result.kind in {"reply", "auto_reply", "bounce", "feedback_report", "loop", "unknown"}
    bounce_info(parsed, inbound_domain="mailflow.localhost")


# --- examples ------------------------------------------------------------------------


def test_parse_reads_a_plain_reply() -> None:
    """Addresses are lower-cased, ids keep their brackets, the date is aware."""
    parsed = parse_message(SEEDS[0].replace(b"ada@example.com", b"Ada@Example.COM"))
    assert parsed.from_address == "ada@example.com"
    assert parsed.from_name == "Ada"
    assert parsed.to_addresses == ["reply+k3y@mailflow.localhost"]
    assert parsed.message_id == "<r1@example.com>"
    assert parsed.in_reply_to == "<c1@mailflow.localhost>"
    assert parsed.return_path is None
    assert re.fullmatch(r"[0-9a-f]{64}", parsed.sha256)


def test_parse_decodes_encoded_words_and_unfolds() -> None:
    """RFC 2047 subjects and names are decoded; folded subjects become one line."""
    raw = (
        b"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <J@Example.de>\r\n"
        b"Subject: =?iso-8859-1?q?Best=E4tigung?=\r\n  Ihres Termins\r\n"
        b"Date: Sun, 1 Mar 2026 12:00:00 -0000\r\n\r\nHallo\r\n"
    )
    parsed = parse_message(raw)
    assert parsed.from_name == "Jürgen Müller"
    assert parsed.from_address == "j@example.de"
    assert parsed.subject == "Bestätigung Ihres Termins"
    assert parsed.date == datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_parse_survives_unknown_charsets_and_raw_8bit_headers() -> None:
    """Unknown charsets and undeclared 8-bit headers degrade to readable text instead of raising."""
    raw = (
        b"From: M\xfcller <m@example.de>\r\nSubject: =?x-klingon?q?qapla=27?= Gr\xc3\xbc\xc3\x9fe\r\n"
        b"Content-Type: text/plain; charset=x-klingon\r\n\r\n\xff\xfe body\r\n"
    )
    parsed = parse_message(raw)
    assert parsed.from_address == "m@example.de"
    assert "Grüße" in parsed.subject
    assert classify(parsed, CTX).kind == "reply"


def test_parse_normalizes_ids_and_return_paths() -> None:
    """A bare Message-ID gets brackets, References split into ids, ``<>`` is the null path."""
    raw = (
        b"Message-ID: abc@example.com\r\nReferences: <a@x> <b@y>\r\n\t<c@z>\r\n"
        b"Return-Path: <>\r\nIn-Reply-To: Your message of Monday <a@x>\r\n\r\n"
    )
    parsed = parse_message(raw)
    assert parsed.message_id == "<abc@example.com>"
    assert parsed.references == ["<a@x>", "<b@y>", "<c@z>"]
    assert parsed.in_reply_to == "<a@x>"
    assert parsed.return_path == ""


def test_parse_of_nothing() -> None:
    """Empty input parses to an empty message, classified ``unknown``."""
    parsed = parse_message(b"")
    assert parsed.from_address is None and parsed.subject == "" and parsed.size == 0
    assert classify(parsed, CTX).kind == "unknown"


# --- fuzzing ---------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=4000))
def test_random_bytes_never_raise(raw: bytes) -> None:
    """Any bytes at all."""
    assert_survives(raw)


@FUZZ
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 7)), max_size=40))
def test_bit_flips_never_raise(seed: bytes, flips: list[tuple[int, int]]) -> None:
    """Real messages with random bits flipped."""
    data = bytearray(seed)
    for position, bit in flips:
        data[position % len(data)] ^= 1 << bit
    assert_survives(bytes(data))


@FUZZ
@given(st.sampled_from(SEEDS), st.floats(0, 1))
def test_truncation_never_raises(seed: bytes, fraction: float) -> None:
    """Messages cut anywhere: in a header, a boundary, an encoded word."""
    assert_survives(seed[: int(len(seed) * fraction)])


@FUZZ
@given(st.sampled_from(SEEDS), st.integers(0, 60), st.integers(1, 30))
def test_duplicated_headers_never_raise(seed: bytes, index: int, copies: int) -> None:
    """A header line repeated many times (Content-Type, From, Message-ID, …)."""
    head, sep, body = seed.partition(b"\r\n\r\n") if b"\r\n\r\n" in seed else seed.partition(b"\n\n")
    lines = head.splitlines(keepends=True)
    if lines:
        line = lines[index % len(lines)]
        lines[index % len(lines) : index % len(lines)] = [line] * copies
    assert_survives(b"".join(lines) + sep + body)


@FUZZ
@given(st.sampled_from(SEEDS), CHARSETS, CHARSETS)
def test_random_charset_names_never_raise(seed: bytes, body_charset: str, word_charset: str) -> None:
    """Every declared charset replaced by a random name, plus an encoded-word subject in another."""
    encoded = body_charset.encode("utf-8", "surrogatepass")
    data = re.sub(
        rb'charset="?[^";\s]*"?', lambda _: b'charset="' + encoded + b'"', seed, flags=re.IGNORECASE
    )
    subject = b"Subject: =?" + word_charset.encode("utf-8", "surrogatepass") + b"?B?w6TDtsO8?= x\r\n"
    assert_survives(subject + data)


@FUZZ
@given(st.text(max_size=3000), st.sampled_from(["plain", "html"]))
def test_random_report_text_never_raises(text: str, subtype: str) -> None:
    """Any words in the body of something that looks like a bounce reach every body rule."""
    head = (
        "From: MAILER-DAEMON@mx.example.com\r\nReturn-Path: <>\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nContent-Type: text/{subtype}; charset=utf-8\r\n\r\n"
        "This is the mail system at host mx.example.com.\r\n\r\n"
    )
    assert_survives(head.encode() + text.encode("utf-8", "surrogatepass"))


BOUNCE_HEAD = b"From: MAILER-DAEMON@x.example\r\nSubject: Undelivered\r\nReturn-Path: <>\r\n"


@pytest.mark.parametrize(
    "raw",
    [
        BOUNCE_HEAD + b"\r\nThis is the mail system at host x.\r\n" + b"\n" * 100_000,
        BOUNCE_HEAD + b"\r\n" + b" \n" * 50_000,
        BOUNCE_HEAD + b"Content-Type: text/html\r\n\r\n" + b"<" * 100_000,
        BOUNCE_HEAD + b"\r\n" + b"a" * 100_000 + b"@",
        b"Subject: " + b"=?utf-8?q?a" * 10_000 + b"\r\n\r\n",
        b"From: " + b'"(' * 50_000 + b"\r\n\r\n",
    ],
    ids=["newlines", "blank-lines", "open-tags", "long-local-part", "open-encoded-words", "quotes"],
)
def test_pathological_input_is_classified(raw: bytes) -> None:
    """Inputs built to make a regular expression backtrack are read and classified (the rules are linear;
    a backtracking regression would stall the suite here, and bench figures belong in bench/)."""
    result = classify(parse_message(raw), CTX)
    if raw.startswith(BOUNCE_HEAD):
        assert not result.may_act
