"""The staff calendar at ``/admin/bookings``: list, day view, booking on a customer's behalf.

One booking's page and its changes are in ``booking.py``; both take the
signed-in member and the time from the ``desk`` dependency here.

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

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from mailflow import auth
from mailflow import services as use_cases
from mailflow.booking.model import Origin
from mailflow.errors import InvalidInput, NotFound, SlotUnavailable
from mailflow.i18n import N_, gettext, ngettext
from mailflow.services import calendar as calendar_views
from mailflow.services import catalog, normalize_email
from mailflow.services.calendar import Row
from mailflow.store import queries
from mailflow.store.engine import read_session
from mailflow.web.admin import Desk, csrf_guard, desk
from mailflow.web.forms import local_time, parse_day, parse_slot

if TYPE_CHECKING:
    from mailflow.store.tables import Business, Service, Staff

__all__ = ["DEFAULT_RANGE_DAYS", "FORCE_EXPLANATION", "bookable_staff", "router", "slots_for"]

DEFAULT_RANGE_DAYS = 14
MAX_RANGE_DAYS = 366
FORCE_EXPLANATION = N_(
    "A time you type here need not be on the customers' booking grid and may be at short notice, "
    "but it must still be free: within the staff member's working hours, outside time off and "
    "closures, and not over another booking. Double bookings cannot be forced."
)


router = APIRouter()


# --- list and day view ------------------------------------------------------------


@router.get("/admin/bookings")
def calendar(d: Desk = Depends(desk)) -> Response:
    params = d.request.query_params
    with read_session(d.site.engine) as session:
        zone = catalog.business_by_id(session, d.who.business_id).timezone
        today = d.now.astimezone(ZoneInfo(zone)).date()
        view = "day" if params.get("view") == "day" else "list"
        problems = []
        if view == "day":
            first = parse_day(params.get("day")) or today
            last = first
        else:
            first = parse_day(params.get("from")) or today
            last = parse_day(params.get("to")) or first + timedelta(days=DEFAULT_RANGE_DAYS - 1)
            if last < first:
                problems.append(
                    gettext(d.locale, "The end date was before the start date; showing the start date only.")
                )
                last = first
            if (last - first).days >= MAX_RANGE_DAYS:
                problems.append(
                    ngettext(
                        d.locale,
                        "At most {n} day at once; the range was shortened.",
                        "At most {n} days at once; the range was shortened.",
                        MAX_RANGE_DAYS,
                    )
                )
                last = first + timedelta(days=MAX_RANGE_DAYS - 1)
        rows = calendar_views.bookings_between(
            session,
            business_id=d.who.business_id,
            staff_id=d.own_staff_id,
            first=first,
            last=last,
            zone=zone,
        )
        columns: dict[str, list[Row]] = {}
        if view == "day":
            for name in calendar_views.day_columns(
                session, business_id=d.who.business_id, staff_id=d.own_staff_id
            ):
                columns[name] = []
            for row in rows:
                columns.setdefault(row.staff, []).append(row)
    return d.render(
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
        everyone=d.who.is_admin,
    )


# --- booking on a customer's behalf ----------------------------------------------


def slots_for(
    d: Desk,
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
        now=d.now,
        grid=d.site.grid,
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
    d: Desk,
    values: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    status: int = 200,
) -> Response:
    with read_session(d.site.engine) as session:
        business = catalog.business_by_id(session, d.who.business_id)
        services = catalog.active_services(session, business)
        chosen = next((s for s in services if s.slug == values.get("service")), None)
        if chosen is None and services:
            chosen = services[0]
        members = bookable_staff(session, d.who, chosen)
        if not d.who.is_admin and values.get("staff") != d.who.email:
            values["staff"] = d.who.email
        staff_email = values.get("staff", "")
        if staff_email and staff_email not in {m.email for m in members}:
            staff_email = ""
        day = parse_day(values.get("day"))
        slots = slots_for(d, session, business, chosen, day, staff_email)
        return d.render(
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
            force_explanation=gettext(d.locale, FORCE_EXPLANATION),
            csrf=d.csrf("booking-new"),
            everyone=d.who.is_admin,
        )


@router.get("/admin/bookings/new")
def new_form(d: Desk = Depends(desk)) -> Response:
    params = d.request.query_params
    with read_session(d.site.engine) as session:
        zone = catalog.business_by_id(session, d.who.business_id).timezone
    today = d.now.astimezone(ZoneInfo(zone)).date()
    values = {
        "service": params.get("service", ""),
        "staff": params.get("staff", ""),
        "day": params.get("day", "") or today.isoformat(),
    }
    return new_page(d, values)


@router.post("/admin/bookings/new")
def new_submit(
    _: None = Depends(csrf_guard("booking-new")),
    d: Desk = Depends(desk),
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
    with read_session(d.site.engine) as session:
        business = catalog.business_by_id(session, d.who.business_id)
        zone, business_slug = business.timezone, business.slug
    start: datetime | None = None
    staff_email = ""
    try:
        if when == "force":
            start = local_time(force_day, force_time, zone)
            staff_email = force_staff.strip().lower()
            if not staff_email:
                raise InvalidInput(N_("choose the staff member"))
        else:
            start, staff_email = parse_slot(slot)
    except InvalidInput as exc:
        errors["when"] = exc.text(d.locale)
    if not d.who.is_admin and staff_email and staff_email != d.who.email:
        errors["when"] = gettext(d.locale, "staff book for themselves; ask an admin to book for someone else")
    if not name.strip():
        errors["name"] = gettext(d.locale, "enter the customer's name")
    try:
        normalize_email(email)
    except InvalidInput:
        errors["email"] = gettext(d.locale, "enter the customer's email address")
    if errors or start is None:
        return new_page(d, values, errors=errors, status=400)
    try:
        view = use_cases.create_booking(
            d.site.engine,
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
            actor=d.actor,
            now=d.now,
            public_url=d.site.settings.public_url,
            **d.site.booking_kwargs(),
        )
    except (SlotUnavailable, NotFound) as exc:
        message = exc.text(d.locale)
        if isinstance(exc, SlotUnavailable) and when == "force":
            message += ". " + gettext(d.locale, FORCE_EXPLANATION)
        return new_page(d, values, message=message, status=409)
    except InvalidInput as exc:
        field = (exc.field or "").removeprefix("customer.")
        if field in {"name", "email"}:  # the message next to its field
            return new_page(d, values, errors={field: exc.text(d.locale)}, status=400)
        return new_page(d, values, message=exc.text(d.locale), status=400)
    d.site.wake()
    warned = "".join(f"&warning={warning.code}" for warning in view.warnings)
    return RedirectResponse(f"/admin/bookings/{view.ref}?done=created{warned}", status_code=303)
