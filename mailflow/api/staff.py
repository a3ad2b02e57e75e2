"""``/api/v1/staff``: staff members, their weekly hours and time off (``mailflow.services.staff``).

Weekly hours and time off given without an offset are the staff member's local
times (their time zone, by default the business's). Time off over confirmed
bookings is never silent: the answer lists them as ``affected``, to be moved.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Path

from mailflow.api.context import Api, api_caller, current_api
from mailflow.api.errors import FieldInvalid, Loc, fields
from mailflow.api.keys import ApiCaller
from mailflow.api.models import (
    StaffCreate,
    StaffOut,
    StaffUpdate,
    StaffUpdated,
    TimeOffAdded,
    TimeOffIn,
    TimeOffOut,
    WeeklyHours,
)
from mailflow.services import staff as people
from mailflow.services import time_off
from mailflow.web.deps import clock

# The use case names a bad day ``hours.mon``; in ``PUT …/hours`` the days are the body.
HOURS_AT: dict[str, Loc] = {f"hours.{day}": ("body", day) for day in people.DAYS}
TIME_OFF_AT: dict[str, Loc] = {"from": ("body", "start"), "to": ("body", "end")}


def add_routes(router: APIRouter) -> None:
    """Staff, hours and time off."""

    @router.get("/staff", response_model=list[StaffOut], tags=["staff"])
    def list_staff(
        caller: ApiCaller = Depends(api_caller), api: Api = Depends(current_api)
    ) -> list[dict[str, Any]]:
        """Every staff member with role, working hours and the services they perform."""
        return [view.to_json() for view in people.list_staff(api.use_cases.engine, caller.business_slug)]

    @router.post("/staff", status_code=201, response_model=StaffOut, tags=["staff"])
    def add_staff(
        body: StaffCreate,
        caller: ApiCaller = Depends(api_caller),
        api: Api = Depends(current_api),
        now: datetime = Depends(clock),
    ) -> dict[str, Any]:
        """Add a staff member (who cannot sign in until invited); 422 for an address in use."""
        with fields(("body",)):
            view = people.add_staff(
                api.use_cases.engine,
                caller.business_slug,
                email=body.email,
                name=body.name,
                role=body.role,
                locale=body.locale,
                timezone=body.timezone,
                hours=body.hours.model_dump() if body.hours is not None else None,
                actor=api.actor(caller),
                now=now,
            )
        return view.to_json()

    @router.patch("/staff/{email}", response_model=StaffUpdated, tags=["staff"])
    def update_staff(
        email: str,
        body: StaffUpdate,
        caller: ApiCaller = Depends(api_caller),
        api: Api = Depends(current_api),
        now: datetime = Depends(clock),
    ) -> dict[str, Any]:
        """Change name, role, language, time zone, or take them off the booking pages
        (``"active": false``: ``affected`` lists their upcoming bookings); the last admin stays one."""
        changes = body.model_dump(exclude_unset=True)
        for name, value in changes.items():
            if value is None:
                raise FieldInvalid.at(("body", name), f"{name} cannot be null")
        deactivate = changes.get("active") is False
        if deactivate:
            del changes["active"]
        engine, slug, actor = api.use_cases.engine, caller.business_slug, api.actor(caller)
        with fields(("body",)):
            view = people.update_staff(engine, slug, email, changes, actor=actor, now=now)
            if deactivate:
                return people.deactivate_staff(engine, slug, email, actor=actor, now=now).to_json()
        return {**view.to_json(), "affected": []}

    @router.put("/staff/{email}/hours", response_model=StaffOut, tags=["staff"])
    def set_staff_hours(
        email: str,
        body: WeeklyHours,
        caller: ApiCaller = Depends(api_caller),
        api: Api = Depends(current_api),
        now: datetime = Depends(clock),
    ) -> dict[str, Any]:
        """Replace the weekly hours: several periods a day, local times; a day left out is off.

        Reversed or overlapping periods are 422 at their day, and nothing changes.
        """
        with fields(("body",), renamed=HOURS_AT):
            view = people.set_hours(
                api.use_cases.engine,
                caller.business_slug,
                email,
                body.model_dump(),
                actor=api.actor(caller),
                now=now,
            )
        return view.to_json()

    @router.get("/staff/{email}/time-off", response_model=list[TimeOffOut], tags=["staff"])
    def list_time_off(
        email: str, caller: ApiCaller = Depends(api_caller), api: Api = Depends(current_api)
    ) -> list[dict[str, Any]]:
        """A staff member's time off, by start."""
        return [
            view.to_json()
            for view in time_off.list_time_off(api.use_cases.engine, caller.business_slug, email)
        ]

    @router.post("/staff/{email}/time-off", status_code=201, response_model=TimeOffAdded, tags=["staff"])
    def add_time_off(
        email: str,
        body: TimeOffIn,
        caller: ApiCaller = Depends(api_caller),
        api: Api = Depends(current_api),
        now: datetime = Depends(clock),
    ) -> dict[str, Any]:
        """Block ``[start, end)`` for a staff member; ``affected`` lists the confirmed bookings
        inside it (they stay: move or cancel them). 422 when it overlaps time off entered."""
        with fields(("body",), renamed=TIME_OFF_AT):
            changed = time_off.add_time_off(
                api.use_cases.engine,
                caller.business_slug,
                email,
                start=body.start,
                end=body.end,
                reason=body.reason,
                actor=api.actor(caller),
                now=now,
            )
        return changed.to_json()

    @router.delete("/staff/{email}/time-off/{id}", response_model=TimeOffOut, tags=["staff"])
    def remove_time_off(
        email: str,
        time_off_id: int = Path(alias="id"),
        caller: ApiCaller = Depends(api_caller),
        api: Api = Depends(current_api),
        now: datetime = Depends(clock),
    ) -> dict[str, Any]:
        """Remove one period of time off (the removed one is returned); 404 when it is not theirs."""
        view = time_off.remove_time_off(
            api.use_cases.engine,
            caller.business_slug,
            time_off_id,
            staff=email,
            actor=api.actor(caller),
            now=now,
        )
        return view.to_json()
