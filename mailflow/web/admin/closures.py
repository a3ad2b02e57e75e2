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

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from mailflow import auth
from mailflow.errors import InvalidInput, NotFound
from mailflow.services.business import business_slug, get_business
from mailflow.services.closures import (
    ClosuresAdded,
    add_closure,
    import_holidays,
    list_closures,
    remove_closure,
)
from mailflow.web.admin import Admin
from mailflow.web.admin.forms import FormState, actor_of, affected_rows, now, posted

__all__ = ["build_router"]


def parse_day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{text.strip()!r} is not a date such as 2025-12-24", field=field) from None


def parse_year(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise InvalidInput(f"{text.strip()!r} is not a year", field="year") from None


def build_router(admin: Admin) -> APIRouter:
    """``/admin/closures``."""
    router = APIRouter()
    engine = admin.app.engine

    def page(
        request: Request,
        who: auth.SignedIn,
        *,
        forms: dict[str, FormState] | None = None,
        result: ClosuresAdded | None = None,
        notice: str | None = None,
        status: int = 200,
    ) -> Response:
        forms = forms or {}
        slug = business_slug(engine, who.business_id)
        today = now().astimezone(ZoneInfo(get_business(engine, slug).timezone)).date()
        return admin.render(
            request,
            "closures.html",
            status=status,
            closures=list_closures(engine, slug, upcoming_from=today),
            add=forms.get("add") or FormState({"from": "", "to": "", "label": ""}),
            holidays=forms.get("holidays")
            or FormState({"country": "", "subdivision": "", "year": str(today.year + 1)}),
            result=result,
            affected=affected_rows(result.affected if result else []),
            notice=notice or ("Saved." if request.query_params.get("saved") else None),
            csrf=admin.csrf(request, "closures"),
        )

    @router.get("/admin/closures")
    def closures(request: Request, who: auth.SignedIn = Depends(admin.admin)) -> Response:
        return page(request, who)

    @router.post("/admin/closures")
    def add(
        request: Request,
        _: None = Depends(admin.csrf_guard("closures")),
        who: auth.SignedIn = Depends(admin.admin),
        form: dict[str, Any] = Depends(posted),
    ) -> Response:
        state = FormState({name: str(form.get(name, "")) for name in ("from", "to", "label")})
        v = state.values
        try:
            start = parse_day(v["from"], "from")
            end = parse_day(v["to"], "to") if v["to"].strip() else None
            result = add_closure(
                engine,
                business_slug(engine, who.business_id),
                start=start,
                end=end,
                label=v["label"],
                actor=actor_of(who),
                now=now(),
            )
        except InvalidInput as exc:
            return page(request, who, forms={"add": state.fail(exc, "from")}, status=400)
        return page(request, who, result=result, notice="The closure is saved.")

    @router.post("/admin/closures/holidays")
    def holidays(
        request: Request,
        _: None = Depends(admin.csrf_guard("closures")),
        who: auth.SignedIn = Depends(admin.admin),
        form: dict[str, Any] = Depends(posted),
    ) -> Response:
        state = FormState({name: str(form.get(name, "")) for name in ("country", "subdivision", "year")})
        v = state.values
        try:
            result = import_holidays(
                engine,
                business_slug(engine, who.business_id),
                country=v["country"],
                subdivision=v["subdivision"] or None,
                year=parse_year(v["year"]),
                actor=actor_of(who),
                now=now(),
            )
        except InvalidInput as exc:
            return page(request, who, forms={"holidays": state.fail(exc, "country")}, status=400)
        added, skipped = len(result.closures), len(result.skipped)
        return page(
            request,
            who,
            result=result,
            notice=f"{added} public holidays added, {skipped} skipped (closed already).",
        )

    @router.post("/admin/closures/{closure_id}/remove")
    def remove(
        closure_id: int,
        _: None = Depends(admin.csrf_guard("closures")),
        who: auth.SignedIn = Depends(admin.admin),
    ) -> Response:
        try:
            remove_closure(
                engine, business_slug(engine, who.business_id), closure_id, actor=actor_of(who), now=now()
            )
        except NotFound:
            return Response("no such closure\n", status_code=404, media_type="text/plain")
        return RedirectResponse("/admin/closures?saved=removed", status_code=303)

    return router
