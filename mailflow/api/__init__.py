"""The JSON API, ``/api/v1`` (DESIGN §10): a business's bookings, settings, templates and mail.

Every request carries ``Authorization: Bearer <key>`` with an API key of one
business (``mailflow admin api-key create --business B``); without one, or
with an unknown or revoked key, the answer is 401 with ``WWW-Authenticate:
Bearer``. Everything a key reaches belongs to its business: another
business's booking is 404, as if it did not exist. Changes go through the
same use cases as the CLI and the admin pages (``mailflow.services``,
``template_store``), so the manage rule, the emails and the audit follow.

``build_api()`` returns the router: ``/api/v1/…`` and the ``/docs`` page
(Swagger UI, with its own content security policy); the web application mounts
Swagger UI's files (``SWAGGER_UI_FILES``) at ``DOCS_ASSETS``, so the page needs
no CDN and works on a network without internet. The OpenAPI document is
FastAPI's ``/openapi.json`` and holds this API only (pages and forms stay out): each
operation's id is its endpoint's name in camelCase (``createBooking``), and every error it
can answer is documented with ``ErrorOut`` (401, 404, 409, 503) or ``ValidationErrorOut`` (422).
The routes read the time from the web's one clock
(``mailflow.web.deps.clock``), which tests set in one place.
"""

from __future__ import annotations

import functools
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute

from mailflow.api.context import Api, api_caller
from mailflow.api.error_models import ERRORS, NOT_FOUND
from mailflow.api.errors import ApiRoute, refuse_nul_parameters
from mailflow.api.keys import ApiCaller, create_api_key, list_api_keys, revoke_api_key

__all__ = [
    "DOCS_ASSETS",
    "SWAGGER_UI_FILES",
    "Api",
    "ApiCaller",
    "build_api",
    "create_api_key",
    "list_api_keys",
    "revoke_api_key",
]

PREFIX = "/api/v1"
DOCS_ASSETS = "/docs/assets"
# Swagger UI's own files, from the fastapi-offline package, served by mailflow at DOCS_ASSETS
# (mounted by mailflow.web.app): /docs needs no CDN and works on a network without internet.
SWAGGER_UI_FILES = Path(str(files("fastapi_offline") / "static"))
# The site's policy plus connect-src for "Try it out"; Swagger UI's script and styles are files of ours.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
DOCS_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mailflow API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{DOCS_ASSETS}/swagger-ui.css"></head>
<body><div id="swagger-ui" data-openapi-url="/openapi.json"></div>
<script src="{DOCS_ASSETS}/swagger-ui-bundle.js"></script>
<script src="/static/api-docs.js"></script></body></html>
"""


def operation_id(route: APIRoute) -> str:
    """The OpenAPI operation id of ``route``: its endpoint's name in camelCase.

    >>> from fastapi.routing import APIRoute
    >>> operation_id(APIRoute("/bookings", lambda: None, name="create_booking"))
    'createBooking'
    """
    first, *rest = route.name.split("_")
    return first + "".join(word.capitalize() for word in rest)


@functools.cache
def build_api() -> APIRouter:
    """The API's router (include it in the web application, with an ``Api`` on ``app.state.api``).

    Built once per process and shared: FastAPI's work on the routes (their dependencies'
    signatures and models) is most of the cost of making a web application, and the routes
    hold nothing of one (they take its ``Api`` from the request: ``current_api``).
    """
    from mailflow.api import (
        bookings,
        business,
        catalog,
        closures,
        customers,
        staff,
        status,
        templates,
        webhooks,
    )

    def checked(request: Request, caller: ApiCaller = Depends(api_caller)) -> None:
        """Every route: the key first (401), then refuse parameters no database can hold (422)."""
        refuse_nul_parameters(request)

    versioned = APIRouter(
        prefix=PREFIX,
        route_class=ApiRoute,
        dependencies=[Depends(checked)],
        responses=ERRORS,
        generate_unique_id_function=operation_id,
    )
    for part in (business, catalog, staff, closures, customers, bookings, templates, status, webhooks):
        part.add_routes(versioned)
    for route in versioned.routes:
        if isinstance(route, APIRoute) and "{" in route.path:  # names a thing that may not exist
            # (the few whose query names one, e.g. /slots?service=, say so themselves)
            route.responses.setdefault(404, NOT_FOUND)

    router = APIRouter()
    router.include_router(versioned)

    @router.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI, from files mailflow serves itself (``DOCS_ASSETS``), under ``DOCS_CSP``."""
        return HTMLResponse(DOCS_PAGE, headers={"Content-Security-Policy": DOCS_CSP})

    return router
