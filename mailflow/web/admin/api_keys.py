"""``/admin/api-keys`` (admins): the business's keys for ``/api/v1`` — create (shown once), list, revoke.

The same functions as ``mailflow admin api-key``; only a key's SHA-256 and its
first characters are kept, so the page can show a new key exactly once.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from mailflow import auth
from mailflow.booking.model import Actor, ActorKind
from mailflow.errors import InvalidInput, NotFound
from mailflow.services import accounts
from mailflow.services.api_keys import create_api_key, list_api_keys, revoke_api_key
from mailflow.web.admin import Admin
from mailflow.web.deps import now


def build_router(admin: Admin) -> APIRouter:
    router = APIRouter()
    engine = admin.app.engine

    def slug_of(who: auth.SignedIn) -> str:
        return accounts.member_business(engine, who.business_id).slug

    def page(
        request: Request,
        who: auth.SignedIn,
        *,
        created: str | None = None,
        error: str | None = None,
        label: str = "",
        status: int = 200,
    ) -> Response:
        keys = list_api_keys(engine, slug_of(who))
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
            _info, key = create_api_key(
                engine, slug_of(who), label=label, actor=Actor(ActorKind.STAFF, who.email), now=now()
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
            revoke_api_key(
                engine, slug_of(who), str(key_id), actor=Actor(ActorKind.STAFF, who.email), now=now()
            )
        except NotFound:
            return page(request, who, error="There is no such key.", status=404)
        return RedirectResponse("/admin/api-keys", status_code=303)

    return router
