"""The cheap test before the quote-header pattern never turns away a line the pattern matches."""

from __future__ import annotations

import email
import email.policy
import random
from pathlib import Path

import pytest

from mailflow.inbound.reply_patterns import QUOTE_HEADER, may_be_quote_header

# One example per pattern of QUOTE_HEADERS, as its comment gives it.
HEADERS = [
    "On Mon, Feb 1, 2016 at 4:58 AM, Some One <some@one.example> wrote:",
    "Am 03.02.2016 schrieb Max Muster:",
    "---- On Tue, 5 Mar 2019 10:00:00 +0100 Ada wrote ----",
    "Le 4 janv. 2016 19:03, Ada Lovelace a écrit :",
    "20 окт. 2016 г. 19:37 пользователь Иван написал:",
    "Max <max@muster.example> schrieb am Fr., 28. Apr. 2017 um 11:53 Uhr:",
    "Some One <info@example.org> wrote",
    "Ada via Discourse Meta <ada@meta.example> schrieb:",
    "2015-10-18 0:17 GMT+03:00 Ada <ada@example.org>:",
    "2013/7/20 Ada <ada@example.org>",
    "2016-03-03 17:21 GMT+01:00 Some One",
    "In message <4711@host.example>, Ada writes:",
    "-----Original Message-----",
    "---------- Forwarded message ---------",
    "*-- Ursprüngliche Nachricht --*",
    "Begin forwarded message:",
]


@pytest.mark.parametrize("line", HEADERS)
def test_every_kind_of_quote_header_passes_the_cheap_test(line: str) -> None:
    """Each pattern's own example is a quote header, and the cheap test lets it through."""
    assert QUOTE_HEADER.match(line), line
    assert may_be_quote_header(line)


@pytest.mark.parametrize(
    "line",
    [
        "Kann ich den Termin verschieben", "Thanks so much, see you then!", "Bis bald", "   ", "",
        # the lines of a quoted confirmation: a colon that ends nothing
        "Time: 10:00 - 11:00 (Europe/Berlin)", "Manage your booking: https://book.example/m/k1",
        "Datum: Montag, 2. März 2026", "Begin: 10:00",
    ],
)  # fmt: skip
def test_plain_lines_are_turned_away(line: str) -> None:
    """Text with no closing colon, dash or star, no "@", no leading digit and no "Begin
    forwarded message" skips the pattern."""
    assert not may_be_quote_header(line)
    assert not QUOTE_HEADER.match(line.strip())


def test_no_line_of_the_corpora_that_the_pattern_matches_is_turned_away(corpora: Path) -> None:
    """Every line of every plain-text part in the shared corpora: where the pattern matches
    (stripped, as the stripping asks), the cheap test said yes."""
    matched = 0
    for path in sorted(corpora.rglob("*")):
        if not path.is_file() or path.stat().st_size > 1_000_000:
            continue
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for part in message.walk():
            if part.get_content_type() != "text/plain":
                continue
            try:
                text = str(part.get_content())
            except (LookupError, UnicodeError):
                continue
            for line in text.splitlines():
                if len(line) <= 400 and QUOTE_HEADER.match(line.strip()):
                    matched += 1
                    assert may_be_quote_header(line.strip()), (path, line)
    assert matched > 100  # the corpora hold many quote headers: the test looked at real ones


def test_random_lines_made_of_the_patterns_pieces_are_never_turned_away_when_they_match() -> None:
    """Lines put together from the pieces the patterns look for (verbs, dates, addresses,
    colons, dashes, forward markers, odd spaces): wherever the pattern matches, the cheap test
    said yes; and it turns most of the others away."""
    rng = random.Random(2047)
    pieces = ["On", "Am", "Le", "wrote", "schrieb", "a écrit", "написал", "写道", "writes", "via",
              "In message", "2016", "4:58", "03.02.2016", "GMT+01:00", "Ada", "<ada@example.org>",
              "ada@example.org", "<", ">", ":", "：", "-", "--", "*", "Original Message",
              "Begin forwarded message", "Anfang der weitergeleiteten Nachricht", " ", " ", "\u00a0",
              "\u3000", "\t", ">", ",", "(a)", "x"]  # fmt: skip
    matched = turned_away = 0
    for _ in range(40_000):
        line = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 9)))
        for text in (line, line.strip()):
            if QUOTE_HEADER.match(text):
                matched += 1
                assert may_be_quote_header(text), repr(text)
            elif not may_be_quote_header(text):
                turned_away += 1
    assert matched > 1_000 and turned_away > 10_000
