"""``/api/v1/customers``: the business's customers, by address (``mailflow.services.customers``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query

from mailflow.api.context import Api, api_caller, current_api
from mailflow.api.keys import ApiCaller
from mailflow.api.models import MAX_OFFSET, CustomerOut
from mailflow.services import bounces, customers
from mailflow.web.deps import clock


def add_routes(router: APIRouter) -> None:
    """List customers; one by address; clear an address's bounce flag."""

    @router.get("/customers", response_model=list[CustomerOut], tags=["customers"])
    def list_customers(
        email: str | None = Query(None, description="Only this address."),
        limit: int = Query(100, ge=1, le=500),
        offset: int = Query(0, ge=0, le=MAX_OFFSET),
        caller: ApiCaller = Depends(api_caller),
        api: Api = Depends(current_api),
    ) -> list[dict[str, Any]]:
        """The business's customers, by email."""
        found = customers.list_customers(
            api.use_cases.engine, caller.business_slug, email=email, limit=limit, offset=offset
        )
        return [view.to_json() for view in found]

    @router.get("/customers/{email}", response_model=CustomerOut, tags=["customers"])
    def get_customer(
        email: str, caller: ApiCaller = Depends(api_caller), api: Api = Depends(current_api)
    ) -> dict[str, Any]:
        """One customer by email; 404 when the business has none with that address."""
        return customers.get_customer(api.use_cases.engine, caller.business_slug, email).to_json()

    @router.post("/customers/{email}/clear-bouncing", response_model=CustomerOut, tags=["customers"])
    def clear_customer_bouncing(
        email: str,
        caller: ApiCaller = Depends(api_caller),
        api: Api = Depends(current_api),
        now: datetime = Depends(clock),
    ) -> dict[str, Any]:
        """Send to this address again after a bounce (the flag is cleared); 404 for no such customer."""
        view = bounces.clear_bouncing(
            api.use_cases.engine, caller.business_slug, email, actor=api.actor(caller), now=now
        )
        return view.to_json()
