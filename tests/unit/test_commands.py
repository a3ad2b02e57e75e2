"""Reply commands are strict: the command alone on the first line, in English or German."""

from __future__ import annotations

import pytest

from mailflow.inbound.commands import Command, CommandKind, parse_command

C, R, S = CommandKind.CANCEL, CommandKind.RESCHEDULE, CommandKind.CHOOSE_SLOT


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cancel", Command(C)),
        ("Cancel.", Command(C)),
        ("Stornieren", Command(C)),
        ("Bitte absagen!", Command(C)),
        ("  \n\nCANCEL please\nthanks, Ada", Command(C)),
        ("Reschedule", Command(R)),
        ("verschieben bitte", Command(R)),
        ("Umbuchen", Command(R)),
        ("2", Command(S, 2)),
        ("2.", Command(S, 2)),
        ("(3)", Command(S, 3)),
    ],
)
def test_commands_on_the_first_line_are_understood(text: str, expected: Command) -> None:
    """The first non-empty line is the command, with politeness and punctuation allowed."""
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I can't cancel my plans, see you then",
        "Can I reschedule to Friday?",
        "Thanks!\ncancel",
        "Ich möchte den Termin stornieren",
        "0",
        "100",
        "2 or 3",
        "cancel cancel",
        "",
    ],
)
def test_sentences_and_numbers_out_of_range_are_not_commands(text: str) -> None:
    """Ordinary sentences, a command below other text, and odd numbers never act."""
    assert parse_command(text) is None


def test_subject_is_used_only_when_the_text_is_empty() -> None:
    """An empty body falls back to the subject without reply prefixes."""
    assert parse_command("", "Re: AW: Stornieren") == Command(C, None, "subject")
    assert parse_command("", "Re: Your booking is confirmed") is None
    assert parse_command("See you then", "Re: cancel") is None
