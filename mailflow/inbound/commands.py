"""Reply commands: strict on purpose, so that ordinary sentences never act.

The first non-empty line of the new text (or, when there is none, the subject
without its reply and forward prefixes: Re:/AW:/WG:/Fwd:/TR:/Réf.:, also the
French "RE :") must be the command itself, optionally with polite words and
punctuation, or a bare slot number (which only means something as an answer to
a ``reschedule_options`` email). "I can't cancel my plans, see you then" is not
a command, nor is "Je voudrais annuler".

The words come from the gettext catalogs, like every other text: each language
lists its command words (``command_words.cancel``: "stornieren, absagen";
``command_words.reschedule``: "déplacer, reporter") and its polite words and
phrases (``command_words.polite``: "svp, s'il vous plaît, merci"), so a new
language brings its own. The words of every language are understood on every
booking (a customer may answer a French email in English); case and accents do
not matter (``DEPLACER`` is ``déplacer``); a polite phrase of several words is
taken off as a whole before the one remaining word is read. The answer to a
command is an email in the booking's language.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from mailflow.i18n import N_, gettext, languages

__all__ = ["Command", "CommandKind", "parse_command"]


class CommandKind(StrEnum):
    CANCEL = "cancel"
    RESCHEDULE = "reschedule"
    CHOOSE_SLOT = "choose_slot"


# The catalog entries that list, comma-separated, the words of each command and the polite words.
COMMAND_WORDS = {
    # TRANSLATORS: the one-word replies that cancel a booking, comma-separated ("cancel").
    CommandKind.CANCEL: N_("command_words.cancel"),
    # TRANSLATORS: the one-word replies that ask for other times, comma-separated ("reschedule").
    CommandKind.RESCHEDULE: N_("command_words.reschedule"),
}
# TRANSLATORS: polite words and phrases allowed around a reply command, comma-separated ("please").
POLITE_WORDS = N_("command_words.polite")
MAX_SLOT = 99
# Reply and forward prefixes: English, German (AW, WG, Antw), Nordic (SV, VS), French (RE/TR, and
# Réf. of some French clients), each perhaps counted ("Re[2]:") and with a space before the colon.
_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|wg|fw|fwd|antw|sv|vs|tr|r[ée]f\.?)\s*(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE
)
_PUNCTUATION = re.compile(r"[\s.,!?;:()\-–—*_\"'’«»„“”…]+")


def _fold(text: str) -> str:
    """``text`` in lower case without accents (``Déplacer`` -> ``deplacer``), for matching only."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _listed(text: str) -> list[list[str]]:
    """The comma-separated entries of a catalog text, each as its folded words."""
    entries = (_PUNCTUATION.split(_fold(entry)) for entry in text.split(","))
    return [words for words in ([word for word in entry if word] for entry in entries) if words]


@cache
def _vocabulary() -> tuple[dict[str, CommandKind], re.Pattern[str]]:
    """Every language's command words, and one pattern of every language's polite phrases."""
    words: dict[str, CommandKind] = {}
    polite: set[tuple[str, ...]] = set()
    for language in languages():
        for kind, msgid in COMMAND_WORDS.items():
            words.update((" ".join(entry), kind) for entry in _listed(gettext(language, msgid)))
        polite.update(tuple(entry) for entry in _listed(gettext(language, POLITE_WORDS)))
    # Longest first, so "merci beaucoup" goes before "merci"; "s.v.p." also matches "svp".
    phrases = sorted((r"\W*".join(map(re.escape, entry)) for entry in polite), key=len, reverse=True)
    return words, re.compile(rf"(?<!\w)(?:{'|'.join(phrases)})(?!\w)")


@dataclass(frozen=True, slots=True)
class Command:
    kind: CommandKind
    slot: int | None = None
    source: str = "text"


def _match(line: str) -> tuple[CommandKind, int | None] | None:
    commands, polite = _vocabulary()
    words = [word for word in _PUNCTUATION.split(polite.sub(" ", _fold(line))) if word]
    if len(words) != 1:
        return None
    word = words[0]
    if word in commands:
        return commands[word], None
    if word.isdigit() and 1 <= int(word) <= MAX_SLOT:
        return CommandKind.CHOOSE_SLOT, int(word)
    return None


def parse_command(text: str, subject: str = "") -> Command | None:
    """The command in a reply's new ``text`` (else its ``subject``), or None."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    if first:
        found = _match(first)
        return Command(found[0], found[1], "text") if found else None
    found = _match(_PREFIX.sub("", subject))
    return Command(found[0], found[1], "subject") if found else None
