"""The one errors module: ``MailflowError`` and a few subclasses.

Every error carries a readable message that says what to do next; the CLI
prints ``str(error)`` on one line and exits with ``error.exit_code``.
"""

from __future__ import annotations

from mailflow.i18n import N_, gettext

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
    """Base of every error mailflow raises on purpose."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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


class NotFound(MailflowError):
    """A named thing (booking, business, service, staff) does not exist."""

    exit_code = 4

    def __init__(self, what: str, key: str) -> None:
        super().__init__(f"{what} {key!r} not found")
        self.what = what
        self.key = key


class InvalidInput(MailflowError):
    """A value given by a user is malformed; the message says which and how.

    ``field`` names the input it concerns (``"timezone"``, ``"hours.mon"``) where one does, so a
    form can show the problem next to it and the API can point at it.
    """

    exit_code = 2

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


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
