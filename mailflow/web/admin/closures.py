"""Closures (admins only) at ``/admin/closures``: whole days nothing can be booked on.

List, add (from, to, label), remove, and import a year's public holidays of a
country and region (``mailflow.services.closures``). Adding or importing over
confirmed bookings lists them, each linking to its page, so they can be moved;
an import lists what it added and which days were closed already.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response

from mailflow.errors import InvalidInput, NotFound
from mailflow.i18n import N_, gettext, ngettext
from mailflow.services.business import business_slug, get_business
from mailflow.services.closures import (
    ClosuresAdded,
    add_closure,
    import_holidays,
    list_closures,
    remove_closure,
)
from mailflow.web.admin import Desk, admin_desk, csrf_guard
from mailflow.web.admin.forms import FormState, affected_rows, posted

__all__ = ["router"]


def parse_day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            N_("{text!r} is not a date such as 2025-12-24"), text=text.strip(), field=field
        ) from None


def parse_year(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise InvalidInput(N_("{text!r} is not a year"), text=text.strip(), field="year") from None


router = APIRouter()


def page(
    d: Desk,
    *,
    forms: dict[str, FormState] | None = None,
    result: ClosuresAdded | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    forms = forms or {}
    slug = business_slug(d.site.engine, d.who.business_id)
    today = d.now.astimezone(ZoneInfo(get_business(d.site.engine, slug).timezone)).date()
    return d.render(
        "closures.html",
        status=status,
        closures=list_closures(d.site.engine, slug, upcoming_from=today),
        add=forms.get("add") or FormState({"from": "", "to": "", "label": ""}),
        holidays=forms.get("holidays")
        or FormState({"country": "", "subdivision": "", "year": str(today.year + 1)}),
        result=result,
        affected=affected_rows(result.affected if result else [], d.locale),
        notice=notice or (gettext(d.locale, "Saved.") if d.request.query_params.get("saved") else None),
        csrf=d.csrf("closures"),
    )


@router.get("/admin/closures")
def closures(d: Desk = Depends(admin_desk)) -> Response:
    return page(d)


@router.post("/admin/closures")
def add(
    _: None = Depends(csrf_guard("closures")),
    d: Desk = Depends(admin_desk),
    form: dict[str, Any] = Depends(posted),
) -> Response:
    state = FormState({name: str(form.get(name, "")) for name in ("from", "to", "label")})
    v = state.values
    try:
        start = parse_day(v["from"], "from")
        end = parse_day(v["to"], "to") if v["to"].strip() else None
        result = add_closure(
            d.site.engine,
            business_slug(d.site.engine, d.who.business_id),
            start=start,
            end=end,
            label=v["label"],
            actor=d.actor,
            now=d.now,
        )
    except InvalidInput as exc:
        return page(d, forms={"add": state.fail(exc, "from", locale=d.locale)}, status=400)
    return page(d, result=result, notice=gettext(d.locale, "The closure is saved."))


@router.post("/admin/closures/holidays")
def holidays(
    _: None = Depends(csrf_guard("closures")),
    d: Desk = Depends(admin_desk),
    form: dict[str, Any] = Depends(posted),
) -> Response:
    state = FormState({name: str(form.get(name, "")) for name in ("country", "subdivision", "year")})
    v = state.values
    try:
        result = import_holidays(
            d.site.engine,
            business_slug(d.site.engine, d.who.business_id),
            country=v["country"],
            subdivision=v["subdivision"] or None,
            year=parse_year(v["year"]),
            actor=d.actor,
            now=d.now,
        )
    except InvalidInput as exc:
        return page(d, forms={"holidays": state.fail(exc, "country", locale=d.locale)}, status=400)
    added, skipped = len(result.closures), len(result.skipped)
    return page(
        d,
        result=result,
        notice=ngettext(
            d.locale,
            "{n} public holiday added, {skipped} skipped (closed already).",
            "{n} public holidays added, {skipped} skipped (closed already).",
            added,
            skipped=skipped,
        ),
    )


@router.post("/admin/closures/{closure_id}/remove")
def remove(
    closure_id: int,
    _: None = Depends(csrf_guard("closures")),
    d: Desk = Depends(admin_desk),
) -> Response:
    try:
        remove_closure(
            d.site.engine,
            business_slug(d.site.engine, d.who.business_id),
            closure_id,
            actor=d.actor,
            now=d.now,
        )
    except NotFound:
        return Response(
            gettext(d.locale, "No such closure.") + "\n", status_code=404, media_type="text/plain"
        )
    return RedirectResponse("/admin/closures?saved=removed", status_code=303)
