"""A staff member's calendars on their admin page (issue 19): the private feed out, their own
calendars in.

The feed URL is shown once, when made (only its hash is kept); making a new one ends the old.
A calendar added here is synced at once, after the answer is sent (a slow calendar never holds
the page); "Sync now" fetches every calendar of the member while the admin waits (each
within the fetch timeout).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, Depends
from fastapi.responses import RedirectResponse, Response

from mailflow.errors import InvalidInput, NotFound
from mailflow.i18n import N_, gettext
from mailflow.services.business import business_slug
from mailflow.services.calendar_feed import new_feed_url
from mailflow.services.staff_calendars import add_calendar, remove_calendar, sync_calendar, sync_calendars
from mailflow.web.admin import Desk, admin_desk, csrf_guard
from mailflow.web.admin.forms import FormState, posted
from mailflow.web.admin.staff import member_page, no_such

__all__ = ["router"]

router = APIRouter()
CALENDAR_FIELDS = ("url", "username", "password")


@router.post("/admin/staff/{email}/calendar-feed")
def feed(email: str, _: None = Depends(csrf_guard("staff")), d: Desk = Depends(admin_desk)) -> Response:
    """A new private feed URL for the member, shown once; the previous one stops working."""
    try:
        url = new_feed_url(
            d.site.engine,
            business_slug(d.site.engine, d.who.business_id),
            email,
            public_url=d.site.settings.public_url,
            actor=d.actor,
            now=d.now,
        )
    except NotFound:
        return no_such(d, N_("No such staff member."))
    notice = gettext(d.locale, "A new calendar feed URL is made; the previous one no longer works.")
    return member_page(d, email, feed_url=url, notice=notice)


@router.post("/admin/staff/{email}/calendars")
def add(
    email: str,
    tasks: BackgroundTasks,
    _: None = Depends(csrf_guard("staff")),
    d: Desk = Depends(admin_desk),
    form: dict[str, Any] = Depends(posted),
) -> Response:
    state = FormState({name: str(form.get(name, "")) for name in CALENDAR_FIELDS})
    values = state.values
    sync = d.site.use_cases.calendars
    try:
        view = add_calendar(
            d.site.engine,
            business_slug(d.site.engine, d.who.business_id),
            email,
            values["url"],
            username=values["username"] or None,
            password=values["password"] or None,
            sync=sync,
            actor=d.actor,
            now=d.now,
        )
    except NotFound:
        return no_such(d, N_("No such staff member."))
    except InvalidInput as exc:
        state.values["password"] = ""  # never sent back into a page
        return member_page(d, email, forms={"calendar": state.fail(exc, "url", locale=d.locale)}, status=400)
    tasks.add_task(sync_calendar, d.site.engine, view.id, sync=sync, now=d.now)
    return RedirectResponse(f"/admin/staff/{email}?saved=calendar#calendars", status_code=303)


@router.post("/admin/staff/{email}/calendars/sync")
def sync_now(email: str, _: None = Depends(csrf_guard("staff")), d: Desk = Depends(admin_desk)) -> Response:
    try:
        sync_calendars(
            d.site.engine,
            business_slug(d.site.engine, d.who.business_id),
            email,
            sync=d.site.use_cases.calendars,
            now=d.now,
        )
    except NotFound:
        return no_such(d, N_("No such staff member."))
    return RedirectResponse(f"/admin/staff/{email}?saved=synced#calendars", status_code=303)


@router.post("/admin/staff/{email}/calendars/{calendar_id}/remove")
def remove(
    email: str, calendar_id: int, _: None = Depends(csrf_guard("staff")), d: Desk = Depends(admin_desk)
) -> Response:
    try:
        remove_calendar(
            d.site.engine,
            business_slug(d.site.engine, d.who.business_id),
            calendar_id,
            staff=email,
            actor=d.actor,
            now=d.now,
        )
    except NotFound:
        return no_such(d, N_("No such calendar."))
    return RedirectResponse(f"/admin/staff/{email}?saved=calendar-removed#calendars", status_code=303)
