"""The staff calendar at ``/admin/bookings``: list, day view, booking on a customer's behalf, changes.

Staff see and change only their own bookings; admins everything of their
business. Every change goes through the use cases of ``mailflow.services`` as
a staff actor, so the customer, the staff and the admins get the same emails
as for any other change, in the change's transaction. Staff are held to the
calendar (working hours, time off, closures, other bookings) but not to the
customers' slot grid or minimum notice: "a different time" books any free
minute; nothing books over another booking or outside working hours, the
store's no-double-booking guarantee has no override.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from mailflow import auth
from mailflow import services as use_cases
from mailflow.booking.model import Actor, ActorKind, BookingStatus, Origin
from mailflow.errors import BookingConflict, InvalidInput, NotFound, PolicyRefused, SlotUnavailable
from mailflow.services import calendar as calendar_views
from mailflow.services import catalog, customers, normalize_email
from mailflow.services.calendar import Row, when_text
from mailflow.store import queries
from mailflow.store.engine import read_session
from mailflow.web.admin import Admin
from mailflow.web.deps import now
from mailflow.web.forms import parse_day, parse_slot

if TYPE_CHECKING:
    from mailflow.store.tables import Booking, Business, Service, Staff

__all__ = ["DEFAULT_RANGE_DAYS", "FORCE_EXPLANATION", "build_router"]

DEFAULT_RANGE_DAYS = 14
MAX_RANGE_DAYS = 366
FORCE_EXPLANATION = (
    "A time you type here need not be on the customers' booking grid and may be at short notice, "
    "but it must still be free: within the staff member's working hours, outside time off and "
    "closures, and not over another booking. Double bookings cannot be forced."
)


def local_time(day_text: str, time_text: str, zone: str) -> datetime:
    """A wall-clock date and time in ``zone`` as an aware datetime; ``InvalidInput`` if malformed."""
    day = parse_day(day_text.strip())
    try:
        wall = time.fromisoformat(time_text.strip()) if time_text.strip() else None
    except ValueError:
        wall = None
    if day is None or wall is None:
        raise InvalidInput("give the date (YYYY-MM-DD) and the time (HH:MM)")
    return datetime.combine(day, wall.replace(second=0, microsecond=0), ZoneInfo(zone))


def build_router(admin: Admin) -> APIRouter:
    """The calendar pages of the signed-in member's business."""
    router = APIRouter()
    app = admin.app
    engine = app.engine

    def own_staff_id(who: auth.SignedIn) -> int | None:
        """Whose bookings ``who`` sees: None (everyone's) for an admin, else their own."""
        return None if who.is_admin else who.staff_id

    def actor(who: auth.SignedIn) -> Actor:
        return Actor(ActorKind.STAFF, who.email)

    def not_yours() -> Response:
        return Response(
            "This booking is not yours: staff see only their own bookings.\n",
            status_code=403,
            media_type="text/plain",
        )

    def missing() -> Response:
        return Response("No such booking.\n", status_code=404, media_type="text/plain")

    def owned(session: Session, who: auth.SignedIn, ref: str) -> Booking | Response:
        booking = calendar_views.find_booking(session, who.business_id, ref)
        if booking is None:
            return missing()
        if not who.is_admin and booking.staff_id != who.staff_id:
            return not_yours()
        return booking

    # --- list and day view ------------------------------------------------------------

    @router.get("/admin/bookings")
    def calendar(request: Request, who: auth.SignedIn = Depends(admin.user)) -> Response:
        params = request.query_params
        with read_session(engine) as session:
            zone = catalog.business_by_id(session, who.business_id).timezone
            today = now().astimezone(ZoneInfo(zone)).date()
            view = "day" if params.get("view") == "day" else "list"
            problems = []
            if view == "day":
                first = parse_day(params.get("day")) or today
                last = first
            else:
                first = parse_day(params.get("from")) or today
                last = parse_day(params.get("to")) or first + timedelta(days=DEFAULT_RANGE_DAYS - 1)
                if last < first:
                    problems.append("The end date was before the start date; showing the start date only.")
                    last = first
                if (last - first).days >= MAX_RANGE_DAYS:
                    problems.append(f"At most {MAX_RANGE_DAYS} days at once; the range was shortened.")
                    last = first + timedelta(days=MAX_RANGE_DAYS - 1)
            rows = calendar_views.bookings_between(
                session,
                business_id=who.business_id,
                staff_id=own_staff_id(who),
                first=first,
                last=last,
                zone=zone,
            )
            columns: dict[str, list[Row]] = {}
            if view == "day":
                for name in calendar_views.day_columns(
                    session, business_id=who.business_id, staff_id=own_staff_id(who)
                ):
                    columns[name] = []
                for row in rows:
                    columns.setdefault(row.staff, []).append(row)
        return admin.render(
            request,
            "bookings.html",
            view=view,
            rows=rows,
            columns=columns,
            first=first,
            last=last,
            day=first,
            previous_day=first - timedelta(days=1),
            next_day=first + timedelta(days=1),
            today=today,
            zone=zone,
            problems=problems,
            everyone=who.is_admin,
        )

    # --- booking on a customer's behalf ----------------------------------------------

    def slots_for(
        session: Session,
        business: Business,
        service: Service | None,
        day: date | None,
        staff_email: str,
        exclude: int | None = None,
    ) -> list[dict[str, str]]:
        if service is None or day is None:
            return []
        found = use_cases.find_slots(
            session,
            business,
            service,
            day_from=day,
            day_to=day,
            now=now(),
            grid=app.grid,
            staff_email=staff_email or None,
            exclude_booking_id=exclude,
        )
        zone = ZoneInfo(business.timezone)
        return [
            {
                "value": f"{slot.start.astimezone(UTC).isoformat()}|{slot.staff_email}",
                "label": f"{slot.start.astimezone(zone):%H:%M} · {slot.staff_name}",
            }
            for slot in found
        ]

    def bookable_staff(session: Session, who: auth.SignedIn, service: Service | None) -> list[Staff]:
        members = list(queries.staff_for_service(session, service)) if service is not None else []
        return [m for m in members if who.is_admin or m.id == who.staff_id]

    def new_page(
        request: Request,
        who: auth.SignedIn,
        values: dict[str, str],
        *,
        errors: dict[str, str] | None = None,
        message: str | None = None,
        status: int = 200,
    ) -> Response:
        with read_session(engine) as session:
            business = catalog.business_by_id(session, who.business_id)
            services = catalog.active_services(session, business)
            chosen = next((s for s in services if s.slug == values.get("service")), None)
            if chosen is None and services:
                chosen = services[0]
            members = bookable_staff(session, who, chosen)
            if not who.is_admin and values.get("staff") != who.email:
                values["staff"] = who.email
            staff_email = values.get("staff", "")
            if staff_email and staff_email not in {m.email for m in members}:
                staff_email = ""
            day = parse_day(values.get("day"))
            slots = slots_for(session, business, chosen, day, staff_email)
            return admin.render(
                request,
                "booking_new.html",
                status=status,
                services=[(s.slug, s.name, s.duration_minutes) for s in services],
                service=chosen.slug if chosen else "",
                members=[(m.email, m.name or m.email) for m in members],
                staff=staff_email,
                day=day.isoformat() if day else "",
                slots=slots,
                values=values,
                errors=errors or {},
                message=message,
                locales=list(business.locales),
                zone=business.timezone,
                force_explanation=FORCE_EXPLANATION,
                csrf=admin.csrf(request, "booking-new"),
                everyone=who.is_admin,
            )

    @router.get("/admin/bookings/new")
    def new_form(request: Request, who: auth.SignedIn = Depends(admin.user)) -> Response:
        params = request.query_params
        with read_session(engine) as session:
            zone = catalog.business_by_id(session, who.business_id).timezone
        today = now().astimezone(ZoneInfo(zone)).date()
        values = {
            "service": params.get("service", ""),
            "staff": params.get("staff", ""),
            "day": params.get("day", "") or today.isoformat(),
        }
        return new_page(request, who, values)

    @router.post("/admin/bookings/new")
    def new_submit(
        request: Request,
        _: None = Depends(admin.csrf_guard("booking-new")),
        who: auth.SignedIn = Depends(admin.user),
        service: str = Form(""),
        staff: str = Form(""),
        day: str = Form(""),
        slot: str = Form(""),
        when: str = Form("slot"),
        force_day: str = Form(""),
        force_time: str = Form(""),
        force_staff: str = Form(""),
        email: str = Form(""),
        name: str = Form(""),
        phone: str = Form(""),
        locale: str = Form(""),
        timezone: str = Form(""),
    ) -> Response:
        values = {
            "service": service,
            "staff": staff,
            "day": day,
            "slot": slot,
            "when": when,
            "force_day": force_day,
            "force_time": force_time,
            "force_staff": force_staff,
            "email": email,
            "name": name,
            "phone": phone,
            "locale": locale,
            "timezone": timezone,
        }
        errors: dict[str, str] = {}
        with read_session(engine) as session:
            business = catalog.business_by_id(session, who.business_id)
            zone, business_slug = business.timezone, business.slug
        start: datetime | None = None
        staff_email = ""
        try:
            if when == "force":
                start = local_time(force_day, force_time, zone)
                staff_email = force_staff.strip().lower()
                if not staff_email:
                    raise InvalidInput("choose the staff member")
            else:
                start, staff_email = parse_slot(slot)
        except InvalidInput as exc:
            errors["when"] = str(exc)
        if not who.is_admin and staff_email and staff_email != who.email:
            errors["when"] = "staff book for themselves; ask an admin to book for someone else"
        if not name.strip():
            errors["name"] = "enter the customer's name"
        try:
            normalize_email(email)
        except InvalidInput:
            errors["email"] = "enter the customer's email address"
        if errors or start is None:
            return new_page(request, who, values, errors=errors, status=400)
        try:
            view = use_cases.create_booking(
                engine,
                business=business_slug,
                service=service,
                staff=staff_email,
                customer=use_cases.CustomerInput(
                    email=email,
                    name=name,
                    phone=phone,
                    locale=locale or None,
                    timezone=timezone.strip() or None,
                ),
                start=start,
                origin=Origin.STAFF,
                actor=actor(who),
                now=now(),
                public_url=app.settings.public_url,
                **app.booking_kwargs(),
            )
        except (SlotUnavailable, NotFound) as exc:
            message = str(exc)
            if isinstance(exc, SlotUnavailable) and when == "force":
                message += ". " + FORCE_EXPLANATION
            return new_page(request, who, values, message=message, status=409)
        except InvalidInput as exc:
            return new_page(request, who, values, message=str(exc), status=400)
        app.wake()
        return RedirectResponse(f"/admin/bookings/{view.ref}?done=created", status_code=303)

    # --- one booking ----------------------------------------------------------------

    def detail_page(
        request: Request,
        who: auth.SignedIn,
        ref: str,
        *,
        message: str | None = None,
        errors: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
        status: int = 200,
    ) -> Response:
        params = request.query_params
        with read_session(engine) as session:
            booking = owned(session, who, ref)
            if isinstance(booking, Response):
                return booking
            detail = calendar_views.booking_detail(session, booking)
            business, svc, member = detail.business, detail.service, detail.staff
            form = values or {}
            zone = business.timezone
            booked_day = booking.start.astimezone(ZoneInfo(zone)).date()
            day = parse_day(form.get("day") or params.get("day")) or booked_day
            staff_choice = form.get("staff") or params.get("staff") or ""
            members = bookable_staff(session, who, svc)
            if staff_choice not in {m.email for m in members}:
                staff_choice = "" if who.is_admin else who.email
            confirmed = booking.status == BookingStatus.CONFIRMED.value
            slots = (
                slots_for(session, business, svc, day, staff_choice, exclude=booking.id) if confirmed else []
            )
            done = {
                "created": "Booked. The customer gets a confirmation email.",
                "rescheduled": "Moved. The customer gets an updated confirmation.",
                "cancelled": "Cancelled. The customer gets a cancellation email.",
                "resent": "The confirmation is on its way again.",
                "customer": "The customer's address is saved.",
            }.get(params.get("done", ""))
            return admin.render(
                request,
                "booking.html",
                status=status,
                ref=booking.ref,
                status_text=booking.status,
                confirmed=confirmed,
                upcoming=confirmed and booking.start > now(),
                origin=booking.origin,
                service=svc.name,
                staff=member.name or member.email,
                staff_email=member.email,
                when=when_text(booking.start, booking.end, zone),
                zone=zone,
                cancel_reason=booking.cancel_reason,
                customer=detail.customer,
                emails=detail.emails,
                replies=detail.replies,
                history=detail.history,
                members=[(m.email, m.name or m.email) for m in members],
                staff_choice=staff_choice,
                day=day.isoformat(),
                slots=slots,
                values=form,
                errors=errors or {},
                message=message,
                done=done,
                force_explanation=FORCE_EXPLANATION,
                csrf=admin.csrf(request, f"booking:{booking.ref}"),
                everyone=who.is_admin,
            )

    @router.get("/admin/bookings/{ref}")
    def detail(request: Request, ref: str, who: auth.SignedIn = Depends(admin.user)) -> Response:
        return detail_page(request, who, ref)

    def target(who: auth.SignedIn, ref: str) -> Booking | Response:
        with read_session(engine) as session:
            return owned(session, who, ref)

    @router.post("/admin/bookings/{ref}/reschedule")
    def reschedule(
        request: Request,
        ref: str,
        _: None = Depends(admin.csrf_guard("booking:{ref}")),
        who: auth.SignedIn = Depends(admin.user),
        slot: str = Form(""),
        when: str = Form("slot"),
        force_day: str = Form(""),
        force_time: str = Form(""),
        force_staff: str = Form(""),
        day: str = Form(""),
        staff: str = Form(""),
    ) -> Response:
        booking = target(who, ref)
        if isinstance(booking, Response):
            return booking
        values = {"slot": slot, "when": when, "force_day": force_day, "force_time": force_time}
        values |= {"force_staff": force_staff, "day": day, "staff": staff}
        with read_session(engine) as session:
            zone = catalog.business_by_id(session, booking.business_id).timezone
        try:
            if when == "force":
                start = local_time(force_day, force_time, zone)
                staff_email = force_staff.strip().lower() or None
            else:
                start, chosen = parse_slot(slot)
                staff_email = chosen
            if not who.is_admin and staff_email not in (None, who.email):
                raise InvalidInput("staff move bookings within their own calendar; ask an admin")
        except InvalidInput as exc:
            return detail_page(request, who, ref, errors={"reschedule": str(exc)}, values=values, status=400)
        try:
            use_cases.reschedule_booking(
                engine,
                booking.ref,
                start=start,
                staff=staff_email,
                actor=actor(who),
                now=now(),
                **app.booking_kwargs(),
            )
        except (SlotUnavailable, PolicyRefused, InvalidInput, NotFound) as exc:  # NotFound: staff member
            text = str(exc)
            if isinstance(exc, SlotUnavailable) and when == "force":
                text += ". " + FORCE_EXPLANATION
            code = 409 if isinstance(exc, BookingConflict | SlotUnavailable) else 400
            return detail_page(request, who, ref, errors={"reschedule": text}, values=values, status=code)
        app.wake()
        return RedirectResponse(f"/admin/bookings/{booking.ref}?done=rescheduled", status_code=303)

    @router.post("/admin/bookings/{ref}/cancel")
    def cancel(
        request: Request,
        ref: str,
        _: None = Depends(admin.csrf_guard("booking:{ref}")),
        who: auth.SignedIn = Depends(admin.user),
        reason: str = Form(""),
    ) -> Response:
        booking = target(who, ref)
        if isinstance(booking, Response):
            return booking
        try:
            use_cases.cancel_booking(
                engine, booking.ref, reason=reason, actor=actor(who), now=now(), notifier=app.notifier
            )
        except PolicyRefused as exc:
            return detail_page(request, who, ref, errors={"cancel": str(exc)}, status=409)
        app.wake()
        return RedirectResponse(f"/admin/bookings/{booking.ref}?done=cancelled", status_code=303)

    @router.post("/admin/bookings/{ref}/resend")
    def resend(
        request: Request,
        ref: str,
        _: None = Depends(admin.csrf_guard("booking:{ref}")),
        who: auth.SignedIn = Depends(admin.user),
    ) -> Response:
        booking = target(who, ref)
        if isinstance(booking, Response):
            return booking
        problem = resend_confirmation(booking, who)
        if problem is not None:
            return detail_page(request, who, ref, errors={"resend": problem}, status=409)
        return RedirectResponse(f"/admin/bookings/{booking.ref}?done=resent", status_code=303)

    def resend_confirmation(booking: Booking, who: auth.SignedIn) -> str | None:
        """Queue the confirmation again; the reason why not, when it cannot be sent."""
        try:
            calendar_views.resend_confirmation(
                engine, booking.ref, actor=actor(who), now=now(), notifier=app.notifier
            )
        except InvalidInput as exc:
            return str(exc)
        app.wake()
        return None

    @router.post("/admin/bookings/{ref}/customer")
    def customer_address(
        request: Request,
        ref: str,
        _: None = Depends(admin.csrf_guard("booking:{ref}")),
        who: auth.SignedIn = Depends(admin.user),
        email: str = Form(""),
        then: str = Form("save"),
    ) -> Response:
        booking = target(who, ref)
        if isinstance(booking, Response):
            return booking
        values = {"customer_email": email}
        try:
            address = normalize_email(email)
        except InvalidInput:
            return detail_page(
                request,
                who,
                ref,
                errors={"customer": f"“{email.strip()}” is not an email address."},
                values=values,
                status=400,
            )
        try:
            customers.correct_customer_address(engine, booking.ref, address, actor=actor(who), now=now())
        except InvalidInput as exc:  # another customer has the address
            return detail_page(request, who, ref, errors={"customer": str(exc)}, values=values, status=409)
        if then == "resend":
            problem = resend_confirmation(booking, who)
            if problem is not None:
                return detail_page(request, who, ref, errors={"resend": problem}, status=409)
            return RedirectResponse(f"/admin/bookings/{booking.ref}?done=resent", status_code=303)
        return RedirectResponse(f"/admin/bookings/{booking.ref}?done=customer", status_code=303)

    return router
