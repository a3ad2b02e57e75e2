"""The team (admins only) at ``/admin/staff``: add, edit, deactivate; weekly hours; time off.

Everything is parsed here and done by ``mailflow.services.staff``. Weekly hours
are one text field per weekday (``09:00-12:00, 13:00-17:00``; empty for a day
off); time off is entered as local date-times in the staff member's time zone.
Deactivating someone or entering time off over confirmed bookings lists those
bookings, each linking to its page, so they can be moved.

The routes are in path order: ``POST /admin/staff/invite`` comes before the
pages of one member (``/admin/staff/{email}``), which would take it otherwise.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from babel.dates import get_day_names
from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response

from mailflow.errors import InvalidInput, NotFound
from mailflow.i18n import N_, gettext
from mailflow.services import account_links, accounts
from mailflow.services.bookings import BookingView
from mailflow.services.business import business_slug, get_business
from mailflow.services.calendar_feed import feed_created_at
from mailflow.services.common import normalize_email
from mailflow.services.staff import (
    DAYS,
    StaffView,
    add_staff,
    deactivate_staff,
    get_staff,
    list_staff,
    parse_periods,
    set_hours,
    update_staff,
)
from mailflow.services.staff_calendars import CalendarView, list_calendars
from mailflow.services.time_off import TimeOffView, add_time_off, list_time_off, remove_time_off
from mailflow.web.admin import Desk, admin_desk, csrf_guard
from mailflow.web.admin.forms import FormState, affected_rows, local_text, posted
from mailflow.web.admin.setup import LANGUAGE_NAMES, time_zones

__all__ = ["day_names", "format_periods", "member_page", "no_such", "router"]

MEMBER_FIELDS = ("email", "name", "role", "locale", "timezone")
LOCAL_INPUT = "%Y-%m-%dT%H:%M"

router = APIRouter()


def day_names(locale: str, width: Literal["abbreviated", "wide"] = "wide") -> dict[str, str]:
    """``{"mon": "Monday", …}`` in ``locale`` (``width`` "abbreviated": "Mon", "Mo.")."""
    names = get_day_names(width, locale=locale)  # 0 is Monday, as in DAYS
    return {day: str(names[number]) for number, day in enumerate(DAYS)}


def format_periods(periods: list[list[str]]) -> str:
    """``[["09:00", "12:00"], ["13:00", "17:00"]]`` -> ``"09:00-12:00, 13:00-17:00"``."""
    return ", ".join(f"{start}-{end}" for start, end in periods)


def member_values(member: StaffView) -> dict[str, Any]:
    return {name: getattr(member, name) for name in MEMBER_FIELDS}


def hours_values(member: StaffView) -> dict[str, Any]:
    return {day: format_periods(member.hours.get(day, [])) for day in DAYS}


def parse_local(text: str, field: str) -> datetime:
    """A ``datetime-local`` value (``2025-03-01T09:00``), without an offset."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            N_("{text!r} is not a date and time such as 2025-03-01 09:00"), text=text.strip(), field=field
        ) from None
    if value.tzinfo is not None:
        raise InvalidInput(N_("give the local time without an offset"), field=field)
    return value


def time_off_rows(rows: list[TimeOffView], locale: str) -> list[dict[str, Any]]:
    return [
        {
            "id": row.id,
            "start": local_text(row.start, row.timezone, locale),
            "end": local_text(row.end, row.timezone, locale),
            "reason": row.reason,
        }
        for row in rows
    ]


def no_such(d: Desk, what: str) -> Response:
    """404 for a member or a time off that is not there (``what`` is a catalog text)."""
    return Response(f"{gettext(d.locale, what)}\n", status_code=404, media_type="text/plain")


def saved_notice(d: Desk, saved: str | None, email: str) -> str | None:
    """What ``?saved=`` on a member's page says."""
    if saved == "added":
        return gettext(d.locale, "{email} is added: enter their working hours.", email=email)
    return gettext(d.locale, "Saved.") if saved else None


def team_page(
    d: Desk,
    form: FormState | None = None,
    status: int = 200,
    *,
    notice: str | None = None,
    invite_error: str | None = None,
    invite_values: dict[str, str] | None = None,
) -> Response:
    slug = business_slug(d.site.engine, d.who.business_id)
    business = get_business(d.site.engine, slug)
    form = form or FormState({"email": "", "name": "", "role": "staff", "locale": "", "timezone": ""})
    invited = {
        member.email for member in accounts.team(d.site.engine, d.who.business_id, d.now) if member.invited
    }
    return d.render(
        "team.html",
        status=status,
        team=list_staff(d.site.engine, slug),
        invited=invited,
        notice=notice,
        invite_error=invite_error,
        invite_values=invite_values or {"email": "", "name": ""},
        form=form,
        languages=[(code, LANGUAGE_NAMES.get(code, code)) for code in business.locales],
        business_timezone=business.timezone,
        zones=time_zones(),
        day_names=day_names(d.locale, "abbreviated"),
        invite_days=account_links.INVITE_LIFETIME.days,
        format_periods=format_periods,
        csrf=d.csrf("staff"),
        invite_csrf=d.csrf("invite"),
    )


@router.get("/admin/staff")
def team(d: Desk = Depends(admin_desk)) -> Response:
    return team_page(d)


@router.post("/admin/staff")
def add(
    _: None = Depends(csrf_guard("staff")),
    d: Desk = Depends(admin_desk),
    form: dict[str, Any] = Depends(posted),
) -> Response:
    state = FormState({name: str(form.get(name, "")) for name in MEMBER_FIELDS})
    v = state.values
    try:
        member = add_staff(
            d.site.engine,
            business_slug(d.site.engine, d.who.business_id),
            email=v["email"],
            name=v["name"],
            role=v["role"] or "staff",
            locale=v["locale"] or None,
            timezone=v["timezone"].strip() or None,
            actor=d.actor,
            now=d.now,
        )
    except InvalidInput as exc:
        return team_page(d, state.fail(exc, "email", locale=d.locale), status=400)
    return RedirectResponse(f"/admin/staff/{member.email}?saved=added#hours", status_code=303)


@router.post("/admin/staff/invite")
def invite(
    _: None = Depends(csrf_guard("invite")),
    d: Desk = Depends(admin_desk),
    form: dict[str, Any] = Depends(posted),
) -> Response:
    """Create the staff member if needed and email them a link to choose a password."""
    values = {name: str(form.get(name, "")) for name in ("email", "name", "role")}
    try:
        address = normalize_email(values["email"], field="email")
    except InvalidInput:
        problem = gettext(d.locale, "“{address}” is not an email address.", address=values["email"].strip())
        return team_page(d, status=400, invite_error=problem, invite_values=values)
    try:
        account_links.invite_staff(
            d.site.engine,
            d.who.business_id,
            address,
            name=values["name"],
            role=values["role"] or "staff",
            inviter=d.who.name or d.who.email,
            public_url=d.site.settings.public_url,
            message_domain=d.site.notifier.builder.settings.message_domain,
            actor=d.actor,
            now=d.now,
        )
    except InvalidInput as exc:
        return team_page(d, status=400, invite_error=exc.text(d.locale), invite_values=values)
    d.site.wake()
    return team_page(d, notice=gettext(d.locale, "Invitation sent to {address}.", address=address))


def member_page(
    d: Desk,
    email: str,
    *,
    forms: dict[str, FormState] | None = None,
    affected: list[BookingView] | None = None,
    affected_heading: str = "",
    notice: str | None = None,
    status: int = 200,
    feed_url: str | None = None,
) -> Response:
    """One member's page; ``feed_url`` is a calendar feed URL just made (shown this once)."""
    forms = forms or {}
    slug = business_slug(d.site.engine, d.who.business_id)
    try:
        member = get_staff(d.site.engine, slug, email)
    except NotFound:
        return no_such(d, N_("No such staff member."))
    business = get_business(d.site.engine, slug)
    saved = d.request.query_params.get("saved")
    return d.render(
        "staff_member.html",
        status=status,
        member=member,
        details=forms.get("details") or FormState(member_values(member)),
        hours=forms.get("hours") or FormState(hours_values(member)),
        time_off_form=forms.get("time_off") or FormState({"from": "", "to": "", "reason": ""}),
        time_off=time_off_rows(list_time_off(d.site.engine, slug, member.email), d.locale),
        affected=affected_rows(affected or [], d.locale),
        affected_heading=affected_heading,
        notice=notice or saved_notice(d, saved, member.email),
        languages=[(code, LANGUAGE_NAMES.get(code, code)) for code in business.locales],
        zones=time_zones(),
        days=list(day_names(d.locale).items()),
        csrf=d.csrf("staff"),
        feed_url=feed_url,
        feed_created=_local_or_none(feed_created_at(d.site.engine, slug, member.email), member, d.locale),
        calendars=calendar_rows(list_calendars(d.site.engine, slug, member.email), member, d.locale),
        calendar_form=forms.get("calendar") or FormState({"url": "", "username": "", "password": ""}),
    )


def _local_or_none(moment: datetime | None, member: StaffView, locale: str) -> str | None:
    return None if moment is None else local_text(moment, member.timezone, locale)


def calendar_rows(rows: list[CalendarView], member: StaffView, locale: str) -> list[dict[str, Any]]:
    """The member's external calendars as the page shows them: the last sync and error in their zone."""
    return [
        {
            "id": row.id,
            "kind": row.kind,
            "url": row.display_url,
            "username": row.username,
            "last_success": _local_or_none(row.last_success_at, member, locale),
            "last_attempt": _local_or_none(row.last_attempt_at, member, locale),
            "last_error": row.last_error,
            "busy_count": row.busy_count,
        }
        for row in rows
    ]


@router.get("/admin/staff/{email}")
def member(email: str, d: Desk = Depends(admin_desk)) -> Response:
    return member_page(d, email)


@router.post("/admin/staff/{email}")
def edit(
    email: str,
    _: None = Depends(csrf_guard("staff")),
    d: Desk = Depends(admin_desk),
    form: dict[str, Any] = Depends(posted),
) -> Response:
    state = FormState({"email": email} | {name: str(form.get(name, "")) for name in MEMBER_FIELDS[1:]})
    changes = {name: state.values[name] for name in MEMBER_FIELDS[1:]}
    try:
        update_staff(
            d.site.engine,
            business_slug(d.site.engine, d.who.business_id),
            email,
            changes,
            actor=d.actor,
            now=d.now,
        )
    except NotFound:
        return no_such(d, N_("No such staff member."))
    except InvalidInput as exc:
        return member_page(d, email, forms={"details": state.fail(exc, "name", locale=d.locale)}, status=400)
    return RedirectResponse(f"/admin/staff/{email}?saved=details", status_code=303)


@router.post("/admin/staff/{email}/deactivate")
def deactivate(
    email: str,
    _: None = Depends(csrf_guard("staff")),
    d: Desk = Depends(admin_desk),
    form: dict[str, Any] = Depends(posted),
) -> Response:
    slug = business_slug(d.site.engine, d.who.business_id)
    try:
        if form.get("reactivate"):
            update_staff(d.site.engine, slug, email, {"active": True}, actor=d.actor, now=d.now)
            return RedirectResponse(f"/admin/staff/{email}?saved=active", status_code=303)
        changed = deactivate_staff(d.site.engine, slug, email, actor=d.actor, now=d.now)
    except NotFound:
        return no_such(d, N_("No such staff member."))
    except InvalidInput as exc:
        return member_page(d, email, notice=exc.text(d.locale), status=400)
    return member_page(
        d,
        email,
        affected=changed.affected,
        affected_heading=gettext(
            d.locale,
            "These confirmed bookings fall in {email}'s calendar, who is now inactive: move them",
            email=email,
        ),
        notice=gettext(d.locale, "{email} is inactive: no new bookings, no sign-in.", email=email),
    )


@router.post("/admin/staff/{email}/hours")
def hours(
    email: str,
    _: None = Depends(csrf_guard("staff")),
    d: Desk = Depends(admin_desk),
    form: dict[str, Any] = Depends(posted),
) -> Response:
    state = FormState({day: str(form.get(day, "")) for day in DAYS})
    weekly: dict[str, list[list[str]]] = {}
    for day in DAYS:
        try:
            weekly[day] = parse_periods(state.values[day], f"hours.{day}")
        except InvalidInput as exc:
            state.errors[day] = exc.text(d.locale)
    if not state.errors:
        try:
            set_hours(
                d.site.engine,
                business_slug(d.site.engine, d.who.business_id),
                email,
                weekly,
                actor=d.actor,
                now=d.now,
            )
        except NotFound:
            return no_such(d, N_("No such staff member."))
        except InvalidInput as exc:
            state.fail(exc, "mon", {f"hours.{day}": day for day in DAYS}, locale=d.locale)
    if state.errors:
        return member_page(d, email, forms={"hours": state}, status=400)
    return RedirectResponse(f"/admin/staff/{email}?saved=hours#hours", status_code=303)


@router.post("/admin/staff/{email}/time-off")
def time_off(
    email: str,
    _: None = Depends(csrf_guard("staff")),
    d: Desk = Depends(admin_desk),
    form: dict[str, Any] = Depends(posted),
) -> Response:
    state = FormState({name: str(form.get(name, "")) for name in ("from", "to", "reason")})
    try:
        start = parse_local(state.values["from"], "from")
        end = parse_local(state.values["to"], "to")
        changed = add_time_off(
            d.site.engine,
            business_slug(d.site.engine, d.who.business_id),
            email,
            start=start,
            end=end,
            reason=state.values["reason"],
            actor=d.actor,
            now=d.now,
        )
    except NotFound:
        return no_such(d, N_("No such staff member."))
    except InvalidInput as exc:
        return member_page(d, email, forms={"time_off": state.fail(exc, "from", locale=d.locale)}, status=400)
    return member_page(
        d,
        email,
        affected=changed.affected,
        affected_heading=gettext(d.locale, "These confirmed bookings fall in the time off: move them"),
        notice=gettext(d.locale, "The time off is saved."),
    )


@router.post("/admin/staff/{email}/time-off/{time_off_id}/remove")
def remove(
    email: str,
    time_off_id: int,
    _: None = Depends(csrf_guard("staff")),
    d: Desk = Depends(admin_desk),
) -> Response:
    try:
        remove_time_off(
            d.site.engine,
            business_slug(d.site.engine, d.who.business_id),
            time_off_id,
            staff=email,
            actor=d.actor,
            now=d.now,
        )
    except NotFound:
        return no_such(d, N_("No such time off."))
    return RedirectResponse(f"/admin/staff/{email}?saved=time-off#time-off", status_code=303)
