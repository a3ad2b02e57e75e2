"""``/api/v1/services``: the services a business offers (``mailflow.services.catalog``).

Names, descriptions and change instructions are kept per language; ``name`` and
``description`` are the default language's. A service is archived, never
deleted (bookings refer to it). Changed reminder offsets re-plan the pending
reminders of every upcoming booking of the service in the same transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends

from mailflow.api.context import Api, api_caller, current_api
from mailflow.api.errors import Loc, fields
from mailflow.api.keys import ApiCaller
from mailflow.api.models import SERVICE_VALUES, ServiceCreate, ServiceOut, ServiceSettings, ServiceUpdate
from mailflow.services import business as profile
from mailflow.services import catalog
from mailflow.web.deps import clock

# The use case's names of the settings -> where they are in the request.
RENAMED: dict[str, Loc] = {value: ("body", name) for name, value in SERVICE_VALUES.items()}


def _values(api: Api, caller: ApiCaller, body: ServiceSettings) -> dict[str, Any]:
    """The use case's ``values`` for ``body`` (reading the default language only when needed)."""
    default = ""
    if body.name is not None or body.description is not None:
        default = profile.get_business(api.use_cases.engine, caller.business_slug).default_locale
    return body.values(default)


def _unknown_staff(body: ServiceSettings) -> dict[str, Loc]:
    """An unknown staff member's address, quoted in the use case's message, is at its index."""
    return {repr(email): ("body", "staff", index) for index, email in enumerate(body.staff or [])}


def add_routes(router: APIRouter) -> None:
    """List, create, show, change and archive services."""

    @router.get("/services", response_model=list[ServiceOut], tags=["services"])
    def list_services(
        caller: ApiCaller = Depends(api_caller), api: Api = Depends(current_api)
    ) -> list[dict[str, Any]]:
        """Every service of the business (archived ones too) with its settings and eligible staff."""
        return [view.to_json() for view in catalog.list_services(api.use_cases.engine, caller.business_slug)]

    @router.post("/services", status_code=201, response_model=ServiceOut, tags=["services"])
    def create_service(
        body: ServiceCreate,
        caller: ApiCaller = Depends(api_caller),
        api: Api = Depends(current_api),
        now: datetime = Depends(clock),
    ) -> dict[str, Any]:
        """A new service; bad input (a slug in use, no staff, an unknown language) is 422 and
        nothing is stored."""
        with fields(("body",), renamed=RENAMED, saying=_unknown_staff(body)):
            view = catalog.create_service(
                api.use_cases.engine,
                caller.business_slug,
                slug=body.slug,
                values=_values(api, caller, body),
                actor=api.actor(caller),
                now=now,
            )
        return view.to_json()

    @router.get("/services/{slug}", response_model=ServiceOut, tags=["services"])
    def get_service(
        slug: str, caller: ApiCaller = Depends(api_caller), api: Api = Depends(current_api)
    ) -> dict[str, Any]:
        """One service; 404 for an unknown slug."""
        return catalog.get_service(api.use_cases.engine, caller.business_slug, slug).to_json()

    @router.patch("/services/{slug}", response_model=ServiceOut, tags=["services"])
    def update_service(
        slug: str,
        body: ServiceUpdate,
        caller: ApiCaller = Depends(api_caller),
        api: Api = Depends(current_api),
        now: datetime = Depends(clock),
    ) -> dict[str, Any]:
        """Change settings: names, ``customer_can_manage``, cut-off, reminders, duration, staff…

        A new duration applies to new bookings; new reminder offsets re-plan the pending
        reminders of upcoming bookings. Audited with before and after.
        """
        with fields(("body",), renamed=RENAMED, saying=_unknown_staff(body)):
            view = catalog.update_service(
                api.use_cases.engine,
                caller.business_slug,
                slug,
                _values(api, caller, body),
                actor=api.actor(caller),
                now=now,
            )
        return view.to_json()

    @router.post("/services/{slug}/archive", response_model=ServiceOut, tags=["services"])
    def archive_service(
        slug: str,
        caller: ApiCaller = Depends(api_caller),
        api: Api = Depends(current_api),
        now: datetime = Depends(clock),
    ) -> dict[str, Any]:
        """Take a service off the booking pages; its bookings stay. ``PATCH {"active": true}``
        brings it back."""
        view = catalog.archive_service(
            api.use_cases.engine, caller.business_slug, slug, actor=api.actor(caller), now=now
        )
        return view.to_json()
