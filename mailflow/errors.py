"""The one errors module: ``MailflowError`` and a few subclasses.

Every error carries a readable message that says what to do next; the CLI
prints ``str(error)`` on one line and exits with ``error.exit_code``.
"""

from __future__ import annotations


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
    """The requested time cannot be booked; ``problem`` is a stable code."""

    exit_code = 5

    def __init__(self, problem: str, detail: str) -> None:
        super().__init__(detail)
        self.problem = problem


class BookingConflict(SlotUnavailable):
    """Another booking took the slot (possibly a concurrent one)."""

    def __init__(self, detail: str = "the slot is already taken: choose another time") -> None:
        super().__init__("taken", detail)


class PolicyRefused(MailflowError):
    """The manage policy does not let this actor change the booking."""

    exit_code = 6

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
