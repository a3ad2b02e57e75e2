"""What every API route needs: the ``Api`` context (the use cases it calls, the caller's key).

The time comes from the web's one clock, the ``mailflow.web.deps.clock``
dependency (tests set it through ``app.dependency_overrides[clock]``), for the
API as for the pages.

Its own module so that the route modules can name it while ``mailflow.api``
builds the router from them, without an import circle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mailflow.api.keys import ApiCaller, authenticate
from mailflow.booking.model import Actor, ActorKind
from mailflow.web.deps import clock

if TYPE_CHECKING:
    from mailflow.parts import UseCases

__all__ = ["Api", "api_caller", "current_api"]


bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key of one business: `mailflow admin api-key create --business B`.",
)


def unauthorized(detail: str, error: str | None = None) -> HTTPException:
    challenge = 'Bearer realm="mailflow"' + (f', error="{error}"' if error else "")
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": challenge})


@dataclass(frozen=True)
class Api:
    """What every API route needs: the use cases it calls, and who is calling."""

    use_cases: UseCases
    """The engine, notifier, slot grid and public URL of the booking use cases."""

    def caller(self, credentials: HTTPAuthorizationCredentials | None, now: datetime) -> ApiCaller:
        """The key's caller; 401 without a valid, unrevoked key."""
        if credentials is None:
            raise unauthorized("send an API key: Authorization: Bearer <key>")
        found = authenticate(self.use_cases.engine, credentials.credentials, now)
        if found is None:
            raise unauthorized("unknown or revoked API key", "invalid_token")
        return found

    def actor(self, caller: ApiCaller) -> Actor:
        """Changes made through the API are staff changes, labelled with the key."""
        return Actor(ActorKind.STAFF, caller.actor_label)


def current_api(request: Request) -> Api:
    """The web application's ``Api`` (a FastAPI dependency; ``create_web_app`` puts it on ``app.state``).

    The API's routes are built once per process and shared by every application made
    there (building them is most of the cost of making one), so they find their use cases here.
    """
    api: Api = request.app.state.api
    return api


def api_caller(
    api: Api = Depends(current_api),
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    now: datetime = Depends(clock),
) -> ApiCaller:
    """The key's caller (a FastAPI dependency); 401 without a valid, unrevoked key."""
    return api.caller(credentials, now)
