"""The one errors module: ``MailflowError`` and a few subclasses.

Every error carries a readable message that says what to do next. The message is
a msgid of the gettext catalogs (marked ``N_("…")``, or ``Nn_("…", "…")`` with
plural forms chosen by the value ``n``) and the values to fill in:
``str(error)`` and ``error.message`` are the English text — what the CLI prints
on one line (exiting with ``error.exit_code``), the API's ``detail`` and the
logs — and ``error.text(locale)`` is the same sentence in the reader's language,
for the pages.

    >>> from mailflow.i18n import N_
    >>> error = InvalidInput(N_("not an email address: {email!r}"), email="x", field="email")
    >>> str(error)
    "not an email address: 'x'"
"""

from __future__ import annotations

from typing import cast

# N_ and Nn_ are re-exported for the booking core, which imports nothing of mailflow but this module.
from mailflow.i18n import FALLBACK, N_, Nn_, Plural, Term, gettext, ngettext

__all__ = [
    "CODE_TEXTS",
    "N_",
    "BookingConflict",
    "ConfigError",
    "DatabaseNotMigrated",
    "InvalidInput",
    "MailflowError",
    "Nn_",
    "NoBusinessYet",
    "NotFound",
    "PolicyRefused",
    "SlotUnavailable",
    "manage_reason_text",
    "slot_problem_text",
]

# The texts of the booking core's codes (``SlotProblem``, ``ManageReason``): the core raises
# the code, the message comes from the catalog here (English for the CLI, API and logs;
# ``text(locale)`` for a page in the reader's language).
CODE_TEXTS = (
    N_("slot.in_past"),
    N_("slot.too_soon"),
    N_("slot.beyond_horizon"),
    N_("slot.not_on_grid"),
    N_("slot.outside_working_hours"),
    N_("slot.time_off"),
    N_("slot.closed"),
    N_("slot.taken"),
    N_("slot.external_busy"),
    N_("slot.out_of_range"),
    N_("policy.allowed"),
    N_("policy.origin_staff_and_setting_off"),
    N_("policy.cancelled"),
    N_("policy.started"),
    N_("policy.past_cutoff"),
)


def slot_problem_text(problem: str, locale: str = "en") -> str:
    """Why a time cannot be booked (a ``SlotProblem`` code), as a lowercase fragment."""
    return gettext(locale, f"slot.{problem}")


def manage_reason_text(reason: str, locale: str = "en") -> str:
    """Why a booking may (not) be changed (a ``ManageReason`` code), as a lowercase fragment."""
    return gettext(locale, f"policy.{reason}")


class MailflowError(Exception):
    """Base of every error mailflow raises on purpose.

    ``message`` is a marked msgid (``N_``/``Nn_``) and ``values`` fill it in. The operator's
    errors (``ConfigError``, ``DatabaseNotMigrated``) reach only a console and pass plain English.
    """

    exit_code = 1

    def __init__(self, message: str | Plural, **values: object) -> None:
        self.msgid = message
        self.values = values
        # The base's text, not a subclass's: a subclass may pass a text of its own (a detail).
        self.message = MailflowError.text(self, FALLBACK)
        super().__init__(self.message)

    def text(self, locale: str) -> str:
        """The message in ``locale`` (English where the catalog lacks it), its values filled in
        (a ``Term`` among them translated too)."""
        return _filled(self.msgid, self.values, locale)


def _filled(msgid: str | Plural, given: dict[str, object], locale: str) -> str:
    """``msgid`` in ``locale`` with ``given`` filled in (a ``Term`` among them translated too)."""
    # A Term is its English text already; looking it up in English could meet a page's key.
    values = {
        name: gettext(locale, value) if isinstance(value, Term) and locale != FALLBACK else value
        for name, value in given.items()
    }
    if isinstance(msgid, Plural):
        count = cast("int", values.pop("n"))
        return ngettext(locale, msgid.singular, msgid.plural, count, **values)
    return gettext(locale, msgid, **values)


class ConfigError(MailflowError):
    """A setting is missing or malformed; ``variable`` names it."""

    exit_code = 78  # EX_CONFIG

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


class DatabaseNotMigrated(MailflowError):
    """The database schema is missing or older than this code."""

    exit_code = 3

    def __init__(self, current: str | None, expected: str) -> None:
        state = "is not initialised" if current is None else f"is at revision {current}, expected {expected}"
        super().__init__(f"the database {state}: run `mailflow db upgrade`")
        self.current = current
        self.expected = expected


NOT_FOUND = N_("{what} {key!r} not found")


class NotFound(MailflowError):
    """A named thing (booking, business, service, staff) does not exist.

    ``what`` is a marked noun (``N_("staff member")``), compared in English by callers and
    translated when shown; ``message`` replaces the usual "… not found" where no key names it.
    """

    exit_code = 4

    def __init__(self, what: str, key: str = "", *, message: str | None = None, **values: object) -> None:
        self.what = what
        self.key = key
        super().__init__(message or NOT_FOUND, what=Term(what), key=key, **values)


class NoBusinessYet(NotFound):
    """No business exists yet (a migrated database before the set-up); the customer pages say so."""


class InvalidInput(MailflowError):
    """A value given by a user is malformed; the message says which and how.

    ``field`` names the input it concerns (``"timezone"``, ``"hours.mon"``) where one does, so a
    form can show the problem next to it and the API can point at it.
    """

    exit_code = 2

    def __init__(self, message: str | Plural, *, field: str | None = None, **values: object) -> None:
        super().__init__(message, field=field, **values)  # a message may name the field
        self.field = field

    def text(self, locale: str, field_name: str | None = None) -> str:
        """The message in ``locale``; a form names the field in its reader's words with
        ``field_name`` ("Name: at most 200 characters", not "customer.name: …")."""
        if field_name is None:
            return super().text(locale)
        return _filled(self.msgid, {**self.values, "field": field_name}, locale)


class SlotUnavailable(MailflowError):
    """The requested time cannot be booked; ``problem`` is a stable code, ``when`` the start asked for.

    Without ``detail`` the message is the catalog's, in English; ``text(locale)`` gives it in another.
    """

    exit_code = 5

    def __init__(self, problem: str, detail: str | None = None, *, when: str = "") -> None:
        self.problem = problem
        self.when = when
        super().__init__(self.text("en") if detail is None else detail)

    def text(self, locale: str) -> str:
        if not self.when:
            return slot_problem_text(self.problem, locale)
        return gettext(
            locale, "slot.cannot_book", when=self.when, problem=slot_problem_text(self.problem, locale)
        )


class BookingConflict(SlotUnavailable):
    """Another booking took the slot (possibly a concurrent one)."""

    def __init__(self, detail: str | None = None, *, when: str = "") -> None:
        super().__init__("taken", detail, when=when)

    def text(self, locale: str) -> str:
        return super().text(locale) if self.when else gettext(locale, "slot.conflict")


class PolicyRefused(MailflowError):
    """The manage policy does not let this actor change the booking."""

    exit_code = 6

    def __init__(self, reason: str, *, ref: str, already_cancelled: bool = False) -> None:
        self.reason = reason
        self.ref = ref
        if already_cancelled:
            super().__init__(gettext("en", "policy.already_cancelled", ref=ref))
        else:
            super().__init__(gettext("en", "policy.refused", ref=ref, reason=manage_reason_text(reason)))
