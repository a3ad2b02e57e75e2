"""Customer pages: manage a booking through its link, book on the self-service page, find a booking.

Every decision about what a customer may do comes from ``manage_allowed``
(through the booking actions, which re-check it on every POST). GET never
changes anything; every POST carries a CSRF token bound to the browser session
and to what the form is about, checked before anything else. Unknown, expired
and tampered manage links get the same 404 page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlmodel import Session

from mailflow import services as use_cases
from mailflow.booking.model import Actor, ActorKind, BookingStatus, Origin
from mailflow.errors import BookingConflict, InvalidInput, NotFound, PolicyRefused, SlotUnavailable
from mailflow.outbound.context import BookingFacts, decide
from mailflow.outbound.formatting import babel_locale, format_when
from mailflow.outbound.ics import Method, calendar_bytes
from mailflow.outbound.message import calendar_entry
from mailflow.services import catalog, manage
from mailflow.store import queries
from mailflow.store.engine import read_session
from mailflow.web.i18n import PAGE_LOCALES, TEXT, page_locale, translator
from mailflow.web.security import (
    RateLimiter,
    attach_session,
    client_ip,
    csrf_token,
    csrf_valid,
    request_session,
)

if TYPE_CHECKING:
    from mailflow.bootstrap import App
    from mailflow.store.tables import Business, Service

CALENDAR_DAYS = 30
COMMON_ZONES = (
    "Europe/Berlin",
    "Europe/Vienna",
    "Europe/Zurich",
    "Europe/London",
    "Europe/Paris",
    "Europe/Madrid",
    "Europe/Rome",
    "Europe/Amsterdam",
    "Europe/Warsaw",
    "Europe/Stockholm",
    "Europe/Athens",
    "Europe/Istanbul",
    "Europe/Kyiv",
    "Europe/Moscow",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Toronto",
    "America/Sao_Paulo",
    "America/Mexico_City",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
    "Africa/Johannesburg",
    "UTC",
)

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass
class Limits:
    """The abuse limits of the customer pages (per process)."""

    token_failures: RateLimiter
    bookings_per_ip: RateLimiter
    bookings_per_email: RateLimiter
    find_per_ip: RateLimiter
    find_per_email: RateLimiter


def _now() -> datetime:
    return datetime.now(UTC)


def build_router(app: App) -> APIRouter:
    """The customer pages of ``app``."""
    router = APIRouter()
    settings = app.settings
    secret = app.secret_key
    engine = app.engine
    limits = Limits(
        token_failures=RateLimiter(settings.token_failures_per_ip, 600),
        bookings_per_ip=RateLimiter(settings.bookings_per_ip_per_hour, 3600),
        bookings_per_email=RateLimiter(settings.bookings_per_email_per_day, 86400),
        find_per_ip=RateLimiter(settings.find_booking_per_ip_per_hour, 3600),
        find_per_email=RateLimiter(settings.find_booking_per_email_per_hour, 3600),
    )

    # --- helpers -----------------------------------------------------------------

    def render(
        request: Request,
        name: str,
        locale: str,
        business: Business,
        status: int = 200,
        switch_path: str | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """Render a page; the language link points at ``switch_path`` (default: this GET page)."""
        response = HTMLResponse(status_code=status)
        attach_session(request, response)
        other = "de" if locale == "en" else "en"
        if switch_path is not None:
            lang_switch: str | None = f"{switch_path}?lang={other}"
        elif request.method == "GET":
            lang_switch = f"{request.url.path}?{urlencode({**request.query_params, 'lang': other})}"
        else:
            lang_switch = None
        body = _templates.get_template(name).render(
            _=translator(locale), locale=locale, business=business, lang_switch=lang_switch, **context
        )
        response.body = body.encode()
        response.headers["content-length"] = str(len(response.body))
        return response

    def simple(
        request: Request,
        business: Business,
        locale: str,
        title: str,
        lines: list[str],
        status: int,
        **extra: Any,
    ) -> HTMLResponse:
        return render(
            request,
            "message.html",
            locale,
            business,
            status=status,
            title=title,
            lines=lines,
            view=extra.pop("view", None),
            links=extra.pop("links", []),
            **extra,
        )

    def not_found(request: Request, locale: str | None = None) -> HTMLResponse:
        with read_session(engine) as session:
            business = catalog.default_business(session)
        lang = page_locale(locale or request.query_params.get("lang"), business.default_locale)
        t = translator(lang)
        return simple(
            request,
            business,
            lang,
            t("not_found_title"),
            [t("not_found_text")],
            404,
            switch_path="/m",  # never the requested path: the page must not echo the token
            show_find=True,
            csrf=csrf_token(secret, request_session(request), "find"),
        )

    def forbidden(request: Request) -> HTMLResponse:
        with read_session(engine) as session:
            business = catalog.default_business(session)
        lang = page_locale(request.query_params.get("lang"), business.default_locale)
        t = translator(lang)
        return simple(request, business, lang, t("forbidden_title"), [t("forbidden_text")], 403)

    def too_many(request: Request) -> HTMLResponse:
        with read_session(engine) as session:
            business = catalog.default_business(session)
        lang = page_locale(request.query_params.get("lang"), business.default_locale)
        response = simple(request, business, lang, translator(lang)("too_many"), [], 429)
        response.headers["Retry-After"] = "600"
        return response

    def lookup(request: Request, token: str, session: Session) -> BookingFacts | None:
        """The booking of ``token``, counting misses against the client's failure limit."""
        facts = manage.open_manage_link(session, token, _now())
        if facts is None:
            limits.token_failures.hit(client_ip(request))
        return facts

    def customer_actor(facts: BookingFacts) -> Actor:
        return Actor(ActorKind.CUSTOMER_LINK, facts.customer.email)

    def calendar_context(
        session: Session,
        business: Business,
        service: Service,
        locale: str,
        base_path: str,
        *,
        params: Mapping[str, str],
        exclude_booking_id: int | None = None,
    ) -> dict[str, Any]:
        """The 30-day calendar, the staff choice and the chosen day's free slots.

        ``params`` are the page's query parameters (``from``, ``day``, ``staff``),
        or after a failed POST the ones that bring the customer back to their choice.
        """
        zone = ZoneInfo(business.timezone)
        today = _now().astimezone(zone).date()
        first = max(_parse_day(params.get("from")) or today, today)
        wanted_day = _parse_day(params.get("day"))
        if wanted_day is not None and not first <= wanted_day < first + timedelta(days=CALENDAR_DAYS):
            first = max(wanted_day, today)
        last = first + timedelta(days=CALENDAR_DAYS - 1)
        members = list(queries.staff_for_service(session, service))
        staff_choice = params.get("staff", "any")
        if staff_choice != "any" and staff_choice not in {m.email for m in members}:
            staff_choice = "any"
        search: dict[str, Any] = {
            "now": _now(),
            "grid": app.grid,
            "staff_email": None if staff_choice == "any" else staff_choice,
            "exclude_booking_id": exclude_booking_id,
        }
        # The month needs only which days have a free time; the full list is for the chosen day.
        free = use_cases.find_free_days(session, business, service, day_from=first, day_to=last, **search)
        day = wanted_day if wanted_day in free else min(free, default=wanted_day or first)
        day_slots: list[use_cases.OfferedSlot] = []
        seen: set[datetime] = set()
        for slot in use_cases.find_slots(session, business, service, day_from=day, day_to=day, **search):
            if staff_choice == "any" and slot.start in seen:
                continue  # "any staff member": each time once, with the first one free then
            seen.add(slot.start)
            day_slots.append(slot)
        loc = babel_locale(locale)

        def href(**changes: str) -> str:
            query = {"lang": locale, "staff": staff_choice, "from": first.isoformat(), "day": day.isoformat()}
            query.update(changes)
            return f"{base_path}?{urlencode(query)}"

        from babel.dates import format_date, format_time

        days = [
            {
                "date": d,
                "label": format_date(d, "d MMM", locale=loc),
                "weekday": format_date(d, "EEE", locale=loc),
                "free": d in free,
                "selected": d == day,
                "href": href(day=d.isoformat()),
            }
            for d in (first + timedelta(days=i) for i in range(CALENDAR_DAYS))
        ]
        previous = first - timedelta(days=CALENDAR_DAYS)
        offered = [
            {
                "value": f"{slot.start.astimezone(UTC).isoformat()}|{slot.staff_email}",
                "time": format_time(slot.start.astimezone(zone), "short", locale=loc),
                "staff_name": slot.staff_name,
                "href": href(slot=f"{slot.start.astimezone(UTC).isoformat()}|{slot.staff_email}"),
            }
            for slot in day_slots
        ]
        return {
            "days": days,
            "day": day.isoformat(),
            "day_label": format_date(day, "full", locale=loc),
            "from_day": first.isoformat(),
            "prev_href": href(**{"from": max(previous, today).isoformat(), "day": ""})
            if first > today
            else None,
            "next_href": href(**{"from": (first + timedelta(days=CALENDAR_DAYS)).isoformat(), "day": ""}),
            "staff_options": [{"email": m.email, "name": m.name or m.email} for m in members],
            "staff_choice": staff_choice,
            "slots": offered,
        }

    # --- manage pages --------------------------------------------------------------

    @router.get("/m/{token}", response_class=HTMLResponse)
    def manage_page(request: Request, token: str) -> Response:
        if limits.token_failures.blocked(client_ip(request)):
            return too_many(request)
        with read_session(engine) as session:
            facts = lookup(request, token, session)
        if facts is None:
            return not_found(request)
        locale = page_locale(request.query_params.get("lang"), facts.customer.locale)
        page = manage.manage_page(facts, locale, _now())
        return render(
            request,
            "manage.html",
            locale,
            facts.business,
            view=page.summary,
            token=token,
            decision=page.decision,
            reason_text=page.reason_text,
            change_instructions=page.change_instructions,
        )

    @router.get("/m/{token}/booking.ics")
    def manage_ics(request: Request, token: str) -> Response:
        if limits.token_failures.blocked(client_ip(request)):
            return too_many(request)
        with read_session(engine) as session:
            facts = lookup(request, token, session)
        if facts is None:
            return not_found(request)
        booking = facts.booking
        method = Method.CANCEL if booking.status == BookingStatus.CANCELLED else Method.REQUEST
        domain = app.notifier.builder.settings.message_domain
        entry = calendar_entry(facts, booking, facts.customer.locale, domain, _now())
        data = calendar_bytes(entry, method)
        return Response(
            data,
            media_type=f"text/calendar; charset=utf-8; method={method.value}",
            headers={"Content-Disposition": f'attachment; filename="{booking.ref}.ics"'},
        )

    @router.get("/m/{token}/reschedule", response_class=HTMLResponse)
    def reschedule_page(request: Request, token: str) -> Response:
        return _reschedule(request, token, message=None, status=200, params=request.query_params)

    def _reschedule(
        request: Request, token: str, message: str | None, status: int, params: Mapping[str, str]
    ) -> Response:
        if limits.token_failures.blocked(client_ip(request)):
            return too_many(request)
        with read_session(engine) as session:
            facts = lookup(request, token, session)
            if facts is None:
                return not_found(request)
            locale = page_locale(request.query_params.get("lang"), facts.customer.locale)
            if not decide(facts, _now()).allowed:
                return RedirectResponse(f"/m/{token}?lang={locale}", status_code=303)
            view = manage.summary_of(facts, locale)
            context = calendar_context(
                session,
                facts.business,
                facts.service,
                locale,
                f"/m/{token}/reschedule",
                params=params,
                exclude_booking_id=facts.booking.booking_id,
            )
            session_id = request_session(request)
            response = render(
                request,
                "reschedule.html",
                locale,
                facts.business,
                status=status,
                view=view,
                token=token,
                message=message,
                csrf=csrf_token(secret, session_id, "manage", token),
                **context,
            )
            return response

    def posted_booking(request: Request, token: str, csrf: str) -> tuple[BookingFacts, str] | Response:
        """The booking a manage-page POST is about, or the response that refuses the POST."""
        if not csrf_valid(secret, request, csrf, "manage", token):
            return forbidden(request)
        if limits.token_failures.blocked(client_ip(request)):
            return too_many(request)
        with read_session(engine) as session:
            facts = lookup(request, token, session)
        if facts is None:
            return not_found(request)
        return facts, page_locale(request.query_params.get("lang"), facts.customer.locale)

    @router.post("/m/{token}/reschedule", response_class=HTMLResponse)
    def reschedule_submit(
        request: Request, token: str, csrf: str = Form(""), slot: str = Form("")
    ) -> Response:
        target = posted_booking(request, token, csrf)
        if isinstance(target, Response):
            return target
        facts, locale = target
        t = translator(locale)
        try:
            start, staff = _parse_slot(slot)
            use_cases.reschedule_booking(
                engine,
                facts.booking.ref,
                start=start,
                staff=staff,
                actor=customer_actor(facts),
                now=_now(),
                **app.booking_kwargs(),
            )
        except PolicyRefused as exc:
            return refused(request, facts, locale, exc)
        except (BookingConflict, SlotUnavailable, InvalidInput, NotFound):  # NotFound: a staff member
            back = _params_for_slot(request.query_params, slot, facts.business.timezone)
            return _reschedule(request, token, message=t("just_taken"), status=409, params=back)
        return changed(request, facts.booking.ref, locale, "rescheduled", f"/m/{token}?lang={locale}", "back")

    def changed(request: Request, ref: str, locale: str, what: str, href: str, link: str) -> HTMLResponse:
        """The page after a successful change: wake the worker, show the booking as it is now."""
        app.wake()
        t = translator(locale)
        with read_session(engine) as session:
            facts = manage.booking_facts(session, ref)
        view = manage.summary_of(facts, locale)
        return simple(
            request,
            facts.business,
            locale,
            t(f"{what}_title"),
            [t(f"{what}_text")],
            200,
            view=view,
            links=[{"href": href, "text": t(link)}],
        )

    def refused(request: Request, facts: BookingFacts, locale: str, exc: PolicyRefused) -> HTMLResponse:
        t = translator(locale)
        lines = manage.refusal_lines(facts, locale, exc.reason)
        return simple(request, facts.business, locale, t("refused_title"), lines, 403)

    @router.get("/m/{token}/cancel", response_class=HTMLResponse)
    def cancel_page(request: Request, token: str) -> Response:
        if limits.token_failures.blocked(client_ip(request)):
            return too_many(request)
        with read_session(engine) as session:
            facts = lookup(request, token, session)
        if facts is None:
            return not_found(request)
        locale = page_locale(request.query_params.get("lang"), facts.customer.locale)
        if not decide(facts, _now()).allowed:
            return RedirectResponse(f"/m/{token}?lang={locale}", status_code=303)
        view = manage.summary_of(facts, locale)
        session_id = request_session(request)
        response = render(
            request,
            "cancel.html",
            locale,
            facts.business,
            view=view,
            token=token,
            csrf=csrf_token(secret, session_id, "manage", token),
        )
        return response

    @router.post("/m/{token}/cancel", response_class=HTMLResponse)
    def cancel_submit(request: Request, token: str, csrf: str = Form(""), reason: str = Form("")) -> Response:
        target = posted_booking(request, token, csrf)
        if isinstance(target, Response):
            return target
        facts, locale = target
        try:
            use_cases.cancel_booking(
                engine,
                facts.booking.ref,
                reason=reason[:500] or None,
                actor=customer_actor(facts),
                now=_now(),
                notifier=app.notifier,
            )
        except PolicyRefused as exc:
            return refused(request, facts, locale, exc)
        return changed(
            request, facts.booking.ref, locale, "cancelled", f"/book?lang={locale}", "new_booking_text"
        )

    # --- find my booking -------------------------------------------------------------

    @router.get("/m", response_class=HTMLResponse)
    def find_page(request: Request) -> Response:
        with read_session(engine) as session:
            business = catalog.default_business(session)
        locale = page_locale(request.query_params.get("lang"), business.default_locale)
        t = translator(locale)
        session_id = request_session(request)
        response = simple(
            request,
            business,
            locale,
            t("find_title"),
            [t("find_text")],
            200,
            show_find=True,
            csrf=csrf_token(secret, session_id, "find"),
        )
        return response

    @router.post("/m", response_class=HTMLResponse)
    def find_submit(
        request: Request, background: BackgroundTasks, csrf: str = Form(""), email: str = Form("")
    ) -> Response:
        if not csrf_valid(secret, request, csrf, "find"):
            return forbidden(request)
        address = email.strip().lower()
        if not limits.find_per_ip.hit(client_ip(request)):
            return too_many(request)
        with read_session(engine) as session:
            business = catalog.default_business(session)
        locale = page_locale(request.query_params.get("lang"), business.default_locale)
        t = translator(locale)
        if address and limits.find_per_email.hit(address):
            # After the response: answering a known address must take no longer than an unknown one.
            background.add_task(resend_links, address)
        # The same answer whether or not the address has bookings: nothing to enumerate.
        return simple(
            request,
            business,
            locale,
            t("find_title"),
            [t("find_sent")],
            200,
            links=[{"href": f"/book?lang={locale}", "text": t("new_booking_text")}],
        )

    def resend_links(address: str) -> int:
        sent = manage.resend_links(engine, address, now=_now(), notifier=app.notifier)
        if sent:
            app.wake()
        return sent

    # --- self-service ------------------------------------------------------------------

    @router.get("/book", response_class=HTMLResponse)
    def book_index(request: Request) -> Response:
        with read_session(engine) as session:
            business = catalog.default_business(session)
            locale = page_locale(request.query_params.get("lang"), business.default_locale)
            services = catalog.active_services(session, business)
            staff = catalog.staff_offerings(session, business, services, locale)
            return render(request, "book_index.html", locale, business, services=services, staff=staff)

    def book_context(
        session: Session, business: Business, service: Service, locale: str, params: Mapping[str, str]
    ) -> dict[str, Any]:
        """The calendar and slots, or with ``slot`` in ``params`` the chosen time for the details form."""
        context = calendar_context(session, business, service, locale, f"/book/{service.slug}", params=params)
        chosen = None
        raw = params.get("slot")
        if raw:
            try:
                start, staff_email = _parse_slot(raw)
            except InvalidInput:
                start, staff_email = None, None
            if start is not None and staff_email is not None:
                member = next(
                    (m for m in queries.staff_for_service(session, service) if m.email == staff_email), None
                )
                if member is not None:
                    when = format_when(
                        start, start + timedelta(minutes=service.duration_minutes), locale, business.timezone
                    )
                    chosen = {"value": raw, "when": when.when, "staff_name": member.name or member.email}
        context["chosen"] = chosen
        query = {k: v for k, v in params.items() if k != "slot"}
        context["change_href"] = f"/book/{service.slug}?{urlencode(query)}"
        return context

    def book_form(business: Business, locale: str, **values: str) -> dict[str, Any]:
        zones = list(dict.fromkeys([business.timezone, *COMMON_ZONES]))
        chosen_zone = values.get("timezone") or business.timezone
        if chosen_zone not in zones:
            zones.insert(0, chosen_zone)
        return {
            "form": {
                "name": values.get("name", ""),
                "email": values.get("email", ""),
                "phone": values.get("phone", ""),
                "language": values.get("language") or locale,
                "timezone": chosen_zone,
            },
            "languages": [
                (code, TEXT[code]["lang_name"]) for code in PAGE_LOCALES if code in business.locales
            ],
            "timezones": zones,
        }

    @router.get("/book/{slug}", response_class=HTMLResponse)
    def book_service(request: Request, slug: str) -> Response:
        with read_session(engine) as session:
            business = catalog.default_business(session)
            locale = page_locale(request.query_params.get("lang"), business.default_locale)
            try:
                service = queries.service_by_slug(session, business, slug)
            except NotFound:
                return not_found(request, locale)
            session_id = request_session(request)
            response = render(
                request,
                "book_service.html",
                locale,
                business,
                service=service,
                message=None,
                errors=[],
                csrf=csrf_token(secret, session_id, "book", slug),
                **book_context(session, business, service, locale, request.query_params),
                **book_form(business, locale),
            )
        return response

    @router.post("/book/{slug}", response_class=HTMLResponse)
    def book_submit(
        request: Request,
        slug: str,
        csrf: str = Form(""),
        slot: str = Form(""),
        name: str = Form(""),
        email: str = Form(""),
        phone: str = Form(""),
        language: str = Form(""),
        timezone: str = Form(""),
        website: str = Form(""),
    ) -> Response:
        if not csrf_valid(secret, request, csrf, "book", slug):
            return forbidden(request)
        with read_session(engine) as session:
            business = catalog.default_business(session)
            try:
                service = queries.service_by_slug(session, business, slug)
            except NotFound:
                return not_found(request)
        locale = page_locale(request.query_params.get("lang"), business.default_locale)
        t = translator(locale)
        if website:  # the honeypot: people never see the field, bots fill it in
            return simple(request, business, locale, t("booked_title"), [], 200)
        address = email.strip().lower()
        existing = _same_booking(address, slug, slot)
        if existing is not None:  # a double submission: the first one booked it, and it counts once
            return booked(request, business, existing, address)
        if not limits.bookings_per_ip.hit(client_ip(request)) or (
            address and not limits.bookings_per_email.hit(address)
        ):
            return too_many(request)
        values = {"name": name, "email": email, "phone": phone, "language": language, "timezone": timezone}
        try:
            start, staff_email = _parse_slot(slot)
            view = use_cases.create_booking(
                engine,
                business=business.slug,
                service=slug,
                staff=staff_email,
                customer=use_cases.CustomerInput(
                    email=email, name=name, phone=phone, locale=language or locale, timezone=timezone or None
                ),
                start=start,
                origin=Origin.SELF_SERVICE,
                actor=Actor(ActorKind.CUSTOMER_LINK, address),
                now=_now(),
                public_url=settings.public_url,
                **app.booking_kwargs(),
            )
        except (BookingConflict, SlotUnavailable) as exc:
            existing = _same_booking(address, slug, slot)
            if existing is not None:  # a double submission: the first one booked it
                return booked(request, business, existing, address)
            message = t("just_taken") if isinstance(exc, BookingConflict) else str(exc)
            back = _params_for_slot(request.query_params, slot, business.timezone)
            return book_again(request, business, service, locale, message, [], values, 409, back)
        except (InvalidInput, NotFound) as exc:  # NotFound: the slot names no staff member of ours
            back = {**request.query_params, "slot": slot}
            return book_again(request, business, service, locale, None, [str(exc)], values, 400, back)
        app.wake()
        return booked(request, business, view.ref, address)

    def book_again(
        request: Request,
        business: Business,
        service: Service,
        locale: str,
        message: str | None,
        errors: list[str],
        values: dict[str, str],
        status: int,
        params: Mapping[str, str],
    ) -> HTMLResponse:
        """The booking page again after a failed POST: the form with its errors, or fresh times."""
        with read_session(engine) as session:
            session_id = request_session(request)
            context = book_context(session, business, service, locale, params)
            response = render(
                request,
                "book_service.html",
                locale,
                business,
                status=status,
                service=service,
                message=message,
                errors=errors,
                csrf=csrf_token(secret, session_id, "book", service.slug),
                **context,
                **book_form(business, locale, **values),
            )
        return response

    def _same_booking(address: str, slug: str, slot: str) -> str | None:
        try:
            start, staff_email = _parse_slot(slot)
        except InvalidInput:
            return None
        with read_session(engine) as session:
            return catalog.confirmed_booking_ref(
                session, customer_email=address, service_slug=slug, staff_email=staff_email, start=start
            )

    def booked(request: Request, business: Business, ref: str, address: str) -> HTMLResponse:
        with read_session(engine) as session:
            facts = manage.booking_facts(session, ref)
        locale = page_locale(request.query_params.get("lang"), facts.customer.locale)
        view = manage.summary_of(facts, locale)
        t = translator(locale)
        return simple(
            request,
            business,
            locale,
            t("booked_title"),
            [f"{t('booked_text')} {address}."],
            200,
            view=view,
            links=[{"href": f"/book?lang={locale}", "text": t("new_booking_text")}],
        )

    return router


def _params_for_slot(query: Mapping[str, str], slot: str, timezone: str) -> dict[str, str]:
    """Query parameters that show the day and staff member of a posted ``slot`` again."""
    params = {key: value for key, value in query.items() if key != "slot"}
    try:
        start, staff = _parse_slot(slot)
    except InvalidInput:
        return params
    params["day"] = start.astimezone(ZoneInfo(timezone)).date().isoformat()
    params["staff"] = params.get("staff") or staff
    return params


def _parse_day(value: str | None) -> date | None:
    """``2026-03-03`` -> that date; None for no date, a malformed one or one outside the calendar."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    return day if use_cases.in_calendar(day) else None


def _parse_slot(value: str) -> tuple[datetime, str]:
    """``2026-03-03T09:00:00+00:00|bob@contoso.example`` -> (aware start, staff email)."""
    start_text, _, staff = value.partition("|")
    try:
        start = datetime.fromisoformat(start_text)
    except ValueError:
        raise InvalidInput("choose a time from the list") from None
    if start.tzinfo is None or not staff or not use_cases.in_calendar(start.date()):
        raise InvalidInput("choose a time from the list")
    return start, staff
