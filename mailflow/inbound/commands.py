"""Reply commands: strict on purpose, so that ordinary sentences never act.

The first non-empty line of the new text (or, when there is none, the subject
without its Re:/AW:/WG:/Fwd: prefixes) must be the command itself, optionally
with "please"/"bitte" and punctuation: ``cancel``/``stornieren``/``absagen``,
``reschedule``/``verschieben``/``umbuchen``, or a bare slot number (which only
means something as an answer to a ``reschedule_options`` email). "I can't
cancel my plans, see you then" is not a command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Command", "CommandKind", "parse_command"]


class CommandKind(StrEnum):
    CANCEL = "cancel"
    RESCHEDULE = "reschedule"
    CHOOSE_SLOT = "choose_slot"


WORDS = {
    "cancel": CommandKind.CANCEL,
    "stornieren": CommandKind.CANCEL,
    "absagen": CommandKind.CANCEL,
    "reschedule": CommandKind.RESCHEDULE,
    "verschieben": CommandKind.RESCHEDULE,
    "umbuchen": CommandKind.RESCHEDULE,
}
POLITE = {"please", "pls", "bitte"}
MAX_SLOT = 99
_PREFIX = re.compile(r"^\s*(?:(?:re|aw|wg|fw|fwd|antw|sv|vs)\s*(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_PUNCTUATION = re.compile(r"[\s.,!?;:()\-–—*_\"'«»„“”]+")


@dataclass(frozen=True, slots=True)
class Command:
    kind: CommandKind
    slot: int | None = None
    source: str = "text"


def _match(line: str) -> tuple[CommandKind, int | None] | None:
    words = [word for word in _PUNCTUATION.split(line.strip().lower()) if word]
    words = [word for word in words if word not in POLITE]
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
