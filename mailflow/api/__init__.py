"""The JSON API, ``/api/v1`` (DESIGN §10): a business's bookings, settings, templates and mail.

Every request carries ``Authorization: Bearer <key>`` with an API key of one
business (``mailflow admin api-key create --business B``); without one, or
with an unknown or revoked key, the answer is 401 with ``WWW-Authenticate:
Bearer``. Everything a key reaches belongs to its business: another
business's booking is 404, as if it did not exist. Changes go through the
same use cases as the CLI and the admin pages (``mailflow.services``,
``template_store``), so the manage rule, the emails and the audit follow.

``build_api(app)`` returns the router: ``/api/v1/…`` and the ``/docs`` page
(Swagger UI, with its own content security policy). The OpenAPI document is
FastAPI's ``/openapi.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mailflow.api.errors import ApiRoute, refuse_nul_parameters
from mailflow.api.keys import ApiCaller, authenticate, create_api_key, list_api_keys, revoke_api_key
from mailflow.booking.model import Actor, ActorKind

if TYPE_CHECKING:
    from mailflow.bootstrap import App

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

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key of one business: `mailflow admin api-key create --business B`.",
)


def _now() -> datetime:
    return datetime.now(UTC)


def unauthorized(detail: str, error: str | None = None) -> HTTPException:
    challenge = 'Bearer realm="mailflow"' + (f', error="{error}"' if error else "")
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": challenge})


@dataclass
class Api:
    """What every API route needs: the wired app, the clock, and who is calling."""

    app: App
    clock: Callable[[], datetime] = field(default=_now)

    def caller(self, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> ApiCaller:
        """The key's caller (a FastAPI dependency); 401 without a valid, unrevoked key."""
        if credentials is None:
            raise unauthorized("send an API key: Authorization: Bearer <key>")
        found = authenticate(self.app.engine, credentials.credentials, self.clock())
        if found is None:
            raise unauthorized("unknown or revoked API key", "invalid_token")
        return found

    def actor(self, caller: ApiCaller) -> Actor:
        """Changes made through the API are staff changes, labelled with the key."""
        return Actor(ActorKind.STAFF, caller.actor_label)


def build_api(app: App, clock: Callable[[], datetime] = _now) -> APIRouter:
    """The API's router for ``app`` (include it in the web application)."""
    from mailflow.api import bookings, business, catalog, closures, customers, staff, status, templates

    api = Api(app, clock)

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
