"""Reply commands are strict: the command alone on the first line, in English, German or French."""

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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("annuler", Command(C)),
        ("Annuler.", Command(C)),
        ("ANNULER", Command(C)),
        ("Annuler svp", Command(C)),
        ("Annuler SVP !", Command(C)),
        ("annuler s.v.p.", Command(C)),
        ("Annuler, s'il vous plaît.", Command(C)),
        ("S’il vous plaît, annuler\nCordialement, Anne", Command(C)),
        ("Merci d'annuler", None),
        ("annuler, merci", Command(C)),
        ("Annuler merci beaucoup !", Command(C)),
        ("« Annuler »", Command(C)),
        ("Déplacer", Command(R)),
        ("DÉPLACER", Command(R)),
        ("deplacer", Command(R)),
        ("Déplacer, s’il vous plaît", Command(R)),
        ("Reporter svp", Command(R)),
        ("2, merci", Command(S, 2)),
    ],
)
def test_french_command_words_with_polite_phrases_and_without_accents(
    text: str, expected: Command | None
) -> None:
    """annuler, déplacer (also deplacer) and reporter work with svp, s'il vous plaît and merci around them."""
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Je voudrais annuler mon rendez-vous",
        "Pouvez-vous déplacer mon rendez-vous à vendredi ?",
        "Merci !\nannuler",
        "Merci",
        "s'il vous plaît",
        "annuler ou déplacer",
        "annulé",
    ],
)
def test_french_sentences_are_not_commands(text: str) -> None:
    """A French sentence that mentions a command word, or polite words alone, never act."""
    assert parse_command(text) is None


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("RE : Annuler", Command(C, None, "subject")),
        ("RE\u00a0: Votre rendez-vous est confirmé", None),
        ("TR: RE: déplacer", Command(R, None, "subject")),
        ("Réf. : annuler", Command(C, None, "subject")),
        ("Re[2] : AW: annuler svp", Command(C, None, "subject")),
    ],
)
def test_french_reply_prefixes_are_removed_from_the_subject(subject: str, expected: Command | None) -> None:
    """French mail clients' prefixes (RE :, TR :, Réf. :) are taken off before the subject is read."""
    assert parse_command("", subject) == expected


def test_every_catalogs_command_words_are_understood() -> None:
    """The words come from each language's catalog (command_words.*), so a new language brings its own."""
    from mailflow.i18n import gettext, languages
    from mailflow.inbound.commands import COMMAND_WORDS

    assert set(languages()) >= {"en", "de", "fr"}
    for language in languages():
        for kind, msgid in COMMAND_WORDS.items():
            words = [word.strip() for word in gettext(language, msgid).split(",")]
            assert words and all(parse_command(word) == Command(kind) for word in words), (language, words)
