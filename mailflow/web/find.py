"""Find my booking (``/m``): an address in, its manage links out by email.

The answer is the same whether or not the address has bookings, and takes
as long: the links are sent after the response. Both limits (per client, per
address) apply.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from mailflow.services import catalog, manage
from mailflow.store.engine import read_session
from mailflow.web.deps import Wiring, clock, wiring
from mailflow.web.i18n import page_locale, translator
from mailflow.web.render import forbidden, simple, too_many
from mailflow.web.security import client_ip, csrf_token, csrf_valid, request_session

__all__ = ["router"]

router = APIRouter()


@router.get("/m", response_class=HTMLResponse)
def find_page(request: Request, site: Wiring = Depends(wiring)) -> Response:
    with read_session(site.engine) as session:
        business = catalog.default_business(session)
    locale = page_locale(request, business)
    t = translator(locale)
    return simple(
        request,
        business,
        locale,
        t("find_title"),
        [t("find_text")],
        200,
        show_find=True,
        csrf=csrf_token(site.secret, request_session(request), "find"),
    )


@router.post("/m", response_class=HTMLResponse)
def find_submit(
    request: Request,
    background: BackgroundTasks,
    csrf: str = Form(""),
    email: str = Form(""),
    site: Wiring = Depends(wiring),
    now: datetime = Depends(clock),
) -> Response:
    if not csrf_valid(site.secret, request, csrf, "find"):
        return forbidden(request, site)
    address = email.strip().lower()
    if not site.limits.find_per_ip.hit(client_ip(request)):
        return too_many(request, site)
    with read_session(site.engine) as session:
        business = catalog.default_business(session)
    locale = page_locale(request, business)
    t = translator(locale)
    if address and site.limits.find_per_email.hit(address):
        # After the response: answering a known address must take no longer than an unknown one.
        background.add_task(_resend_links, site, address, now)
    # The same answer whether or not the address has bookings: nothing to enumerate.
    return simple(
        request,
        business,
        locale,
        t("find_title"),
        [t("find_sent")],
        200,
        links=[{"href": f"/book?lang={locale}", "text": t("new_booking_text")}],
        switch_path="/m",
    )


def _resend_links(site: Wiring, address: str, now: datetime) -> int:
    sent = manage.resend_links(site.engine, address, now=now, notifier=site.notifier)
    if sent:
        site.wake()
    return sent
