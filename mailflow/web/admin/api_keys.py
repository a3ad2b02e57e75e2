"""``/admin/api-keys`` (admins): the business's keys for ``/api/v1`` — create (shown once), list, revoke.

The same functions as ``mailflow admin api-key``; only a key's SHA-256 and its
first characters are kept, so the page can show a new key exactly once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from mailflow import auth
from mailflow.api.keys import create_api_key, list_api_keys, revoke_api_key
from mailflow.errors import InvalidInput, NotFound
from mailflow.store.engine import read_session, write_session
from mailflow.store.tables import Business
from mailflow.web.admin import Admin


def _now() -> datetime:
    return datetime.now(UTC)


def build_router(admin: Admin) -> APIRouter:
    router = APIRouter()
    engine = admin.app.engine

    def slug_of(who: auth.SignedIn) -> str:
        with read_session(engine) as session:
            return session.get_one(Business, who.business_id).slug

    def page(
        request: Request,
        who: auth.SignedIn,
        *,
        created: str | None = None,
        error: str | None = None,
        label: str = "",
        status: int = 200,
    ) -> Response:
        with read_session(engine) as session:
            keys = list_api_keys(session, slug_of(who))
        response = admin.render(
            request,
            "api_keys.html",
            status=status,
            keys=list(reversed(keys)),
            created=created,
            error=error,
            label=label,
            csrf_create=admin.csrf(request, "api-key-create"),
            csrf_revoke=admin.csrf(request, "api-key-revoke"),
        )
        if created:
            response.headers["Cache-Control"] = "no-store"  # the key must not linger in a cache
        return response

    @router.get("/admin/api-keys")
    def keys_page(request: Request, who: auth.SignedIn = Depends(admin.admin)) -> Response:
        return page(request, who)

    @router.post("/admin/api-keys")
    def create(
        request: Request,
        _: None = Depends(admin.csrf_guard("api-key-create")),
        who: auth.SignedIn = Depends(admin.admin),
        label: str = Form(""),
    ) -> Response:
        try:
            with write_session(engine) as session:
                _row, key = create_api_key(
                    session, slug_of(who), label=label, created_by=who.email, now=_now()
                )
        except InvalidInput as exc:
            return page(request, who, error=f"{exc}.", label=label, status=400)
        return page(request, who, created=key, status=201)

    @router.post("/admin/api-keys/{key_id}/revoke")
    def revoke(
        request: Request,
        key_id: int,
        _: None = Depends(admin.csrf_guard("api-key-revoke")),
        who: auth.SignedIn = Depends(admin.admin),
    ) -> Response:
        try:
            with write_session(engine) as session:
                revoke_api_key(session, slug_of(who), str(key_id), _now())
        except NotFound:
            return page(request, who, error="There is no such key.", status=404)
        return RedirectResponse("/admin/api-keys", status_code=303)

    return router
