"""``/api/v1/business``: the key's business profile (``mailflow.services.business``).

A change is audited (before and after) and applies from then on: the manage
rule and the texts are read when an email is rendered or a page is shown.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends

from mailflow.api.context import Api, api_caller, current_api
from mailflow.api.errors import FieldInvalid, fields
from mailflow.api.keys import ApiCaller
from mailflow.api.models import BusinessOut, BusinessUpdate
from mailflow.services import business as profile
from mailflow.web.deps import clock

# The API's names of the profile fields -> the use case's, where they differ.
RENAMED = {"default_locale": "locale", "locales": "languages"}
NOT_NULL = ("name", "timezone", "default_locale", "locales")


def add_routes(router: APIRouter) -> None:
    """``GET`` and ``PATCH /business``."""

    @router.get("/business", response_model=BusinessOut, tags=["business"])
    def get_business(
        caller: ApiCaller = Depends(api_caller), api: Api = Depends(current_api)
    ) -> dict[str, Any]:
        """The key's business: contact details, sender, languages, time zone, change instructions."""
        return profile.get_business(api.use_cases.engine, caller.business_slug).to_json()

    @router.patch("/business", response_model=BusinessOut, tags=["business"])
    def update_business(
        body: BusinessUpdate,
        caller: ApiCaller = Depends(api_caller),
        api: Api = Depends(current_api),
        now: datetime = Depends(clock),
    ) -> dict[str, Any]:
        """Change contact details, sender, languages, time zone or change instructions.

        ``change_instructions`` replaces the languages given (an empty text removes one,
        ``null`` all of them). Only what really changed is audited.
        """
        given = body.model_dump(exclude_unset=True)
        for name in NOT_NULL:
            if name in given and given[name] is None:
                raise FieldInvalid.at(("body", name), f"{name} cannot be null")
        changes = {RENAMED.get(name, name): value for name, value in given.items()}
        with fields(("body",), renamed={new: ("body", old) for old, new in RENAMED.items()}):
            view = profile.update_business(
                api.use_cases.engine, caller.business_slug, changes, actor=api.actor(caller), now=now
            )
        return view.to_json()
