"""The error answers of ``/api/v1`` (pydantic), and the ``responses`` that document them.

``ErrorOut`` is every error but 422, ``ValidationErrorOut`` FastAPI's own 422 shape (what
``mailflow.api.errors`` answers). ``mailflow.api`` puts ``ERRORS`` on every operation and
``NOT_FOUND`` on those whose path names a thing; routes add their own 404 (a query that
names a thing) and 409.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    """Every error answer but 422: what went wrong, said for a person, and for 409 a stable code."""

    detail: str = Field(description="What went wrong and, where it helps, what to do next.")
    problem: str | None = Field(
        None,
        description="409 only, a code: `taken` (the slot), `cancelled`, `started`, `template_changed`.",
    )


class FieldErrorOut(BaseModel):
    """One problem of a request, where it is: FastAPI's own shape."""

    type: str = Field(description="A stable code, e.g. `missing`, `value_error`, `not_found`.")
    loc: list[str | int] = Field(description="Where: `body`, `query` or `path`, then the field.")
    msg: str
    ctx: dict[str, Any] | None = None


class ValidationErrorOut(BaseModel):
    """422: the request names something unknown or breaks a rule; nothing was changed."""

    detail: list[FieldErrorOut]


# Errors every API operation may answer; mailflow.api adds NOT_FOUND to those whose path names a
# thing, the routes whose query names one (``?booking=``, ``?service=``) add it themselves.
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No API key, or an unknown or revoked one."},
    422: {
        "model": ValidationErrorOut,
        "description": "A parameter or field is missing, malformed or names something unknown; "
        "nothing was changed.",
    },
    503: {
        "model": ErrorOut,
        "description": "The database is unavailable right now: try again after `Retry-After` seconds.",
        "headers": {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}},
    },
}
NOT_FOUND: dict[str, Any] = {
    "model": ErrorOut,
    "description": "Not found: nothing of that name in the key's business (another business's is not "
    "found either).",
}
