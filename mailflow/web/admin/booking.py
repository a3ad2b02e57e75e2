"""One booking of the staff calendar: ``/admin/bookings/{ref}`` and its changes.

Reschedule, cancel, resend the confirmation, correct the customer's address:
each goes through the use cases of ``mailflow.services`` as a staff actor.
Staff reach only their own bookings (403), admins every booking of their
business; an unknown reference is 404.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form
from fastapi.responses import RedirectResponse, Response

from mailflow import services as use_cases
from mailflow.booking.model import BookingStatus
from mailflow.errors import BookingConflict, InvalidInput, NotFound, PolicyRefused, SlotUnavailable
from mailflow.i18n import N_, gettext
from mailflow.services import calendar as calendar_views
from mailflow.services import catalog, customers, normalize_email
from mailflow.services.booking_warnings import TEXTS as WARNING_TEXTS
from mailflow.services.booking_warnings import BookingWarning
from mailflow.store.engine import read_session
from mailflow.web.admin import Desk, csrf_guard, desk
from mailflow.web.admin.bookings import FORCE_EXPLANATION, bookable_staff, slots_for
from mailflow.web.admin.forms import span_text
from mailflow.web.forms import local_time, parse_day, parse_slot

if TYPE_CHECKING:
    from sqlmodel import Session

    from mailflow.store.tables import Booking

__all__ = ["router"]

router = APIRouter()

# What the last change did (``?done=``), shown on the booking's page.
DONE = {
    "created": N_("Booked. The customer gets a confirmation email."),
    "rescheduled": N_("Moved. The customer gets an updated confirmation."),
    "cancelled": N_("Cancelled. The customer gets a cancellation email."),
    "resent": N_("The confirmation is on its way again."),
    "customer": N_("The customer's address is saved."),
}


def not_yours(locale: str) -> Response:
    text = gettext(locale, "This booking is not yours: staff see only their own bookings.")
    return Response(f"{text}\n", status_code=403, media_type="text/plain")


def missing(locale: str) -> Response:
    return Response(gettext(locale, "No such booking.") + "\n", status_code=404, media_type="text/plain")


def owned(session: Session, d: Desk, ref: str) -> Booking | Response:
    booking = calendar_views.find_booking(session, d.who.business_id, ref)
    if booking is None:
        return missing(d.locale)
    if not d.who.is_admin and booking.staff_id != d.who.staff_id:
        return not_yours(d.locale)
    return booking


# --- one booking ----------------------------------------------------------------


def detail_page(
    d: Desk,
    ref: str,
    *,
    message: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    params = d.request.query_params
    with read_session(d.site.engine) as session:
        booking = owned(session, d, ref)
        if isinstance(booking, Response):
            return booking
        detail = calendar_views.booking_detail(session, booking)
        business, svc, member = detail.business, detail.service, detail.staff
        form = values or {}
        zone = business.timezone
        booked_day = booking.start.astimezone(ZoneInfo(zone)).date()
        day = parse_day(form.get("day") or params.get("day")) or booked_day
        staff_choice = form.get("staff") or params.get("staff") or ""
        members = bookable_staff(session, d.who, svc)
        if staff_choice not in {m.email for m in members}:
            staff_choice = "" if d.who.is_admin else d.who.email
        confirmed = booking.status == BookingStatus.CONFIRMED.value
        slots = (
            slots_for(d, session, business, svc, day, staff_choice, exclude=booking.id) if confirmed else []
        )
        done = DONE.get(params.get("done", ""))
        return d.render(
            "booking.html",
            status=status,
            ref=booking.ref,
            status_text=booking.status,
            confirmed=confirmed,
            upcoming=confirmed and booking.start > d.now,
            origin=booking.origin,
            service=svc.name,
            staff=member.name or member.email,
            staff_email=member.email,
            when=span_text(booking.start, booking.end, zone, d.locale),
            zone=zone,
            cancel_reason=booking.cancel_reason,
            note=booking.note,
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
            done=gettext(d.locale, done) if done else None,
            warnings=[
                BookingWarning(code, {"staff": member.email}).text(d.locale)
                for code in params.getlist("warning")
                if code in WARNING_TEXTS
            ],
            force_explanation=gettext(d.locale, FORCE_EXPLANATION),
            csrf=d.csrf(f"booking:{booking.ref}"),
            everyone=d.who.is_admin,
        )


@router.get("/admin/bookings/{ref}")
def detail(ref: str, d: Desk = Depends(desk)) -> Response:
    return detail_page(d, ref)


def target(d: Desk, ref: str) -> Booking | Response:
    with read_session(d.site.engine) as session:
        return owned(session, d, ref)


@router.post("/admin/bookings/{ref}/reschedule")
def reschedule(
    ref: str,
    _: None = Depends(csrf_guard("booking:{ref}")),
    d: Desk = Depends(desk),
    slot: str = Form(""),
    when: str = Form("slot"),
    force_day: str = Form(""),
    force_time: str = Form(""),
    force_staff: str = Form(""),
    day: str = Form(""),
    staff: str = Form(""),
) -> Response:
    booking = target(d, ref)
    if isinstance(booking, Response):
        return booking
    values = {"slot": slot, "when": when, "force_day": force_day, "force_time": force_time}
    values |= {"force_staff": force_staff, "day": day, "staff": staff}
    with read_session(d.site.engine) as session:
        zone = catalog.business_by_id(session, booking.business_id).timezone
    try:
        if when == "force":
            start = local_time(force_day, force_time, zone)
            staff_email = force_staff.strip().lower() or None
        else:
            start, chosen = parse_slot(slot)
            staff_email = chosen
        if not d.who.is_admin and staff_email not in (None, d.who.email):
            raise InvalidInput(N_("staff move bookings within their own calendar; ask an admin"))
    except InvalidInput as exc:
        return detail_page(d, ref, errors={"reschedule": exc.text(d.locale)}, values=values, status=400)
    try:
        view = use_cases.reschedule_booking(
            d.site.engine,
            booking.ref,
            start=start,
            staff=staff_email,
            actor=d.actor,
            now=d.now,
            **d.site.booking_kwargs(),
        )
    except (SlotUnavailable, PolicyRefused, InvalidInput, NotFound) as exc:  # NotFound: staff member
        text = exc.text(d.locale)
        if isinstance(exc, SlotUnavailable) and when == "force":
            text += ". " + gettext(d.locale, FORCE_EXPLANATION)
        code = 409 if isinstance(exc, BookingConflict | SlotUnavailable) else 400
        return detail_page(d, ref, errors={"reschedule": text}, values=values, status=code)
    d.site.wake()
    warned = "".join(f"&warning={warning.code}" for warning in view.warnings)
    return RedirectResponse(f"/admin/bookings/{booking.ref}?done=rescheduled{warned}", status_code=303)


@router.post("/admin/bookings/{ref}/cancel")
def cancel(
    ref: str,
    _: None = Depends(csrf_guard("booking:{ref}")),
    d: Desk = Depends(desk),
    reason: str = Form(""),
) -> Response:
    booking = target(d, ref)
    if isinstance(booking, Response):
        return booking
    try:
        use_cases.cancel_booking(
            d.site.engine, booking.ref, reason=reason, actor=d.actor, now=d.now, notifier=d.site.notifier
        )
    except PolicyRefused as exc:
        return detail_page(d, ref, errors={"cancel": exc.text(d.locale)}, status=409)
    d.site.wake()
    return RedirectResponse(f"/admin/bookings/{booking.ref}?done=cancelled", status_code=303)


@router.post("/admin/bookings/{ref}/resend")
def resend(
    ref: str,
    _: None = Depends(csrf_guard("booking:{ref}")),
    d: Desk = Depends(desk),
) -> Response:
    booking = target(d, ref)
    if isinstance(booking, Response):
        return booking
    problem = resend_confirmation(d, booking)
    if problem is not None:
        return detail_page(d, ref, errors={"resend": problem}, status=409)
    return RedirectResponse(f"/admin/bookings/{booking.ref}?done=resent", status_code=303)


def resend_confirmation(d: Desk, booking: Booking) -> str | None:
    """Queue the confirmation again; the reason why not, when it cannot be sent."""
    try:
        calendar_views.resend_confirmation(
            d.site.engine, booking.ref, actor=d.actor, now=d.now, notifier=d.site.notifier
        )
    except InvalidInput as exc:
        return exc.text(d.locale)
    d.site.wake()
    return None


@router.post("/admin/bookings/{ref}/customer")
def customer_address(
    ref: str,
    _: None = Depends(csrf_guard("booking:{ref}")),
    d: Desk = Depends(desk),
    email: str = Form(""),
    then: str = Form("save"),
) -> Response:
    booking = target(d, ref)
    if isinstance(booking, Response):
        return booking
    values = {"customer_email": email}
    try:
        address = normalize_email(email)
    except InvalidInput:
        return detail_page(
            d,
            ref,
            errors={
                "customer": gettext(d.locale, "“{address}” is not an email address.", address=email.strip())
            },
            values=values,
            status=400,
        )
    try:
        customers.correct_customer_address(d.site.engine, booking.ref, address, actor=d.actor, now=d.now)
    except InvalidInput as exc:  # another customer has the address
        return detail_page(d, ref, errors={"customer": exc.text(d.locale)}, values=values, status=409)
    if then == "resend":
        problem = resend_confirmation(d, booking)
        if problem is not None:
            return detail_page(d, ref, errors={"resend": problem}, status=409)
        return RedirectResponse(f"/admin/bookings/{booking.ref}?done=resent", status_code=303)
    return RedirectResponse(f"/admin/bookings/{booking.ref}?done=customer", status_code=303)
