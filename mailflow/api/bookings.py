"""``/api/v1/bookings`` and ``/api/v1/slots``: bookings made, moved and cancelled as staff.

Every change is a ``mailflow.services`` use case with a staff actor named
after the key, so the customer and staff emails, reminders and audit follow
in the same transaction, exactly as from the CLI or the admin calendar.
Times without an offset are the business's local time; answers carry the
business's offset.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Depends, Query

from mailflow import services
from mailflow.api.context import Api, api_caller, current_api
from mailflow.api.error_models import NOT_FOUND, ErrorOut
from mailflow.api.errors import FieldInvalid, fields
from mailflow.api.keys import ApiCaller
from mailflow.api.models import (
    MAX_OFFSET,
    BookingCreate,
    BookingOut,
    Cancel,
    ChangedBookingOut,
    CreatedBookingOut,
    Reschedule,
    SlotOut,
)
from mailflow.booking.localtime import LocalTimeInvalid, resolve_local
from mailflow.errors import NotFound
from mailflow.services import calendar as calendar_views
from mailflow.services import catalog
from mailflow.store import queries
from mailflow.store.engine import read_session
from mailflow.web.deps import clock

if TYPE_CHECKING:
    from mailflow.store.tables import Booking

MAX_SLOT_DAYS = 31
BOOKING_FIELDS = {"service": ("body", "service"), "staff member": ("body", "staff")}


def local(value: datetime, zone: str, field: str = "start") -> datetime:
    """``value`` as given, or read in ``zone`` when it has no offset; a wall time that daylight
    saving skips or repeats there is refused (``LocalTimeInvalid`` at ``field``)."""
    return resolve_local(value, zone, field=field)


def parse_bound(value: str | None, name: str, zone: str) -> datetime | None:
    """A date (its local midnight) or an ISO 8601 date-time for the ``name`` (from/to) query parameter."""
    if value is None:
        return None
    try:
        return datetime.combine(date.fromisoformat(value.strip()), time(0), ZoneInfo(zone))
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise FieldInvalid.at(
            ("query", name), f"{value!r} is not a date (2026-03-03) or an ISO 8601 date-time"
        ) from None
    try:
        return local(parsed, zone, name)
    except LocalTimeInvalid as exc:  # a time the clocks skip or repeat there
        raise FieldInvalid.at(("query", name), exc.message) from None


def owned(api: Api, caller: ApiCaller, ref: str) -> Booking:
    """The caller's booking ``ref``; ``NotFound`` for an unknown one or another business's."""
    with read_session(api.use_cases.engine) as session:
        row = calendar_views.find_booking(session, caller.business_id, ref)
    if row is None:
        raise NotFound("booking", ref)
    return row


def add_routes(router: APIRouter) -> None:
    """The bookings and free-slots routes."""

    @router.post(
        "/bookings",
        status_code=201,
        response_model=CreatedBookingOut,
        tags=["bookings"],
        responses={
            409: {"model": ErrorOut, "description": "The slot is already taken (`problem`: `taken`)."}
        },
    )
    def create_booking(
        body: BookingCreate,
        caller: ApiCaller = Depends(api_caller),
        api: Api = Depends(current_api),
        now: datetime = Depends(clock),
    ) -> dict[str, Any]:
        """Book ``service`` with ``staff`` for a customer; emails and reminders are queued at once.

        ``origin`` is ``staff`` (booked on the customer's behalf: the customer may manage it
        only when the service allows it) or ``self_service``.
        """
        with read_session(api.use_cases.engine) as session:
            locales = catalog.business_by_id(session, caller.business_id).locales
        if body.customer.locale and body.customer.locale not in locales:
            raise FieldInvalid.at(
                ("body", "customer", "locale"), f"{body.customer.locale!r} is not one of {locales}"
            )
        customer = body.customer
        with fields(("body", "staff"), not_found=BOOKING_FIELDS):
            view = services.create_booking(
                api.use_cases.engine,
                business=caller.business_slug,
                service=body.service,
                staff=body.staff,
                customer=services.CustomerInput(
                    email=customer.email,
                    name=customer.name,
                    phone=customer.phone,
                    locale=customer.locale,
                    timezone=customer.timezone,
                ),
                start=local(body.start, caller.business_timezone),
                origin=body.origin,
                actor=api.actor(caller),
                now=now,
                public_url=api.use_cases.public_url,
                note=body.note,
                **api.use_cases.booking_kwargs(),
            )
        return view.to_json()

    @router.get("/bookings", response_model=list[BookingOut], tags=["bookings"])
    def list_bookings(
        start_from: str | None = Query(
            None, alias="from", description="Starting at or after: a date (local midnight) or date-time."
        ),
        start_to: str | None = Query(None, alias="to", description="Starting before: a date or date-time."),
        status: str | None = Query(None, pattern="^(confirmed|cancelled)$"),
        service_slug: str | None = Query(None, alias="service", description="Only this service."),
        staff: str | None = Query(None, description="Only this staff member (email)."),
        limit: int = Query(200, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=MAX_OFFSET),
        caller: ApiCaller = Depends(api_caller),
        api: Api = Depends(current_api),
    ) -> list[dict[str, Any]]:
        """The business's bookings by start time, cancelled ones too unless ``status`` says."""
        zone = caller.business_timezone
        found = services.list_bookings(
            api.use_cases.engine,
            business_id=caller.business_id,
            start_from=parse_bound(start_from, "from", zone),
            start_to=parse_bound(start_to, "to", zone),
            status=status,
            service=service_slug,
            staff=staff,
            limit=limit,
            offset=offset,
        )
        return [view.to_json() for view in found]

    @router.get("/bookings/{ref}", response_model=BookingOut, tags=["bookings"])
    def get_booking(
        ref: str, caller: ApiCaller = Depends(api_caller), api: Api = Depends(current_api)
    ) -> dict[str, Any]:
        """One booking by its reference; 404 when unknown (or another business's)."""
        owned(api, caller, ref)
        return services.get_booking(api.use_cases.engine, ref).to_json()

    def reschedule(api: Api, ref: str, body: Reschedule, caller: ApiCaller, now: datetime) -> dict[str, Any]:
        owned(api, caller, ref)
        saying = {"does not perform": ("body", "staff")}
        with fields(("body", "start"), not_found={"staff member": ("body", "staff")}, saying=saying):
            view = services.reschedule_booking(
                api.use_cases.engine,
                ref,
                start=local(body.start, caller.business_timezone),
                staff=body.staff,
                actor=api.actor(caller),
                now=now,
                **api.use_cases.booking_kwargs(),
            )
        return view.to_json()

    conflict: dict[int | str, dict[str, Any]] = {
        409: {
            "model": ErrorOut,
            "description": "The slot is taken, or the booking is cancelled or has started.",
        }
    }

    @router.post(
        "/bookings/{ref}/reschedule", response_model=ChangedBookingOut, tags=["bookings"], responses=conflict
    )
    def reschedule_booking(
        ref: str,
        body: Reschedule,
        caller: ApiCaller = Depends(api_caller),
        api: Api = Depends(current_api),
        now: datetime = Depends(clock),
    ) -> dict[str, Any]:
        """Move a booking (and optionally to another staff member); the customer is told."""
        return reschedule(api, ref, body, caller, now)

    @router.patch("/bookings/{ref}", response_model=ChangedBookingOut, tags=["bookings"], responses=conflict)
    def patch_booking(
        ref: str,
        body: Reschedule,
        caller: ApiCaller = Depends(api_caller),
        api: Api = Depends(current_api),
        now: datetime = Depends(clock),
    ) -> dict[str, Any]:
        """The same as ``POST /bookings/{ref}/reschedule``."""
        return reschedule(api, ref, body, caller, now)

    @router.post(
        "/bookings/{ref}/cancel",
        response_model=BookingOut,
        tags=["bookings"],
        responses={
            409: {"model": ErrorOut, "description": "The booking is already cancelled or has started."}
        },
    )
    def cancel_booking(
        ref: str,
        body: Cancel | None = Body(None),
        caller: ApiCaller = Depends(api_caller),
        api: Api = Depends(current_api),
        now: datetime = Depends(clock),
    ) -> dict[str, Any]:
        """Cancel a booking with an optional reason; the customer and staff are told."""
        owned(api, caller, ref)
        reason = (body.reason or "").strip() if body is not None else ""
        view = services.cancel_booking(
            api.use_cases.engine,
            ref,
            reason=reason or None,
            actor=api.actor(caller),
            now=now,
            notifier=api.use_cases.notifier,
        )
        return view.to_json()

    @router.get("/slots", response_model=list[SlotOut], tags=["bookings"], responses={404: NOT_FOUND})
    def list_free_slots(
        service_slug: str = Query(..., alias="service", description="Service slug."),
        staff: str | None = Query(None, description="Only this staff member (email)."),
        day: date | None = Query(None, alias="date", description="One local day (or give from and to)."),
        day_from: date | None = Query(None, alias="from", description="First local day."),
        day_to: date | None = Query(None, alias="to", description="Last local day (inclusive)."),
        caller: ApiCaller = Depends(api_caller),
        api: Api = Depends(current_api),
        now: datetime = Depends(clock),
    ) -> list[SlotOut]:
        """Free start times as customers are offered them (working hours, notice, other bookings,
        the busy times of the staff's own calendars).

        Without ``staff`` each start comes once, with the staff member an "any staff"
        booking goes to (fewest bookings that day, then the one booked longest ago).
        """
        if day is not None:
            day_from = day_to = day
        if day_from is None:
            raise FieldInvalid.at(("query", "date"), "give date, or from (and to)")
        day_to = day_to or day_from
        if day_to < day_from:
            raise FieldInvalid.at(("query", "to"), "to is before from")
        if day_to - day_from >= timedelta(days=MAX_SLOT_DAYS):
            raise FieldInvalid.at(("query", "to"), f"at most {MAX_SLOT_DAYS} days at a time")
        with read_session(api.use_cases.engine) as session:
            business = catalog.business_by_id(session, caller.business_id)
            offered = queries.service_by_slug(session, business, service_slug)
            if staff is not None:
                queries.staff_by_email(session, business, staff)
            slots = services.find_slots(
                session,
                business,
                offered,
                day_from=day_from,
                day_to=day_to,
                now=now,
                grid=api.use_cases.grid,
                staff_email=staff,
                spread=True,
            )
        zone = ZoneInfo(business.timezone)
        return [
            SlotOut(
                start=slot.start.astimezone(zone),
                end=slot.end.astimezone(zone),
                staff=slot.staff_email,
                staff_name=slot.staff_name,
            )
            for slot in slots
        ]
