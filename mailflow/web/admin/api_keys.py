"""``/admin/api-keys`` (admins): the business's keys for ``/api/v1`` — create (shown once), list, revoke.

The same functions as ``mailflow admin api-key``; only a key's SHA-256 and its
first characters are kept, so the page can show a new key exactly once.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form
from fastapi.responses import RedirectResponse, Response

from mailflow.errors import InvalidInput, NotFound
from mailflow.i18n import gettext
from mailflow.services import accounts
from mailflow.services.api_keys import create_api_key, list_api_keys, revoke_api_key
from mailflow.web.admin import Desk, admin_desk, csrf_guard

__all__ = ["router"]

router = APIRouter()


def slug_of(d: Desk) -> str:
    return accounts.member_business(d.site.engine, d.who.business_id).slug


def page(
    d: Desk,
    *,
    created: str | None = None,
    error: str | None = None,
    label: str = "",
    status: int = 200,
) -> Response:
    keys = list_api_keys(d.site.engine, slug_of(d))
    response = d.render(
        "api_keys.html",
        status=status,
        keys=list(reversed(keys)),
        created=created,
        error=error,
        label=label,
        csrf_create=d.csrf("api-key-create"),
        csrf_revoke=d.csrf("api-key-revoke"),
    )
    if created:
        response.headers["Cache-Control"] = "no-store"  # the key must not linger in a cache
    return response


@router.get("/admin/api-keys")
def keys_page(d: Desk = Depends(admin_desk)) -> Response:
    return page(d)


@router.post("/admin/api-keys")
def create(
    _: None = Depends(csrf_guard("api-key-create")),
    d: Desk = Depends(admin_desk),
    label: str = Form(""),
) -> Response:
    try:
        _info, key = create_api_key(d.site.engine, slug_of(d), label=label, actor=d.actor, now=d.now)
    except InvalidInput as exc:
        return page(d, error=f"{exc.text(d.locale)}.", label=label, status=400)
    return page(d, created=key, status=201)


@router.post("/admin/api-keys/{key_id}/revoke")
def revoke(
    key_id: int,
    _: None = Depends(csrf_guard("api-key-revoke")),
    d: Desk = Depends(admin_desk),
) -> Response:
    try:
        revoke_api_key(d.site.engine, slug_of(d), str(key_id), actor=d.actor, now=d.now)
    except NotFound:
        return page(d, error=gettext(d.locale, "There is no such key."), status=404)
    return RedirectResponse("/admin/api-keys", status_code=303)
