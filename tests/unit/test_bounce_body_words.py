"""The quick pre-check of the delivery-failure text rule skips nothing the full pattern finds."""

from __future__ import annotations

import re

import pytest

from mailflow.inbound.rules import _BOUNCE_BODY, _BOUNCE_BODY_WORDS

# One sentence per phrase of the pattern, as MTAs write them.
PHRASES = [
    "This message was created automatically by mail delivery software.",
    "This is the qmail-send program at mx.example.com.",
    "This is the mail system at host mx.example.com.",
    "This is the Postfix program at host mx.example.com.",
    "I'm sorry to have to inform you that your message could not be delivered",
    "I'm sorry to have to inform you that the message returned below could not be delivered",
    "Delivery to the following recipient failed permanently:",
    "Delivery to the following recipients has been delayed.",
    "Your message wasn't delivered to ada@example.com because the address couldn't be found",
    "** Address not found **",
    "** Message not delivered **",
    "** Message blocked **",
    "Delivery has failed to these recipients or groups:",
    "Your message to ada@example.com couldn't be delivered.",
    "mx.example.com rejected your message to the following email addresses:",
    "Did not reach the following recipient(s):",
    "The following addresses had permanent fatal errors",
    "The following addresses had delivery problems",
    "   ----- Transcript of session follows -----",
    "Failed addresses follow:",
    "A message that you sent could not be delivered to one or more of its recipients.",
    "A message that you sent has not yet been delivered to one or more of its recipients",
    "A message that you sent contained one or more recipient addresses that were\n incorrectly constructed",
    "Your email could not be delivered to one or more recipients",
]


def _alternatives(pattern: str) -> int:
    """How many top-level alternatives ``pattern`` has."""
    depth, count = 0, 1
    escaped = False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            count += 1
    return count


def test_every_phrase_of_the_pattern_has_a_sample() -> None:
    """A phrase added to the pattern needs its sample here (and a word in the pre-check)."""
    assert _alternatives(_BOUNCE_BODY.pattern) == 16


@pytest.mark.parametrize("phrase", PHRASES)
@pytest.mark.parametrize("case", [str, str.upper, str.lower, str.title])
def test_the_pre_check_passes_whatever_the_pattern_finds(phrase: str, case: object) -> None:
    text = case(phrase)  # type: ignore[operator]
    assert _BOUNCE_BODY.search(text), text
    folded = text.casefold()
    assert any(word in folded for word in _BOUNCE_BODY_WORDS), text


def test_a_customers_reply_skips_the_search() -> None:
    reply = "Hallo, können wir den Termin auf Donnerstag verschieben?\n\n> Ihre Buchung bei Contoso"
    folded = reply.casefold()
    assert not any(word in folded for word in _BOUNCE_BODY_WORDS)
    assert not re.search(_BOUNCE_BODY, reply)
