"""mailflow's errors as HTTP answers, for the API's routes only.

``NotFound`` is 404, a taken slot (``BookingConflict``) and a refused change
(``PolicyRefused``) are 409, bad input is 422 in FastAPI's own shape
(``{"detail": [{"type", "loc", "msg", ...}]}``) with the field named where it
is known. The customer pages keep their own error pages: this applies only to
routes built with ``ApiRoute``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from mailflow.errors import (
    BookingConflict,
    InvalidInput,
    MailflowError,
    NotFound,
    PolicyRefused,
    SlotUnavailable,
)
from mailflow.outbound.render import RenderError
from mailflow.outbound.template_store import TemplateInvalid
from mailflow.services.templates import TemplateConflict

Loc = tuple[str | int, ...]

TEMPLATE_PARTS = {"subject": "subject", "body": "mjml", "body (MJML)": "mjml", "text": "text"}


class FieldInvalid(MailflowError):
    """Input that fails a check the request model could not make; ``errors`` are FastAPI-shaped."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors))
        self.errors = errors

    @classmethod
    def at(cls, loc: Loc, message: str, kind: str = "value_error", **ctx: Any) -> FieldInvalid:
        error: dict[str, Any] = {"type": kind, "loc": list(loc), "msg": message}
        if ctx:
            error["ctx"] = ctx
        return cls([error])


def loc_of(exc: InvalidInput, renamed: Mapping[str, Loc] | None = None, default: Loc = ("body",)) -> Loc:
    """Where in the request ``exc`` points: ``renamed[field]`` when the use case's name for the
    input differs from the API's, else ``("body", *field.split("."))``; ``default`` without a field.

    >>> loc_of(InvalidInput("bad", field="hours.mon"))
    ('body', 'hours', 'mon')
    >>> loc_of(InvalidInput("bad", field="duration"), {"duration": ("body", "duration_minutes")})
    ('body', 'duration_minutes')
    """
    if exc.field is None:
        return default
    if renamed is not None and exc.field in renamed:
        return renamed[exc.field]
    return ("body", *exc.field.split("."))


@contextmanager
def fields(
    default: Loc,
    *,
    not_found: Mapping[str, Loc] | None = None,
    saying: Mapping[str, Loc] | None = None,
    renamed: Mapping[str, Loc] | None = None,
) -> Iterator[None]:
    """Inside: ``InvalidInput`` becomes a 422 at ``saying[s]`` when its message contains ``s``,
    else at the field it names (``renamed`` maps the use case's names to the API's, see
    ``loc_of``), else at ``default``; ``NotFound`` of a thing named in ``not_found`` (e.g.
    ``{"service": ("body", "service")}``) a 422 at that field; a slot that cannot be booked a
    422 at ``body.start``, unless it is taken (409)."""
    try:
        yield
    except BookingConflict:
        raise
    except SlotUnavailable as exc:
        raise FieldInvalid.at(
            ("body", "start"), exc.message, "slot_unavailable", problem=exc.problem
        ) from None
    except NotFound as exc:
        if not_found and exc.what in not_found:
            raise FieldInvalid.at(not_found[exc.what], exc.message, "not_found") from None
        raise
    except InvalidInput as exc:
        said = next((loc for text, loc in (saying or {}).items() if text in exc.message), None)
        loc = said or loc_of(exc, renamed, default)
        raise FieldInvalid.at(loc, exc.message) from None


def template_errors(exc: TemplateInvalid) -> FieldInvalid:
    """Each problem of a template at its part (``subject``, ``mjml``, ``text``), with its line."""
    return FieldInvalid(
        [
            {
                "type": "template_invalid",
                "loc": ["body", TEMPLATE_PARTS.get(problem.part, "mjml")],
                "msg": str(problem),
                "ctx": {"line": problem.line},
            }
            for problem in exc.problems
        ]
    )


def error_response(exc: MailflowError) -> Response:
    """The HTTP answer to a mailflow error raised by an API route."""
    if isinstance(exc, FieldInvalid):
        return JSONResponse({"detail": exc.errors}, status_code=422)
    if isinstance(exc, TemplateInvalid):
        return error_response(template_errors(exc))
    if isinstance(exc, RenderError):
        return error_response(FieldInvalid.at(("body", TEMPLATE_PARTS.get(exc.part, "mjml")), exc.message))
    if isinstance(exc, NotFound):
        return JSONResponse({"detail": exc.message}, status_code=404)
    if isinstance(exc, BookingConflict):
        return JSONResponse({"detail": exc.message, "problem": exc.problem}, status_code=409)
    if isinstance(exc, SlotUnavailable):
        return error_response(FieldInvalid.at(("body", "start"), exc.message, "slot_unavailable"))
    if isinstance(exc, TemplateConflict):  # two saves of one template at the same moment
        return JSONResponse({"detail": exc.message, "problem": "template_changed"}, status_code=409)
    if isinstance(exc, PolicyRefused):
        return JSONResponse({"detail": exc.message, "problem": exc.reason}, status_code=409)
    if isinstance(exc, InvalidInput):
        return error_response(FieldInvalid.at(loc_of(exc), exc.message))
    return JSONResponse({"detail": exc.message}, status_code=500)


def refuse_nul_parameters(request: Request) -> None:
    """``FieldInvalid`` for a NUL character in a path or query parameter (PostgreSQL text cannot
    hold one); request bodies are checked by their models."""
    given = [("path", name, str(value)) for name, value in request.path_params.items()]
    given += [("query", name, value) for name, value in request.query_params.multi_items()]
    for where, name, value in given:
        if "\x00" in value:
            raise FieldInvalid.at((where, name), "NUL characters are not allowed", "string_nul")


class ApiRoute(APIRoute):
    """A route whose mailflow errors become JSON answers (see the module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except MailflowError as exc:
                return error_response(exc)

        return route
