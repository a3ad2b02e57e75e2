"""``/api/v1/webhooks``: endpoints that hear of the business's events, and their delivery log.

The same use cases as ``mailflow webhooks`` and the admin page (``mailflow.services.webhooks``).
The signing secret is in the answer to the POST only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Path

from mailflow.api.context import Api, api_caller, current_api
from mailflow.api.errors import FieldInvalid, fields
from mailflow.api.keys import ApiCaller
from mailflow.api.webhook_models import DeliveryOut, WebhookCreated, WebhookIn, WebhookOut, WebhookUpdate
from mailflow.services import webhooks
from mailflow.web.deps import clock

ENDPOINT_ID = Path(alias="id", description="From GET /webhooks.")


def add_routes(router: APIRouter) -> None:
    """List, add, change, remove endpoints; read an endpoint's deliveries."""

    @router.get("/webhooks", response_model=list[WebhookOut], tags=["webhooks"])
    def list_webhooks(
        caller: ApiCaller = Depends(api_caller), api: Api = Depends(current_api)
    ) -> list[dict[str, Any]]:
        """Every endpoint of the business, oldest first (never their secrets)."""
        views = webhooks.list_endpoints(api.use_cases.engine, caller.business_slug)
        return [view.to_json() for view in views]

    @router.post("/webhooks", status_code=201, response_model=WebhookCreated, tags=["webhooks"])
    def add_webhook(
        body: WebhookIn,
        caller: ApiCaller = Depends(api_caller),
        api: Api = Depends(current_api),
        now: datetime = Depends(clock),
    ) -> dict[str, Any]:
        """Add an endpoint for ``events`` (default: all); the answer holds its signing secret,
        shown only this once. Deliveries carry Standard Webhooks signatures."""
        with fields(("body",)):
            view, secret = webhooks.add_endpoint(
                api.use_cases.engine,
                caller.business_slug,
                url=body.url,
                events=body.events,
                actor=api.actor(caller),
                now=now,
            )
        return {**view.to_json(), "secret": secret}

    @router.patch("/webhooks/{id}", response_model=WebhookOut, tags=["webhooks"])
    def update_webhook(
        body: WebhookUpdate,
        endpoint_id: int = ENDPOINT_ID,
        caller: ApiCaller = Depends(api_caller),
        api: Api = Depends(current_api),
        now: datetime = Depends(clock),
    ) -> dict[str, Any]:
        """Change the URL or the events, or disable and enable it (enabling clears its failures)."""
        changes = body.model_dump(exclude_unset=True)
        for name, value in changes.items():
            if value is None:
                raise FieldInvalid.at(("body", name), f"{name} cannot be null")
        with fields(("body",)):
            view = webhooks.update_endpoint(
                api.use_cases.engine,
                caller.business_slug,
                endpoint_id,
                **changes,
                actor=api.actor(caller),
                now=now,
            )
        return view.to_json()

    @router.delete("/webhooks/{id}", response_model=WebhookOut, tags=["webhooks"])
    def remove_webhook(
        endpoint_id: int = ENDPOINT_ID,
        caller: ApiCaller = Depends(api_caller),
        api: Api = Depends(current_api),
        now: datetime = Depends(clock),
    ) -> dict[str, Any]:
        """Remove an endpoint and its delivery log (the removed endpoint is returned)."""
        view = webhooks.remove_endpoint(
            api.use_cases.engine, caller.business_slug, endpoint_id, actor=api.actor(caller), now=now
        )
        return view.to_json()

    @router.get("/webhooks/{id}/deliveries", response_model=list[DeliveryOut], tags=["webhooks"])
    def list_webhook_deliveries(
        endpoint_id: int = ENDPOINT_ID,
        caller: ApiCaller = Depends(api_caller),
        api: Api = Depends(current_api),
    ) -> list[dict[str, Any]]:
        """The endpoint's latest deliveries, newest first: status, attempts, the last answer."""
        views = webhooks.list_deliveries(api.use_cases.engine, caller.business_slug, endpoint_id)
        return [view.to_json() for view in views]
