"""Settings (admins only): per service and per business, at ``/admin/services``.

Nothing here copies a setting into bookings: the emails and the manage page
read the service's ``customer_can_manage`` and cut-off when they are built
(``mailflow.outbound.context.decide``), so a change applies to existing
bookings from the next email on. Changed reminder offsets re-plan the pending
reminders of upcoming bookings. A form with a mistake comes back with every
value as typed and the problem next to its field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import delete
from sqlmodel import Session, col, select

from mailflow import auth
from mailflow.booking.model import BookingStatus
from mailflow.errors import InvalidInput
from mailflow.scheduling.reminders import ReminderStatus
from mailflow.services import check_timezone, normalize_email
from mailflow.services.common import format_minutes, parse_minutes
from mailflow.store.engine import read_session, write_session
from mailflow.store.tables import Booking, Business, Reminder, Service, ServiceStaff, Staff, pk
from mailflow.web.admin import Admin

__all__ = ["MANAGE_EXPLANATION", "MANAGE_LABEL", "build_router", "format_minutes", "parse_minutes"]

MANAGE_LABEL = "Allow customers to manage their appointment if booked by you or your staff on their behalf"
MANAGE_EXPLANATION = (
    "When off, customers cannot reschedule or cancel a booking that staff made for them: "
    "their emails show no Manage button and give your change instructions instead "
    "(bookings they made themselves can always be managed)."
)
MAX_MINUTES = 60 * 24 * 60  # 60 days
MAX_REMINDERS = 5


@dataclass
class ServiceForm:
    """A service's form as shown or as posted, with the problems per field."""

    slug: str
    name: str
    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class BusinessForm:
    values: dict[str, str]
    locales: list[str]
    errors: dict[str, str] = field(default_factory=dict)


BUSINESS_FIELDS = (
    "phone",
    "email",
    "address",
    "change_instructions",
    "default_locale",
    "timezone",
    "sender_name",
    "sender_email",
)


def service_values(service: Service, staff_ids: set[int]) -> dict[str, Any]:
    return {
        "customer_can_manage": service.customer_can_manage,
        "change_cutoff": format_minutes(service.change_cutoff_minutes),
        "reminders": ", ".join(
            format_minutes(m) for m in sorted(service.reminder_offsets_minutes, reverse=True)
        ),
        "duration": str(service.duration_minutes),
        "buffer_before": str(service.buffer_before_minutes),
        "buffer_after": str(service.buffer_after_minutes),
        "staff": staff_ids,
    }


def _whole(text: str, low: int, high: int, what: str) -> int:
    try:
        number = int(text.strip())
    except ValueError:
        raise InvalidInput(f"{what} must be a whole number of minutes") from None
    if not low <= number <= high:
        raise InvalidInput(f"{what} must be between {low} and {high} minutes")
    return number


def parse_service_form(
    values: dict[str, Any], members: dict[int, Staff]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The service fields to store, and the problems keyed by form field."""
    parsed: dict[str, Any] = {"customer_can_manage": bool(values["customer_can_manage"])}
    errors: dict[str, str] = {}
    try:
        cutoff = parse_minutes(values["change_cutoff"])
        if cutoff > MAX_MINUTES:
            raise InvalidInput("the cut-off can be at most 60 days")
        parsed["change_cutoff_minutes"] = cutoff
    except InvalidInput as exc:
        errors["change_cutoff"] = str(exc)
    try:
        parts = [part for part in re.split(r"[,;]", values["reminders"]) if part.strip()]
        offsets = sorted({parse_minutes(part) for part in parts}, reverse=True)
        if len(offsets) > MAX_REMINDERS:
            raise InvalidInput(f"at most {MAX_REMINDERS} reminders")
        if any(not 1 <= offset <= MAX_MINUTES for offset in offsets):
            raise InvalidInput("each reminder must be between 1 minute and 60 days before the start")
        parsed["reminder_offsets_minutes"] = offsets
    except InvalidInput as exc:
        errors["reminders"] = str(exc)
    for name, column, low, high, what in (
        ("duration", "duration_minutes", 5, 24 * 60, "the duration"),
        ("buffer_before", "buffer_before_minutes", 0, 240, "the buffer before"),
        ("buffer_after", "buffer_after_minutes", 0, 240, "the buffer after"),
    ):
        try:
            parsed[column] = _whole(values[name], low, high, what)
        except InvalidInput as exc:
            errors[name] = str(exc)
    chosen = set(values["staff"])
    if not chosen:
        errors["staff"] = "choose at least one staff member, or nobody can be booked for this service"
    elif not chosen <= set(members):
        errors["staff"] = "choose staff members of this business"
    parsed["staff"] = chosen
    return parsed, errors


def replan_reminders(session: Session, service: Service, now: datetime) -> None:
    """Bring the pending reminders of upcoming bookings of ``service`` in line with its offsets.

    Sent and skipped reminders stay as they are; new offsets get a pending row
    when still ahead, removed ones are dropped.
    """
    offsets = set(service.reminder_offsets_minutes)
    bookings = session.exec(
        select(Booking).where(
            Booking.service_id == service.id,
            Booking.status == BookingStatus.CONFIRMED.value,
            col(Booking.start) > now,
        )
    ).all()
    for booking in bookings:
        existing = {
            row.offset_minutes: row
            for row in session.exec(select(Reminder).where(Reminder.booking_id == booking.id))
        }
        for offset, row in existing.items():
            if offset not in offsets and row.status == ReminderStatus.PENDING.value:
                row.status = ReminderStatus.DROPPED.value
                session.add(row)
        for offset in offsets - set(existing):
            due = booking.start - timedelta(minutes=offset)
            if due > now:
                session.add(
                    Reminder(
                        booking_id=pk(booking),
                        offset_minutes=offset,
                        due_at=due,
                        booking_version=booking.version,
                        status=ReminderStatus.PENDING.value,
                    )
                )


def parse_business_form(values: dict[str, str], locales: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    parsed: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, limit in (("phone", 64), ("address", 500), ("sender_name", 200)):
        if len(values[name].strip()) > limit:
            errors[name] = f"at most {limit} characters"
        parsed[name] = values[name].strip()
    for name in ("email", "sender_email"):
        try:
            parsed[name] = normalize_email(values[name]) if values[name].strip() else ""
        except InvalidInput:
            errors[name] = f"“{values[name].strip()}” is not an email address"
    if not parsed.get("email") and "email" not in errors and not parsed["phone"]:
        errors["phone"] = "give a phone number or an email address, so customers can reach you"
    if values["default_locale"] not in locales:
        errors["default_locale"] = f"choose one of {', '.join(locales)}"
    parsed["default_locale"] = values["default_locale"]
    try:
        parsed["timezone"] = check_timezone(values["timezone"].strip())
    except InvalidInput as exc:
        errors["timezone"] = str(exc)
    instructions = values["change_instructions"].strip()
    if len(instructions) > 2000:
        errors["change_instructions"] = "at most 2000 characters"
    parsed["change_instructions"] = instructions or None
    return parsed, errors


def build_router(admin: Admin) -> APIRouter:
    """``/admin/services``: the settings of the signed-in admin's business and its services."""
    router = APIRouter()
    engine = admin.app.engine

    def page(
        request: Request,
        who: auth.SignedIn,
        *,
        service_form: ServiceForm | None = None,
        business_form: BusinessForm | None = None,
        status: int = 200,
    ) -> Response:
        with read_session(engine) as session:
            business = session.get_one(Business, who.business_id)
            members = session.exec(
                select(Staff).where(Staff.business_id == business.id).order_by(col(Staff.id))
            ).all()
            forms = []
            for service in session.exec(
                select(Service).where(Service.business_id == business.id).order_by(col(Service.id))
            ):
                if service_form is not None and service_form.slug == service.slug:
                    forms.append(service_form)
                    continue
                staff_ids = {
                    link.staff_id
                    for link in session.exec(
                        select(ServiceStaff).where(ServiceStaff.service_id == service.id)
                    )
                }
                forms.append(ServiceForm(service.slug, service.name, service_values(service, staff_ids)))
            if business_form is None:
                business_form = BusinessForm(
                    {name: getattr(business, name) or "" for name in BUSINESS_FIELDS}, list(business.locales)
                )
            team = [(pk(m), m.name or m.email, m.active) for m in members]
            return admin.render(
                request,
                "services.html",
                status=status,
                business_name=business.name,
                services=forms,
                business=business_form,
                team=team,
                saved=request.query_params.get("saved"),
                manage_label=MANAGE_LABEL,
                manage_explanation=MANAGE_EXPLANATION,
                csrf=admin.csrf(request, "settings"),
            )

    @router.get("/admin/services")
    def settings_page(request: Request, who: auth.SignedIn = Depends(admin.admin)) -> Response:
        return page(request, who)

    @router.post("/admin/services/{slug}")
    def save_service(
        request: Request,
        slug: str,
        _: None = Depends(admin.csrf_guard("settings")),
        who: auth.SignedIn = Depends(admin.admin),
        customer_can_manage: str = Form(""),
        change_cutoff: str = Form(""),
        reminders: str = Form(""),
        duration: str = Form(""),
        buffer_before: str = Form(""),
        buffer_after: str = Form(""),
        staff: list[str] = Form([]),
    ) -> Response:
        try:
            chosen = {int(value) for value in staff}
        except ValueError:
            chosen = {-1}
        values: dict[str, Any] = {
            "customer_can_manage": bool(customer_can_manage),
            "change_cutoff": change_cutoff,
            "reminders": reminders,
            "duration": duration,
            "buffer_before": buffer_before,
            "buffer_after": buffer_after,
            "staff": chosen,
        }
        with read_session(engine) as session:
            service = session.exec(
                select(Service).where(Service.business_id == who.business_id, Service.slug == slug)
            ).first()
            if service is None:
                return Response("no such service\n", status_code=404, media_type="text/plain")
            members = {
                pk(m): m
                for m in session.exec(select(Staff).where(Staff.business_id == who.business_id)).all()
            }
            parsed, errors = parse_service_form(values, members)
            if errors:
                return page(
                    request, who, service_form=ServiceForm(slug, service.name, values, errors), status=400
                )
        now = datetime.now(UTC)
        with write_session(engine) as session:
            service = session.get_one(Service, service.id)
            old_offsets = sorted(service.reminder_offsets_minutes)
            for column, value in parsed.items():
                if column != "staff":
                    setattr(service, column, value)
            session.add(service)
            session.execute(delete(ServiceStaff).where(col(ServiceStaff.service_id) == service.id))
            for staff_id in sorted(parsed["staff"]):
                session.add(ServiceStaff(service_id=pk(service), staff_id=staff_id))
            if sorted(parsed["reminder_offsets_minutes"]) != old_offsets:
                session.flush()
                replan_reminders(session, service, now)
        return RedirectResponse(f"/admin/services?saved={slug}#service-{slug}", status_code=303)

    @router.post("/admin/business")
    def save_business(
        request: Request,
        _: None = Depends(admin.csrf_guard("settings")),
        who: auth.SignedIn = Depends(admin.admin),
        phone: str = Form(""),
        email: str = Form(""),
        address: str = Form(""),
        change_instructions: str = Form(""),
        default_locale: str = Form(""),
        timezone: str = Form(""),
        sender_name: str = Form(""),
        sender_email: str = Form(""),
    ) -> Response:
        values = {
            "phone": phone,
            "email": email,
            "address": address,
            "change_instructions": change_instructions,
            "default_locale": default_locale,
            "timezone": timezone,
            "sender_name": sender_name,
            "sender_email": sender_email,
        }
        with read_session(engine) as session:
            locales = list(session.get_one(Business, who.business_id).locales)
        parsed, errors = parse_business_form(values, locales)
        if errors:
            return page(request, who, business_form=BusinessForm(values, locales, errors), status=400)
        with write_session(engine) as session:
            business = session.get_one(Business, who.business_id)
            for name, value in parsed.items():
                setattr(business, name, value)
            session.add(business)
        return RedirectResponse("/admin/services?saved=business#business", status_code=303)

    return router
