"""Self-service booking: ``/book`` (services and staff) and ``/book/{slug}`` (calendar, times, details).

Every POST carries a CSRF token bound to the browser session and the service.
A double submission books once; the limits per client and per address apply
to new bookings only; a honeypot field turns bots away quietly.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from mailflow import services as use_cases
from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.errors import BookingConflict, InvalidInput, NotFound, SlotUnavailable
from mailflow.outbound.formatting import display_zone, format_when, in_person, venue_time
from mailflow.services import catalog, manage
from mailflow.services.common import LIMITS
from mailflow.store import queries
from mailflow.store.engine import read_session
from mailflow.web.calendar import calendar_context, zone_choices
from mailflow.web.deps import Wiring, clock, wiring
from mailflow.web.forms import params_for_slot, parse_slot
from mailflow.web.i18n import error_text, language_name, offered_languages, page_locale, translator
from mailflow.web.render import forbidden, not_found, render, simple, too_many
from mailflow.web.security import client_ip, csrf_token, csrf_valid, request_session

if TYPE_CHECKING:
    from mailflow.store.tables import Business, Service

__all__ = ["router"]

FORM_FIELDS = ("name", "email", "phone", "note")
"""The customer's fields of the booking form: a problem with one is shown next to it."""

router = APIRouter()


@router.get("/book", response_class=HTMLResponse)
def book_index(request: Request, site: Wiring = Depends(wiring)) -> Response:
    with read_session(site.engine) as session:
        business = catalog.default_business(session)
        locale = page_locale(request, business)
        services = catalog.active_services(session, business)
        staff = catalog.staff_offerings(session, business, services, locale)
        return render(request, "book_index.html", locale, business, services=services, staff=staff)


@router.get("/book/{slug}", response_class=HTMLResponse)
def book_service(
    request: Request, slug: str, site: Wiring = Depends(wiring), now: datetime = Depends(clock)
) -> Response:
    with read_session(site.engine) as session:
        business = catalog.default_business(session)
        locale = page_locale(request, business)
        try:
            service = queries.service_by_slug(session, business, slug)
        except NotFound:
            return not_found(request, site, locale)
        zone = display_zone(request.query_params.get("tz"), business.timezone)
        return render(
            request,
            "book_service.html",
            locale,
            business,
            service=service,
            message=None,
            errors=[],
            csrf=csrf_token(site.secret, request_session(request), "book", slug),
            **_book_context(session, site, now, business, service, locale, zone, request.query_params),
            **_book_form(business, locale, timezone=zone),
        )


@router.post("/book/{slug}", response_class=HTMLResponse)
def book_submit(
    request: Request,
    slug: str,
    csrf: str = Form(""),
    slot: str = Form(""),
    name: str = Form(""),
    email: str = Form(""),
    phone: str = Form(""),
    note: str = Form(""),
    language: str = Form(""),
    timezone: str = Form(""),
    website: str = Form(""),
    site: Wiring = Depends(wiring),
    now: datetime = Depends(clock),
) -> Response:
    if not csrf_valid(site.secret, request, csrf, "book", slug):
        return forbidden(request, site)
    with read_session(site.engine) as session:
        business = catalog.default_business(session)
        try:
            service = queries.service_by_slug(session, business, slug)
        except NotFound:
            return not_found(request, site)
    locale = page_locale(request, business)
    t = translator(locale)
    if website:  # the honeypot: people never see the field, bots fill it in
        return simple(request, business, locale, t("booked_title"), [], 200, switch_path="/book")
    address = email.strip().lower()
    existing = _same_booking(site, address, slug, slot)
    if existing is not None:  # a double submission: the first one booked it, and it counts once
        return _booked(request, site, business, existing, address)
    limits = site.limits
    if not limits.bookings_per_ip.hit(client_ip(request)) or (
        address and not limits.bookings_per_email.hit(address)
    ):
        return too_many(request, site)
    values = {"name": name, "email": email, "phone": phone, "note": note}
    values |= {"language": language, "timezone": timezone}
    # The zone the page was shown in (``tz`` of the form's address), else the one the form names.
    zone = display_zone(request.query_params.get("tz"), display_zone(timezone, business.timezone))
    try:
        start, staff_email = parse_slot(slot)
        view = use_cases.create_booking(
            site.engine,
            business=business.slug,
            service=slug,
            staff=staff_email,
            customer=use_cases.CustomerInput(
                email=email, name=name, phone=phone, locale=language or locale, timezone=timezone or None
            ),
            start=start,
            origin=Origin.SELF_SERVICE,
            actor=Actor(ActorKind.CUSTOMER_SELF_SERVICE, address),
            now=now,
            public_url=site.settings.public_url,
            note=note,
            **site.booking_kwargs(),
        )
    except (BookingConflict, SlotUnavailable) as exc:
        existing = _same_booking(site, address, slug, slot)
        if existing is not None:  # a double submission: the first one booked it
            return _booked(request, site, business, existing, address)
        message = t("just_taken") if isinstance(exc, BookingConflict) else error_text(exc, locale)
        back = params_for_slot(request.query_params, slot, zone)
        return _book_again(
            request, site, now, business, service, locale, zone, message, [], values, 409, back
        )
    except (InvalidInput, NotFound) as exc:  # NotFound: the slot names no staff member of ours
        back = {**request.query_params, "slot": slot}
        field = (exc.field or "").removeprefix("customer.") if isinstance(exc, InvalidInput) else ""
        text = error_text(exc, locale)
        # A problem with one of the customer's fields is shown next to it, any other above the form.
        beside = {field: text} if field in FORM_FIELDS else {}
        return _book_again(
            request, site, now, business, service, locale, zone, None, [] if beside else [text], values, 400,
            back, field_errors=beside,
        )  # fmt: skip
    site.wake()
    return _booked(request, site, business, view.ref, address)


# --- helpers ------------------------------------------------------------------------------------


def _book_context(
    session: Session,
    site: Wiring,
    now: datetime,
    business: Business,
    service: Service,
    locale: str,
    zone: str,
    params: Mapping[str, str],
) -> dict[str, Any]:
    """The calendar and slots in ``zone``, or with ``slot`` in ``params`` the chosen time for the
    details form."""
    context = calendar_context(
        session,
        business,
        service,
        locale,
        f"/book/{service.slug}",
        zone=zone,
        now=now,
        grid=site.grid,
        params=params,
    )
    chosen = None
    raw = params.get("slot")
    if raw:
        try:
            start, staff_email = parse_slot(raw)
        except InvalidInput:
            start, staff_email = None, None
        if start is not None and staff_email is not None:
            member = next(
                (m for m in queries.staff_for_service(session, service) if m.email == staff_email), None
            )
            if member is not None:
                when = format_when(start, start + timedelta(minutes=service.duration_minutes), locale, zone)
                at_venue = in_person(service.location)
                venue = venue_time(start, zone, business.timezone, locale) if at_venue else ""
                chosen = {
                    "value": raw,
                    "when": when.when,
                    "venue": venue,
                    "staff_name": member.name or member.email,
                }
    context["chosen"] = chosen
    query = {k: v for k, v in params.items() if k != "slot"} | {"lang": locale}
    context["change_href"] = f"/book/{service.slug}?{urlencode(query)}"
    return context


def _book_form(business: Business, locale: str, **values: str) -> dict[str, Any]:
    """The details form's values; its time zone is the page's (``timezone``), stored for the customer."""
    chosen_zone = values.get("timezone") or business.timezone
    zones = zone_choices(business.timezone, chosen_zone)
    return {
        "form": {
            "name": values.get("name", ""),
            "email": values.get("email", ""),
            "phone": values.get("phone", ""),
            "note": values.get("note", ""),
            "note_limit": LIMITS["note"],
            "language": values.get("language") or locale,
            "timezone": chosen_zone,
        },
        "languages": [(code, language_name(code)) for code in offered_languages(business)],
        "timezones": zones,
    }


def _book_again(
    request: Request,
    site: Wiring,
    now: datetime,
    business: Business,
    service: Service,
    locale: str,
    zone: str,
    message: str | None,
    errors: list[str],
    values: dict[str, str],
    status: int,
    params: Mapping[str, str],
    field_errors: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """The booking page again after a failed POST: the form with its errors (``field_errors``
    next to their fields: ``name``, ``email``, ``phone``, ``note``), or fresh times."""
    with read_session(site.engine) as session:
        return render(
            request,
            "book_service.html",
            locale,
            business,
            status=status,
            switch_path=f"/book/{service.slug}?{urlencode(params)}",  # the page behind the POST
            service=service,
            message=message,
            errors=errors,
            field_errors=field_errors or {},
            csrf=csrf_token(site.secret, request_session(request), "book", service.slug),
            **_book_context(session, site, now, business, service, locale, zone, params),
            **_book_form(business, locale, **{**values, "timezone": values.get("timezone") or zone}),
        )


def _same_booking(site: Wiring, address: str, slug: str, slot: str) -> str | None:
    try:
        start, staff_email = parse_slot(slot)
    except InvalidInput:
        return None
    with read_session(site.engine) as session:
        return catalog.confirmed_booking_ref(
            session, customer_email=address, service_slug=slug, staff_email=staff_email, start=start
        )


def _booked(request: Request, site: Wiring, business: Business, ref: str, address: str) -> HTMLResponse:
    with read_session(site.engine) as session:
        facts = manage.booking_facts(session, ref)
    locale = page_locale(request, business, stored=facts.customer.locale)
    t = translator(locale)
    return simple(
        request,
        business,
        locale,
        t("booked_title"),
        [t("booked_text") + f" {address}."],
        200,
        view=manage.summary_of(facts, locale),
        links=[{"href": f"/book?lang={locale}", "text": t("new_booking_text")}],
        switch_path="/book",  # the booking itself is in the confirmation email, with its link
    )
