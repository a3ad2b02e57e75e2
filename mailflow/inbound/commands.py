"""Reply commands: strict on purpose, so that ordinary sentences never act.

The first non-empty line of the new text (or, when there is none, the subject
without its reply and forward prefixes: Re:/AW:/WG:/Fwd:/TR:/Réf.:, also the
French "RE :") must be the command itself, optionally with polite words
("please", "bitte", "svp", "s'il vous plaît", "merci") and punctuation:
``cancel``/``stornieren``/``absagen``/``annuler``,
``reschedule``/``verschieben``/``umbuchen``/``déplacer``/``reporter``, or a bare
slot number (which only means something as an answer to a ``reschedule_options``
email). Case and accents do not matter (``DEPLACER`` is ``déplacer``).
"I can't cancel my plans, see you then" is not a command, nor is
"Je voudrais annuler".

The command words are the same for every booking, whatever its language: a
customer may answer a French email in English. The answer to a command is an
email in the booking's language (its templates and catalog).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Command", "CommandKind", "parse_command"]


class CommandKind(StrEnum):
    CANCEL = "cancel"
    RESCHEDULE = "reschedule"
    CHOOSE_SLOT = "choose_slot"


def _fold(text: str) -> str:
    """``text`` in lower case without accents (``Déplacer`` -> ``deplacer``), for matching only."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


WORDS = {
    _fold(word): kind
    for word, kind in {
        "cancel": CommandKind.CANCEL,
        "stornieren": CommandKind.CANCEL,
        "absagen": CommandKind.CANCEL,
        "annuler": CommandKind.CANCEL,
        "reschedule": CommandKind.RESCHEDULE,
        "verschieben": CommandKind.RESCHEDULE,
        "umbuchen": CommandKind.RESCHEDULE,
        "déplacer": CommandKind.RESCHEDULE,
        "reporter": CommandKind.RESCHEDULE,
    }.items()
}
# Polite words and phrases around a command; a phrase of several words is removed as a whole
# before the words are counted, so "Annuler s'il vous plaît" is one word, "annuler".
_POLITE = re.compile(
    r"(?<!\w)(?:please|pls|bitte|s\.?v\.?p\.?|stp|merci(?:\s+beaucoup)?|s\s*['’]\s*il\s+(?:vous|te)\s+plait)(?!\w)"
)
MAX_SLOT = 99
# Reply and forward prefixes: English, German (AW, WG, Antw), Nordic (SV, VS), French (RE/TR, and
# Réf. of some French clients), each perhaps counted ("Re[2]:") and with a space before the colon.
_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|wg|fw|fwd|antw|sv|vs|tr|r[ée]f\.?)\s*(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE
)
_PUNCTUATION = re.compile(r"[\s.,!?;:()\-–—*_\"'’«»„“”…]+")


@dataclass(frozen=True, slots=True)
class Command:
    kind: CommandKind
    slot: int | None = None
    source: str = "text"


def _match(line: str) -> tuple[CommandKind, int | None] | None:
    words = [word for word in _PUNCTUATION.split(_POLITE.sub(" ", _fold(line))) if word]
    if len(words) != 1:
        return None
    word = words[0]
    if word in WORDS:
        return WORDS[word], None
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
