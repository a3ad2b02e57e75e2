"""The JSON API, ``/api/v1`` (DESIGN §10): a business's bookings, settings, templates and mail.

Every request carries ``Authorization: Bearer <key>`` with an API key of one
business (``mailflow admin api-key create --business B``); without one, or
with an unknown or revoked key, the answer is 401 with ``WWW-Authenticate:
Bearer``. Everything a key reaches belongs to its business: another
business's booking is 404, as if it did not exist. Changes go through the
same use cases as the CLI and the admin pages (``mailflow.services``,
``template_store``), so the manage rule, the emails and the audit follow.

``build_api(use_cases)`` returns the router: ``/api/v1/…`` and the ``/docs`` page
(Swagger UI, with its own content security policy). The OpenAPI document is
FastAPI's ``/openapi.json``. The routes read the time from the web's one clock
(``mailflow.web.deps.clock``), which tests set in one place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from mailflow.api.context import Api
from mailflow.api.errors import ApiRoute, refuse_nul_parameters
from mailflow.api.keys import ApiCaller, create_api_key, list_api_keys, revoke_api_key

if TYPE_CHECKING:
    from mailflow.parts import UseCases

__all__ = ["Api", "ApiCaller", "build_api", "create_api_key", "list_api_keys", "revoke_api_key"]

PREFIX = "/api/v1"
SWAGGER = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5"
DOCS_CSP = (
    f"default-src 'none'; script-src 'self' {SWAGGER}; style-src 'self' 'unsafe-inline' {SWAGGER}; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
DOCS_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mailflow API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{SWAGGER}/swagger-ui.css"></head>
<body><div id="swagger-ui" data-openapi-url="/openapi.json"></div>
<script src="{SWAGGER}/swagger-ui-bundle.js"></script>
<script src="/static/api-docs.js"></script></body></html>
"""


def build_api(use_cases: UseCases) -> APIRouter:
    """The API's router, calling ``use_cases`` (include it in the web application)."""
    from mailflow.api import bookings, business, catalog, closures, customers, staff, status, templates

    api = Api(use_cases)

    def checked(request: Request, caller: ApiCaller = Depends(api.caller)) -> None:
        """Every route: the key first (401), then refuse parameters no database can hold (422)."""
        refuse_nul_parameters(request)

    versioned = APIRouter(
        prefix=PREFIX,
        route_class=ApiRoute,
        dependencies=[Depends(checked)],
        responses={401: {"description": "No API key, or an unknown or revoked one."}},
    )
    for part in (business, catalog, staff, closures, customers):
        part.add_routes(versioned, api)
    bookings.add_routes(versioned, api)
    templates.add_routes(versioned, api)
    status.add_routes(versioned, api)

    router = APIRouter()
    router.include_router(versioned)

    @router.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI: its script comes from a CDN, so this page gets a CSP that allows it."""
        return HTMLResponse(DOCS_PAGE, headers={"Content-Security-Policy": DOCS_CSP})

    return router
