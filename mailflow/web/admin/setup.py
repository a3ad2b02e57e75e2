"""The first run: ``/admin/setup?token=…`` creates the business and its first admin.

``mailflow serve`` prints the one-time link while no business exists. The page
works only while its token is unused and no business exists; otherwise it is the
plain 404 of a spent link. The form is anonymous, so its CSRF token is bound to
the browser-session cookie the GET sets (as the sign-in form's is). On success
the new admin is signed in and lands on the settings page with a guide to the
next steps.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from zoneinfo import available_timezones

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from mailflow import auth
from mailflow.errors import InvalidInput, NotFound
from mailflow.i18n import gettext, language_names
from mailflow.outbound.templates import default_locales
from mailflow.services.business import complete_setup, setup_link_valid
from mailflow.services.sessions import sign_in
from mailflow.web.admin import ADMIN_COOKIE, Admin, csrf_guard, site
from mailflow.web.admin.forms import FormState
from mailflow.web.deps import clock

__all__ = ["LANGUAGE_NAMES", "router"]

LANGUAGE_NAMES = language_names()  # {code: name} of every language with a catalog
FIELDS = (
    "name",
    "slug",
    "timezone",
    "locale",
    "phone",
    "email",
    "address",
    "admin_name",
    "admin_email",
    "password",
    "confirm",
)
# complete_setup's field names -> the form's (the admin's own name shares "name" with the business's)
ALIASES = {"languages": "locale"}
NEXT_STEPS = "/admin/services?welcome=1"


@cache
def time_zones() -> list[str]:
    """The IANA zones offered in the time-zone field's list (any other valid name is accepted too)."""
    return sorted(zone for zone in available_timezones() if "/" in zone and not zone.startswith("Etc/"))


router = APIRouter()


def spent(request: Request, admin: Admin) -> Response:
    locale = admin.locale(request)
    return admin.render(
        request,
        "notice.html",
        status=404,
        title=gettext(locale, "This link no longer works"),
        lines=[gettext(locale, "It was used already, or was mistyped. Sign in instead.")],
        links=[{"href": "/admin/sign-in", "text": gettext(locale, "Sign in")}],
    )


def form_page(request: Request, admin: Admin, token: str, form: FormState, status: int = 200) -> Response:
    languages = default_locales()
    return admin.render(
        request,
        "setup.html",
        status=status,
        form=form,
        token=token,
        languages=list(language_names(languages).items()),
        zones=time_zones(),
        min_length=auth.MIN_PASSWORD_LENGTH,
        csrf=admin.csrf(request, "setup"),
    )


@router.get("/admin/setup")
def setup_form(request: Request, token: str = "", admin: Admin = Depends(site)) -> Response:
    if not setup_link_valid(admin.wiring.engine, token):
        return spent(request, admin)
    values: dict[str, object] = dict.fromkeys(FIELDS, "")
    values |= {"timezone": "Europe/Berlin", "locale": "en", "languages": ["en"]}
    return form_page(request, admin, token, FormState(values))


@router.post("/admin/setup")
def setup_submit(
    request: Request,
    _: None = Depends(csrf_guard("setup")),
    token: str = "",
    name: str = Form(""),
    slug: str = Form(""),
    timezone: str = Form(""),
    locale: str = Form("en"),
    languages: list[str] = Form([]),
    phone: str = Form(""),
    email: str = Form(""),
    address: str = Form(""),
    admin_name: str = Form(""),
    admin_email: str = Form(""),
    password: str = Form(""),
    confirm: str = Form(""),
    admin: Admin = Depends(site),
    now: datetime = Depends(clock),
) -> Response:
    if not setup_link_valid(admin.wiring.engine, token):
        return spent(request, admin)
    form = FormState(
        {
            "name": name,
            "slug": slug,
            "timezone": timezone,
            "locale": locale,
            "languages": languages,
            "phone": phone,
            "email": email,
            "address": address,
            "admin_name": admin_name,
            "admin_email": admin_email,
            "password": "",
            "confirm": "",
        }
    )
    if password != confirm:
        form.errors["confirm"] = gettext(admin.locale(request), "The two passwords differ.")
        return form_page(request, admin, token, form, status=400)
    try:
        complete_setup(
            admin.wiring.engine,
            token,
            business={
                "slug": slug,
                "name": name,
                "timezone": timezone,
                "locale": locale,
                "languages": [locale, *languages],
                "phone": phone,
                "email": email,
                "address": address,
            },
            admin_email=admin_email,
            admin_name=admin_name,
            password=password,
            now=now,
        )
    except NotFound:
        return spent(request, admin)
    except InvalidInput as exc:
        return form_page(
            request, admin, token, form.fail(exc, "name", ALIASES, locale=admin.locale(request)), status=400
        )
    return signed_in_redirect(admin, now, admin_email, password)


def signed_in_redirect(admin: Admin, now: datetime, email: str, password: str) -> Response:
    """The new admin's session cookie and the way to the next steps (sign-in page if that fails)."""
    session_token = sign_in(admin.wiring.engine, email, password, now=now)
    if session_token is None:
        return RedirectResponse(f"/admin/sign-in?next={NEXT_STEPS}", status_code=303)
    response = RedirectResponse(NEXT_STEPS, status_code=303)
    response.set_cookie(
        ADMIN_COOKIE,
        session_token,
        max_age=int(auth.SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=admin.wiring.settings.public_url.startswith("https://"),
        path="/",
    )
    return response
