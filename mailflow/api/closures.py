"""``/api/v1/closures``: whole days the business is closed (``mailflow.services.closures``).

Days are the business's local dates. Public holidays are imported per country
and region from the ``holidays`` package. A closure over confirmed bookings is
never silent: the answer lists them as ``affected``, to be moved.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Path

from mailflow.api.context import Api, api_caller, current_api
from mailflow.api.errors import fields
from mailflow.api.keys import ApiCaller
from mailflow.api.models import ClosureIn, ClosureOut, ClosuresAdded, HolidaysIn
from mailflow.services import closures
from mailflow.web.deps import clock


def add_routes(router: APIRouter) -> None:
    """List, add, remove closures; import public holidays."""

    @router.get("/closures", response_model=list[ClosureOut], tags=["closures"])
    def list_closures(
        caller: ApiCaller = Depends(api_caller), api: Api = Depends(current_api)
    ) -> list[dict[str, Any]]:
        """Every closure of the business, by first day."""
        return [view.to_json() for view in closures.list_closures(api.use_cases.engine, caller.business_slug)]

    @router.post("/closures", status_code=201, response_model=ClosuresAdded, tags=["closures"])
    def add_closure(
        body: ClosureIn,
        caller: ApiCaller = Depends(api_caller),
        api: Api = Depends(current_api),
        now: datetime = Depends(clock),
    ) -> dict[str, Any]:
        """Close ``from``..``to`` (inclusive); ``affected`` lists the confirmed bookings on those
        days. 422 when it overlaps a closure already entered (remove that first)."""
        with fields(("body",)):
            added = closures.add_closure(
                api.use_cases.engine,
                caller.business_slug,
                start=body.first,
                end=body.last,
                label=body.label,
                actor=api.actor(caller),
                now=now,
            )
        return added.to_json()

    @router.post("/closures/holidays", status_code=201, response_model=ClosuresAdded, tags=["closures"])
    def import_holidays(
        body: HolidaysIn,
        caller: ApiCaller = Depends(api_caller),
        api: Api = Depends(current_api),
        now: datetime = Depends(clock),
    ) -> dict[str, Any]:
        """Close on the public holidays of ``country`` (and ``subdivision``) in ``year``; days
        already closed are ``skipped``, so importing twice adds nothing."""
        with fields(("body",)):
            added = closures.import_holidays(
                api.use_cases.engine,
                caller.business_slug,
                country=body.country,
                subdivision=body.subdivision,
                year=body.year,
                actor=api.actor(caller),
                now=now,
            )
        return added.to_json()

    @router.delete("/closures/{id}", response_model=ClosureOut, tags=["closures"])
    def remove_closure(
        closure_id: int = Path(alias="id"),
        caller: ApiCaller = Depends(api_caller),
        api: Api = Depends(current_api),
        now: datetime = Depends(clock),
    ) -> dict[str, Any]:
        """Open the business again on a closure's days (the removed closure is returned)."""
        view = closures.remove_closure(
            api.use_cases.engine, caller.business_slug, closure_id, actor=api.actor(caller), now=now
        )
        return view.to_json()
