"""Customers at ``/admin/customers``: the list with its search, and one customer's page.

Every signed-in member may open them, as they may open the calendar, and sees what the
calendar shows them: an admin every customer of the business, a staff member the customers
they have (had) a booking with and only those bookings (``Desk.own_staff_id``). The one
change here, clearing a bounce flag, is ``services.bounces.clear_bouncing``.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response

from mailflow.errors import NotFound
from mailflow.i18n import N_, gettext
from mailflow.services.bounces import clear_bouncing
from mailflow.services.business import business_slug
from mailflow.services.customer_list import customer_detail, search_customers
from mailflow.web.admin import Desk, csrf_guard, desk
from mailflow.web.i18n import language_name

__all__ = ["router"]

router = APIRouter()

DONE = {"cleared": N_("The bounce flag is cleared: emails go to this address again.")}


def page_number(raw: str | None) -> int:
    """``?page=`` as a page number (1 when missing or no number)."""
    return int(raw) if raw and raw.isdigit() and len(raw) < 7 else 1


@router.get("/admin/customers")
def customer_list(d: Desk = Depends(desk)) -> Response:
    params = d.request.query_params
    query = params.get("q", "").strip()[:200]
    found = search_customers(
        d.site.engine,
        d.who.business_id,
        now=d.now,
        query=query,
        page=page_number(params.get("page")),
        staff_id=d.own_staff_id,
    )

    def page_href(number: int) -> str:
        return "/admin/customers?" + urlencode({"q": query, "page": number} if query else {"page": number})

    return d.render(
        "customers.html",
        query=query,
        found=found,
        previous_href=page_href(found.page - 1) if found.page > 1 else None,
        next_href=page_href(found.page + 1) if found.page < found.pages else None,
        language_name=language_name,
        everyone=d.who.is_admin,
    )


def no_such_customer(d: Desk) -> Response:
    text = gettext(d.locale, "No such customer.")
    return Response(f"{text}\n", status_code=404, media_type="text/plain")


def customer_number(raw: str) -> int:
    """A customer id from the path; ``NotFound`` for anything that is no id (a database's
    integer column takes at most nine digits safely)."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise NotFound(N_("customer"), raw)
    return int(raw)


@router.get("/admin/customers/{customer_id}")
def customer_page(customer_id: str, d: Desk = Depends(desk)) -> Response:
    try:
        customer = customer_detail(
            d.site.engine, d.who.business_id, customer_number(customer_id), now=d.now, staff_id=d.own_staff_id
        )
    except NotFound:
        return no_such_customer(d)
    done = DONE.get(d.request.query_params.get("done", ""))
    return d.render(
        "customer.html",
        customer=customer,
        language=language_name(customer.locale),
        done=gettext(d.locale, done) if done else None,
        csrf=d.csrf(f"customer:{customer_id}"),
        everyone=d.who.is_admin,
    )


@router.post("/admin/customers/{customer_id}/clear-bouncing")
def clear_bounce_flag(
    customer_id: str,
    _: None = Depends(csrf_guard("customer:{customer_id}")),
    d: Desk = Depends(desk),
) -> Response:
    try:
        customer = customer_detail(
            d.site.engine, d.who.business_id, customer_number(customer_id), now=d.now, staff_id=d.own_staff_id
        )
        slug = business_slug(d.site.engine, d.who.business_id)
        clear_bouncing(d.site.engine, slug, customer.email, actor=d.actor, now=d.now)
    except NotFound:
        return no_such_customer(d)
    return RedirectResponse(f"/admin/customers/{customer_id}?done=cleared", status_code=303)
