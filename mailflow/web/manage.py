"""The manage pages of a booking's link: ``/m/{token}``, its reschedule and cancel pages, its
contact form (``POST /m/{token}/message``) and its ``.ics``.

Every route gets its booking from one dependency, ``managed_booking`` (POSTs:
``posted_booking``, which checks the CSRF token first): rate limit, token
lookup, the plain 404 page shared by unknown, expired and tampered links, and
the page's language. What a customer may do comes from ``manage_allowed``
(through the booking actions, which re-check it on every POST). GET never
changes anything.

The GET pages after the preamble only compute and render (no I/O), so they are
``async``: the dependency reads the database in the thread pool, the page is
rendered on the event loop, one thread-pool hop per request as before the split
(the GIL gives a worker thread no head start on such work). The POSTs write
through the service layer and stay plain functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mailflow import services as use_cases
from mailflow.booking.model import Actor, ActorKind
from mailflow.errors import BookingConflict, InvalidInput, NotFound, PolicyRefused, SlotUnavailable
from mailflow.i18n import gettext
from mailflow.outbound.context import BookingFacts, decide
from mailflow.outbound.entries import calendar_entry
from mailflow.outbound.formatting import display_zone
from mailflow.outbound.ics import Method, calendar_bytes
from mailflow.services import manage
from mailflow.services.common import LIMITS
from mailflow.store.engine import read_session
from mailflow.web.calendar import calendar_context
from mailflow.web.deps import Answered, Wiring, clock, wiring
from mailflow.web.forms import params_for_slot, parse_slot
from mailflow.web.i18n import error_text, page_locale, translator
from mailflow.web.render import forbidden, not_found, render, simple, too_many
from mailflow.web.security import client_ip, csrf_token, csrf_valid, request_session

if TYPE_CHECKING:
    from sqlmodel import Session

__all__ = ["Managed", "managed_booking", "posted_booking", "router"]

router = APIRouter()


# --- the preamble of every manage route ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Managed:
    """The booking a manage link opens, the language its pages speak and the zone of their times
    (the customer's, or another named with ``tz=``)."""

    token: str
    facts: BookingFacts
    locale: str
    zone: str

    @property
    def actor(self) -> Actor:
        return Actor(ActorKind.CUSTOMER_LINK, self.facts.customer.email)


def refuse_blocked(request: Request, site: Wiring) -> None:
    """``Answered`` with the 429 page for a client over its limit of unknown manage links."""
    if site.limits.token_failures.blocked(client_ip(request)):
        raise Answered(too_many(request, site))


def lookup(request: Request, token: str, now: datetime, site: Wiring, session: Session) -> Managed | None:
    """The booking of ``token`` read in ``session``; a miss counts against the client's limit."""
    facts = manage.open_manage_link(session, token, now)
    if facts is None:
        site.limits.token_failures.hit(client_ip(request))
        return None
    locale = page_locale(request, facts.business, stored=facts.customer.locale)
    return Managed(
        token, facts, locale, display_zone(request.query_params.get("tz"), facts.customer.timezone)
    )


def managed_booking(
    request: Request, token: str, site: Wiring = Depends(wiring), now: datetime = Depends(clock)
) -> Managed:
    """The booking of the manage link in the path (a dependency), or ``Answered`` (429, 404)."""
    refuse_blocked(request, site)
    with read_session(site.engine) as session:
        managed = lookup(request, token, now, site, session)
    if managed is None:
        raise Answered(not_found(request, site))
    return managed


def posted_booking(
    request: Request,
    token: str,
    csrf: str = Form(""),
    site: Wiring = Depends(wiring),
    now: datetime = Depends(clock),
) -> Managed:
    """``managed_booking`` for a POST, whose CSRF token is checked before anything else (403)."""
    if not csrf_valid(site.secret, request, csrf, "manage", token):
        raise Answered(forbidden(request, site))
    return managed_booking(request, token, site, now)


# --- the pages ----------------------------------------------------------------------------------


@router.get("/m/{token}", response_class=HTMLResponse)
async def manage_page(
    request: Request,
    managed: Managed = Depends(managed_booking),
    site: Wiring = Depends(wiring),
    now: datetime = Depends(clock),
) -> Response:
    return _manage(request, managed, site, now, sent=request.query_params.get("sent") == "1")


@router.post("/m/{token}/message", response_class=HTMLResponse)
def message_submit(
    request: Request,
    text: str = Form(""),
    managed: Managed = Depends(posted_booking),
    site: Wiring = Depends(wiring),
    now: datetime = Depends(clock),
) -> Response:
    """The contact form: the text goes to the booking's staff, then back to the manage page (PRG)."""
    if not site.limits.messages_per_ip.hit(client_ip(request)):
        return too_many(request, site)
    try:
        manage.send_customer_message(
            site.engine, managed.facts.booking.ref, text, now=now, notifier=site.notifier
        )
    except InvalidInput as exc:  # empty, too long, control characters, over the booking's hourly cap
        error = error_text(exc, managed.locale)
        return _manage(request, managed, site, now, status=400, message_error=error, message_text=text)
    site.wake()
    return RedirectResponse(f"/m/{managed.token}?lang={managed.locale}&sent=1#write", status_code=303)


@router.get("/m/{token}/booking.ics")
async def manage_ics(
    managed: Managed = Depends(managed_booking),
    site: Wiring = Depends(wiring),
    now: datetime = Depends(clock),
) -> Response:
    """The booking as a calendar file to add (METHOD:PUBLISH, no invitation to answer); a
    cancelled booking's file says STATUS:CANCELLED."""
    facts = managed.facts
    booking = facts.booking
    settings = site.notifier.builder.settings
    allowed = decide(facts, now).allowed
    manage_url = f"{settings.public_url}/m/{managed.token}?lang={managed.locale}" if allowed else None
    entry = calendar_entry(
        facts, booking, managed.locale, settings.message_domain, now, manage_url=manage_url
    )
    return Response(
        calendar_bytes(entry, Method.PUBLISH),
        media_type=f"text/calendar; charset=utf-8; method={Method.PUBLISH.value}",
        headers={"Content-Disposition": f'attachment; filename="{booking.ref}.ics"'},
    )


@router.get("/m/{token}/reschedule", response_class=HTMLResponse)
def reschedule_page(
    request: Request, token: str, site: Wiring = Depends(wiring), now: datetime = Depends(clock)
) -> Response:
    return _reschedule(request, token, site, now, message=None, status=200, params=request.query_params)


@router.post("/m/{token}/reschedule", response_class=HTMLResponse)
def reschedule_submit(
    request: Request,
    slot: str = Form(""),
    managed: Managed = Depends(posted_booking),
    site: Wiring = Depends(wiring),
    now: datetime = Depends(clock),
) -> Response:
    facts, locale, token = managed.facts, managed.locale, managed.token
    try:
        start, staff = parse_slot(slot)
        use_cases.reschedule_booking(
            site.engine,
            facts.booking.ref,
            start=start,
            staff=staff,
            actor=managed.actor,
            now=now,
            **site.booking_kwargs(),
        )
    except PolicyRefused as exc:
        return _refused(request, site, managed, exc)
    except (BookingConflict, SlotUnavailable, InvalidInput, NotFound):  # NotFound: a staff member
        back = params_for_slot(request.query_params, slot, managed.zone)
        message = gettext(locale, "just_taken")
        return _reschedule(request, token, site, now, message=message, status=409, params=back)
    return _changed(request, site, managed, "rescheduled", f"/m/{token}?lang={locale}", "back")


@router.get("/m/{token}/cancel", response_class=HTMLResponse)
async def cancel_page(
    request: Request,
    managed: Managed = Depends(managed_booking),
    site: Wiring = Depends(wiring),
    now: datetime = Depends(clock),
) -> Response:
    facts, locale, token = managed.facts, managed.locale, managed.token
    if not decide(facts, now).allowed:
        return RedirectResponse(f"/m/{token}?lang={locale}", status_code=303)
    return render(
        request,
        "cancel.html",
        locale,
        facts.business,
        view=manage.summary_of(facts, locale, managed.zone),
        token=token,
        csrf=csrf_token(site.secret, request_session(request), "manage", token),
    )


@router.post("/m/{token}/cancel", response_class=HTMLResponse)
def cancel_submit(
    request: Request,
    reason: str = Form(""),
    managed: Managed = Depends(posted_booking),
    site: Wiring = Depends(wiring),
    now: datetime = Depends(clock),
) -> Response:
    try:
        use_cases.cancel_booking(
            site.engine,
            managed.facts.booking.ref,
            reason=reason[:500] or None,
            actor=managed.actor,
            now=now,
            notifier=site.notifier,
        )
    except PolicyRefused as exc:
        return _refused(request, site, managed, exc)
    except InvalidInput as exc:  # a reason with control characters: shown next to the field
        return render(
            request,
            "cancel.html",
            managed.locale,
            managed.facts.business,
            status=400,
            switch_path=f"/m/{managed.token}/cancel",
            view=manage.summary_of(managed.facts, managed.locale, managed.zone),
            token=managed.token,
            csrf=csrf_token(site.secret, request_session(request), "manage", managed.token),
            reason_error=error_text(exc, managed.locale),
        )
    locale = managed.locale
    return _changed(request, site, managed, "cancelled", f"/book?lang={locale}", "new_booking_text")


# --- helpers ------------------------------------------------------------------------------------


def _manage(
    request: Request,
    managed: Managed,
    site: Wiring,
    now: datetime,
    *,
    status: int = 200,
    sent: bool = False,
    message_error: str | None = None,
    message_text: str = "",
) -> HTMLResponse:
    """The manage page (no I/O): the booking, what the customer may do, the contact form."""
    facts, locale = managed.facts, managed.locale
    page = manage.manage_page(facts, locale, now, managed.zone)
    return render(
        request,
        "manage.html",
        locale,
        facts.business,
        status=status,
        switch_path=f"/m/{managed.token}",  # also after the contact form's POST
        view=page.summary,
        token=managed.token,
        decision=page.decision,
        reason_text=page.reason_text,
        change_instructions=page.change_instructions,
        **_contact_form(request, site, managed),
        message_sent=sent,
        message_error=message_error,
        message_text=message_text,
    )


def _contact_form(request: Request, site: Wiring, managed: Managed) -> dict[str, str]:
    """What the contact form (``_contact_form.html``) needs: its token, CSRF token and length limit."""
    csrf = csrf_token(site.secret, request_session(request), "manage", managed.token)
    return {"contact_token": managed.token, "csrf": csrf, "message_limit": str(LIMITS["message"])}


def _reschedule(
    request: Request,
    token: str,
    site: Wiring,
    now: datetime,
    *,
    message: str | None,
    status: int,
    params: Mapping[str, str],
) -> Response:
    """The reschedule page: the preamble and the calendar in one read session."""
    refuse_blocked(request, site)
    with read_session(site.engine) as session:
        managed = lookup(request, token, now, site, session)
        if managed is None:
            return not_found(request, site)
        facts, locale = managed.facts, managed.locale
        if not decide(facts, now).allowed:
            return RedirectResponse(f"/m/{token}?lang={locale}", status_code=303)
        context = calendar_context(
            session,
            facts.business,
            facts.service,
            locale,
            f"/m/{token}/reschedule",
            zone=managed.zone,
            now=now,
            grid=site.grid,
            params=params,
            exclude_booking_id=facts.booking.booking_id,
        )
        return render(
            request,
            "reschedule.html",
            locale,
            facts.business,
            status=status,
            switch_path=f"/m/{token}/reschedule?{urlencode(dict(params))}",  # also after a POST
            view=manage.summary_of(facts, locale, managed.zone),
            token=token,
            message=message,
            csrf=csrf_token(site.secret, request_session(request), "manage", token),
            **context,
        )


def _changed(
    request: Request, site: Wiring, managed: Managed, what: str, href: str, link: str
) -> HTMLResponse:
    """The page after a successful change: wake the worker, show the booking as it is now."""
    site.wake()
    locale = managed.locale
    t = translator(locale)
    with read_session(site.engine) as session:
        facts = manage.booking_facts(session, managed.facts.booking.ref)
    return simple(
        request,
        facts.business,
        locale,
        t(f"{what}_title"),
        [t(f"{what}_text")],
        200,
        view=manage.summary_of(facts, locale, managed.zone),
        links=[{"href": href, "text": t(link)}],
        switch_path=f"/m/{managed.token}",
    )


def _refused(request: Request, site: Wiring, managed: Managed, exc: PolicyRefused) -> HTMLResponse:
    """The "not possible" page: why (with the service's cut-off), how to reach the business,
    the contact form, and the way back to the booking."""
    t = translator(managed.locale)
    lines = manage.refusal_lines(managed.facts, managed.locale, exc.reason)
    back = f"/m/{managed.token}?lang={managed.locale}"
    return simple(
        request,
        managed.facts.business,
        managed.locale,
        t("refused_title"),
        lines,
        403,
        links=[{"href": back, "text": t("back")}],
        switch_path=f"/m/{managed.token}",
        **_contact_form(request, site, managed),
    )
