"""``/admin/webhooks`` (admins): endpoints that hear of the business's events, and their delivery log.

The same use cases as ``mailflow webhooks`` and ``/api/v1/webhooks``
(``mailflow.services.webhooks``). A new endpoint's signing secret is shown on
the page that answers its creation, and never again. An endpoint's page shows
its latest deliveries (status code, the answer's first bytes), sends a test
event, re-sends a delivery, enables, disables or removes it.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form
from fastapi.responses import RedirectResponse, Response

from mailflow.errors import InvalidInput, NotFound
from mailflow.i18n import N_, gettext
from mailflow.services import accounts, webhooks
from mailflow.web.admin import Desk, admin_desk, csrf_guard

__all__ = ["router"]

router = APIRouter()

SENT = {
    "test": N_("A test event is on its way: reload this page to see what the endpoint answered."),
    "again": N_("The delivery is sent again: reload this page to see what the endpoint answered."),
}


def slug_of(d: Desk) -> str:
    return accounts.member_business(d.site.engine, d.who.business_id).slug


def list_page(
    d: Desk,
    *,
    created: tuple[webhooks.EndpointView, str] | None = None,
    error: str | None = None,
    url: str = "",
    chosen: list[str] | None = None,
    status: int = 200,
) -> Response:
    response = d.render(
        "webhooks.html",
        status=status,
        endpoints=webhooks.list_endpoints(d.site.engine, slug_of(d)),
        events=webhooks.EVENTS,
        chosen=list(webhooks.EVENTS) if chosen is None else chosen,
        created=created,
        error=error,
        url=url,
        csrf_add=d.csrf("webhook-add"),
    )
    if created:
        response.headers["Cache-Control"] = "no-store"  # the secret must not linger in a cache
    return response


def endpoint_page(d: Desk, endpoint_id: int, *, notice: str | None = None, status: int = 200) -> Response:
    slug = slug_of(d)
    try:
        endpoint = webhooks.get_endpoint(d.site.engine, slug, endpoint_id)
    except NotFound:
        return list_page(d, error=gettext(d.locale, "There is no such webhook."), status=404)
    return d.render(
        "webhook.html",
        status=status,
        endpoint=endpoint,
        deliveries=webhooks.list_deliveries(d.site.engine, slug, endpoint_id),
        notice=notice,
        csrf_endpoint=d.csrf(f"webhook:{endpoint_id}"),
    )


@router.get("/admin/webhooks")
def webhooks_page(d: Desk = Depends(admin_desk)) -> Response:
    return list_page(d)


@router.post("/admin/webhooks")
async def add(
    _: None = Depends(csrf_guard("webhook-add")),
    d: Desk = Depends(admin_desk),
    url: str = Form(""),
) -> Response:
    chosen = [str(value) for value in (await d.request.form()).getlist("events")]
    try:
        created = webhooks.add_endpoint(
            d.site.engine, slug_of(d), url=url, events=chosen, actor=d.actor, now=d.now
        )
    except InvalidInput as exc:
        return list_page(d, error=f"{exc.text(d.locale)}.", url=url, chosen=chosen, status=400)
    return list_page(d, created=created, status=201)


@router.get("/admin/webhooks/{endpoint_id}")
def webhook_page(endpoint_id: int, d: Desk = Depends(admin_desk), sent: str = "") -> Response:
    notice = SENT.get(sent)
    return endpoint_page(d, endpoint_id, notice=gettext(d.locale, notice) if notice else None)


@router.post("/admin/webhooks/{endpoint_id}/test")
def send_test(
    endpoint_id: int,
    _: None = Depends(csrf_guard("webhook:{endpoint_id}")),
    d: Desk = Depends(admin_desk),
) -> Response:
    try:
        webhooks.send_test_event(d.site.engine, slug_of(d), endpoint_id, actor=d.actor, now=d.now)
    except NotFound:
        return endpoint_page(d, endpoint_id)
    d.site.wake()
    return RedirectResponse(f"/admin/webhooks/{endpoint_id}?sent=test", status_code=303)


@router.post("/admin/webhooks/{endpoint_id}/deliveries/{delivery_id}/resend")
def resend(
    endpoint_id: int,
    delivery_id: int,
    _: None = Depends(csrf_guard("webhook:{endpoint_id}")),
    d: Desk = Depends(admin_desk),
) -> Response:
    try:
        webhooks.resend_delivery(d.site.engine, slug_of(d), delivery_id, actor=d.actor, now=d.now)
    except NotFound:
        return endpoint_page(
            d, endpoint_id, notice=gettext(d.locale, "There is no such delivery."), status=404
        )
    except InvalidInput as exc:
        return endpoint_page(d, endpoint_id, notice=f"{exc.text(d.locale)}.", status=409)
    d.site.wake()
    return RedirectResponse(f"/admin/webhooks/{endpoint_id}?sent=again", status_code=303)


@router.post("/admin/webhooks/{endpoint_id}/enabled")
def set_enabled(
    endpoint_id: int,
    _: None = Depends(csrf_guard("webhook:{endpoint_id}")),
    d: Desk = Depends(admin_desk),
    enabled: str = Form(""),
) -> Response:
    try:
        webhooks.update_endpoint(
            d.site.engine, slug_of(d), endpoint_id, enabled=enabled == "1", actor=d.actor, now=d.now
        )
    except NotFound:
        return endpoint_page(d, endpoint_id)
    return RedirectResponse(f"/admin/webhooks/{endpoint_id}", status_code=303)


@router.post("/admin/webhooks/{endpoint_id}/remove")
def remove(
    endpoint_id: int,
    _: None = Depends(csrf_guard("webhook:{endpoint_id}")),
    d: Desk = Depends(admin_desk),
) -> Response:
    try:
        webhooks.remove_endpoint(d.site.engine, slug_of(d), endpoint_id, actor=d.actor, now=d.now)
    except NotFound:
        return endpoint_page(d, endpoint_id)
    return RedirectResponse("/admin/webhooks", status_code=303)
