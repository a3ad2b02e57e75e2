"""The failed addresses of a delivery report in one of the many formats MTAs invented: flufl.bounce.

GNU Mailman's bounce detectors (``flufl.bounce``) know RFC 3464 and the
proprietary formats of AOL, Yahoo, Exchange, GroupWise, qmail, Postfix, Exim,
SMTP32, Sina, Netscape and others. :func:`mta_failures` runs them and keeps
only what reads as an address. Alone, their heuristics also fire on a few
people's replies (a quoted address after "unknown"), so the rules use them
only together with another sign of machine mail; :mod:`mailflow.inbound.reports`
adds what they find to its own reading.
"""

from __future__ import annotations

import logging
import re
import weakref
from dataclasses import dataclass
from email.message import Message

from flufl.bounce import all_failures

__all__ = ["MtaFailures", "mta_failures"]

_ADDRESS = re.compile(r"[a-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")
# flufl.bounce logs every detector it runs at INFO; only its warnings are worth a line of ours.
logging.getLogger("flufl.bounce").setLevel(logging.WARNING)


@dataclass(frozen=True, slots=True)
class MtaFailures:
    """Addresses a report says failed for now (``temporary``) or for good (``permanent``), lower case."""

    temporary: tuple[str, ...] = ()
    permanent: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.temporary or self.permanent)

    @property
    def addresses(self) -> list[str]:
        """Every failed address, permanent ones first, each once."""
        return list(dict.fromkeys((*self.permanent, *self.temporary)))


_FOUND: weakref.WeakKeyDictionary[Message, MtaFailures] = weakref.WeakKeyDictionary()


def mta_failures(message: Message | None) -> MtaFailures:
    """The failed recipients flufl.bounce's detectors find in ``message``; empty when none. Never raises.

    Worked out once per message (a rule and ``bounce_info`` both ask; the detectors take about
    a millisecond for a bounce).
    """
    if message is None:
        return MtaFailures()
    known = _FOUND.get(message)
    if known is not None:
        return known
    try:
        temporary, permanent = all_failures(message)
        found = MtaFailures(_addresses(temporary), _addresses(permanent))
    except Exception:  # a detector choking on odd MIME: no finding, the other rules still judge
        found = MtaFailures()
    _FOUND[message] = found
    return found


def _addresses(found: frozenset[bytes]) -> tuple[str, ...]:
    out: list[str] = []
    for raw in sorted(found):
        text = raw.decode("utf-8", "replace").strip().strip("<>").rstrip(".").lower()
        if _ADDRESS.fullmatch(text) and text not in out:
            out.append(text)
    return tuple(out)
