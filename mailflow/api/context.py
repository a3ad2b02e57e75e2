"""What every API route needs: the ``Api`` context (the wired app, the clock, the caller's key).

Its own module so that the route modules can name it while ``mailflow.api``
builds the router from them, without an import circle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mailflow.api.keys import ApiCaller, authenticate
from mailflow.booking.model import Actor, ActorKind

if TYPE_CHECKING:
    from mailflow.bootstrap import App

__all__ = ["Api", "now"]


bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key of one business: `mailflow admin api-key create --business B`.",
)


def now() -> datetime:
    """The wall clock in UTC, the default of ``Api.clock`` (tests pass their own)."""
    return datetime.now(UTC)


def unauthorized(detail: str, error: str | None = None) -> HTTPException:
    challenge = 'Bearer realm="mailflow"' + (f', error="{error}"' if error else "")
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": challenge})


@dataclass
class Api:
    """What every API route needs: the wired app, the clock, and who is calling."""

    app: App
    clock: Callable[[], datetime] = field(default=now)

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
