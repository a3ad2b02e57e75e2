"""Sign-in, sign-out, password reset, accepting an invitation, and each member's account page.

- ``/admin/sign-in``: email and password; every attempt is counted before
  its password is checked, per address and client, per client and per
  address, with waits that grow (``SignInLimits``; no fixed lockout); a
  success renews the browser session and the admin cookie binds the CSRF
  tokens; ``next`` is followed only to a local ``/admin`` path.
- ``/admin/forgot`` emails a one-time link (``AdminLink`` purpose ``reset``,
  one hour) and gives the same answer, in the same time, whether the address
  exists or not (the lookup runs after the answer);
  ``/admin/reset/{token}`` sets a new password and ends every session.
- ``/admin/welcome/{token}``: an invitation (``AdminLink`` purpose ``invite``,
  seven days; sent from the staff page, ``mailflow.web.admin.staff``) lets the
  person set their password.
- ``/admin/account``: notification preferences (the keys the notifier and the
  agenda job read from ``Staff.notification_prefs``), language, password.

Every change is a function of ``mailflow.services.accounts``, ``sessions`` or
``account_links``; these pages parse the forms, call it and show the result.
"""

from __future__ import annotations

import math
from datetime import datetime
from urllib.parse import unquote, urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.background import BackgroundTask

from mailflow import auth
from mailflow.errors import InvalidInput, NotFound
from mailflow.i18n import N_, Nn_, gettext, language_names, ngettext
from mailflow.services import account_links, accounts, sessions
from mailflow.services.account_links import INVITE_LIFETIME, RESET_LIFETIME
from mailflow.web.admin import ADMIN_COOKIE, Admin, Desk, NotSignedIn, csrf_guard, desk, signed_in, site
from mailflow.web.admin.signin_limits import (
    KNOWN_COOKIE,
    KNOWN_COOKIE_SECONDS,
    SignInLimits,
    known_browser,
    known_browser_token,
)
from mailflow.web.deps import Wiring, clock
from mailflow.web.security import client_ip, renew_session

__all__ = [
    "INVITE_LIFETIME",
    "NOTIFICATION_CHOICES",
    "RESET_LIFETIME",
    "SignInLimits",
    "router",
    "safe_next",
]

LANDING = "/admin/bookings"

# The keys the notifier (one per staff email kind) and the agenda job read; a missing key means on.
NOTIFICATION_CHOICES = (
    ("booking_created", N_("New bookings")),
    ("booking_rescheduled", N_("Rescheduled bookings")),
    ("booking_cancelled", N_("Cancelled bookings")),
    ("daily_agenda", N_("Daily agenda for the next day")),
)

TOO_MANY_SIGN_INS = Nn_(
    "Too many sign-in attempts. Try again in {n} minute, or use “Forgot your password?”.",
    "Too many sign-in attempts. Try again in {n} minutes, or use “Forgot your password?”.",
)

router = APIRouter()


async def limits(request: Request) -> SignInLimits:
    """This web app's sign-in limits (a dependency)."""
    found: SignInLimits = request.app.state.sign_in_limits
    return found


def secure_cookie(admin: Admin) -> bool:
    return admin.wiring.settings.public_url.startswith("https://")


def safe_next(value: str | None) -> str:
    """``value`` when it is a local ``/admin`` path, else the landing page (no open redirect).

    >>> safe_next("/admin/services"), safe_next("//evil.example/admin"), safe_next("/admin/%2e%2e/book")
    ('/admin/services', '/admin/bookings', '/admin/bookings')
    """
    if not value or "\\" in value or any(ord(c) < 32 for c in value):
        return LANDING
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//"):
        return LANDING
    if parts.path != "/admin" and not parts.path.startswith("/admin/"):
        return LANDING
    if parts.path.startswith(("/admin/sign-in", "/admin/sign-out")):
        return LANDING
    if any(segment in (".", "..") for segment in unquote(parts.path).split("/")):
        return LANDING  # a browser would resolve /admin/../book to /book
    return value


def check_new_password(password: str, confirm: str, locale: str) -> str | None:
    """The problem with a new password in ``locale``, or None when it is acceptable."""
    if len(password) < auth.MIN_PASSWORD_LENGTH:
        return ngettext(
            locale,
            "The password must have at least {n} character.",
            "The password must have at least {n} characters.",
            auth.MIN_PASSWORD_LENGTH,
        )
    if password != confirm:
        return gettext(locale, "The two passwords differ.")
    return None


def current(request: Request, admin: Admin, now: datetime) -> auth.SignedIn | None:
    try:
        return admin.user(request, now)
    except NotSignedIn:
        return None


# --- sign-in and sign-out ---------------------------------------------------------


@router.get("/admin")
def landing(who: auth.SignedIn = Depends(signed_in)) -> Response:
    return RedirectResponse(LANDING, status_code=303)


def sign_in_page(
    request: Request,
    admin: Admin,
    next_path: str,
    *,
    email: str = "",
    error: str | None = None,
    status: int = 200,
    translated: bool = False,
) -> Response:
    notice = {
        "reset": N_("Your password is set. Sign in with it."),
        "signed-out": N_("You are signed out."),
    }.get(request.query_params.get("done", ""))
    locale = admin.locale(request)
    return admin.render(
        request,
        "sign_in.html",
        status=status,
        csrf=admin.csrf(request, "sign-in"),
        next=next_path,
        email=email,
        error=(error if translated else gettext(locale, error)) if error else None,
        notice=gettext(locale, notice) if notice else None,
    )


@router.get("/admin/sign-in")
def sign_in_form(request: Request, admin: Admin = Depends(site), now: datetime = Depends(clock)) -> Response:
    target = safe_next(request.query_params.get("next"))
    if current(request, admin, now) is not None:
        return RedirectResponse(target, status_code=303)
    return sign_in_page(request, admin, target)


@router.post("/admin/sign-in")
def sign_in_submit(
    request: Request,
    _: None = Depends(csrf_guard("sign-in")),
    email: str = Form(""),
    password: str = Form(""),
    next: str = Form(""),
    admin: Admin = Depends(site),
    limit: SignInLimits = Depends(limits),
    now: datetime = Depends(clock),
) -> Response:
    target = safe_next(next)
    address = email.strip().lower()
    secret = admin.wiring.secret
    known = known_browser(secret, request.cookies.get(KNOWN_COOKIE, ""), address)
    wait = limit.attempt(address, client_ip(request), known_browser=known)
    if wait:
        minutes = max(1, math.ceil(wait / 60))
        text = ngettext(admin.locale(request), *TOO_MANY_SIGN_INS, minutes)
        page = sign_in_page(request, admin, target, email=email, error=text, status=429, translated=True)
        page.headers["Retry-After"] = str(math.ceil(wait))
        return page
    engine = admin.wiring.engine
    token = sessions.sign_in(engine, address, password, now=now) if address and password else None
    if token is None:
        return sign_in_page(
            request, admin, target, email=email, error=N_("Wrong email address or password."), status=400
        )
    limit.succeeded(address, client_ip(request))
    response = RedirectResponse(target, status_code=303)
    secure = secure_cookie(admin)
    response.set_cookie(
        ADMIN_COOKIE,
        token,
        max_age=int(auth.SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )
    renew_session(request, response)  # a browser session planted before the sign-in is worthless now
    response.set_cookie(
        KNOWN_COOKIE,
        known_browser_token(secret, address),
        max_age=KNOWN_COOKIE_SECONDS,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/admin/sign-in",
    )
    return response


@router.post("/admin/sign-out")
def sign_out(
    request: Request,
    _: None = Depends(csrf_guard("sign-out")),
    admin: Admin = Depends(site),
) -> Response:
    sessions.end_session(admin.wiring.engine, request.cookies.get(ADMIN_COOKIE))
    response = RedirectResponse("/admin/sign-in?done=signed-out", status_code=303)
    response.delete_cookie(ADMIN_COOKIE, path="/", httponly=True, samesite="lax", secure=secure_cookie(admin))
    return response


# --- password reset ------------------------------------------------------------------


@router.get("/admin/forgot")
def forgot_form(request: Request, admin: Admin = Depends(site)) -> Response:
    return admin.render(request, "forgot.html", csrf=admin.csrf(request, "forgot"), sent=False)


@router.post("/admin/forgot")
def forgot_submit(
    request: Request,
    _: None = Depends(csrf_guard("forgot")),
    email: str = Form(""),
    admin: Admin = Depends(site),
    limit: SignInLimits = Depends(limits),
    now: datetime = Depends(clock),
) -> Response:
    address = email.strip().lower()
    # Over the limit the answer is the same as always; only the email is not sent. Whether the
    # address is known is looked up after the answer has gone (a background task), so known and
    # unknown addresses get the same page in the same time: the request does the same work.
    allowed = limit.forgot_per_ip.hit(client_ip(request)) and limit.forgot_per_address.hit(address)
    page = admin.render(request, "forgot.html", csrf=admin.csrf(request, "forgot"), sent=True)
    if allowed and address:
        page.background = BackgroundTask(send_reset_link, admin.wiring, address, now)
    return page


def send_reset_link(site: Wiring, address: str, now: datetime) -> None:
    """Queue the reset email of ``address`` if a staff member has it (after the answer was sent)."""
    account_links.request_password_reset(
        site.engine,
        address,
        public_url=site.settings.public_url,
        message_domain=site.notifier.builder.settings.message_domain,
        now=now,
    )
    site.wake()


def set_password_page(
    request: Request,
    admin: Admin,
    now: datetime,
    token: str,
    purpose: str,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    holder = account_links.link_holder(admin.wiring.engine, token, purpose, now)
    locale = admin.locale(request)
    if holder is None:
        return admin.render(
            request,
            "notice.html",
            status=404,
            title=gettext(locale, "This link no longer works"),
            lines=[
                gettext(locale, "It was used already, has expired, or was mistyped."),
                gettext(locale, "Ask for a new one below, or ask an admin to invite you again."),
            ],
            links=[{"href": "/admin/forgot", "text": gettext(locale, "Send me a new link")}],
        )
    return admin.render(
        request,
        "set_password.html",
        status=status,
        csrf=admin.csrf(request, f"{purpose}:{token}"),
        invite=purpose == "invite",
        email=holder,
        min_length=auth.MIN_PASSWORD_LENGTH,
        action=request.url.path,
        error=error,
    )


def set_password_submit(
    request: Request, admin: Admin, now: datetime, token: str, purpose: str, password: str, confirm: str
) -> Response:
    problem = check_new_password(password, confirm, admin.locale(request))
    if problem is not None:
        return set_password_page(request, admin, now, token, purpose, error=problem, status=400)
    try:
        account_links.redeem_link(admin.wiring.engine, token, purpose, password, now=now)
    except NotFound:  # used, expired, or another click used it just now
        return set_password_page(request, admin, now, token, purpose)
    return RedirectResponse("/admin/sign-in?done=reset", status_code=303)


# Choosing a password with a link: /admin/reset/{token} (purpose "reset"), /admin/welcome/{token} ("invite").


@router.get("/admin/reset/{token}")
def reset_form(
    request: Request, token: str, admin: Admin = Depends(site), now: datetime = Depends(clock)
) -> Response:
    return set_password_page(request, admin, now, token, "reset")


@router.post("/admin/reset/{token}")
def reset_submit(
    request: Request,
    token: str,
    _: None = Depends(csrf_guard("reset:{token}")),
    password: str = Form(""),
    confirm: str = Form(""),
    admin: Admin = Depends(site),
    now: datetime = Depends(clock),
) -> Response:
    return set_password_submit(request, admin, now, token, "reset", password, confirm)


@router.get("/admin/welcome/{token}")
def welcome_form(
    request: Request, token: str, admin: Admin = Depends(site), now: datetime = Depends(clock)
) -> Response:
    return set_password_page(request, admin, now, token, "invite")


@router.post("/admin/welcome/{token}")
def welcome_submit(
    request: Request,
    token: str,
    _: None = Depends(csrf_guard("invite:{token}")),
    password: str = Form(""),
    confirm: str = Form(""),
    admin: Admin = Depends(site),
    now: datetime = Depends(clock),
) -> Response:
    return set_password_submit(request, admin, now, token, "invite", password, confirm)


# --- the member's own account -----------------------------------------------------


def account_page(
    d: Desk,
    *,
    notice: str | None = None,
    change_error: str | None = None,
    status: int = 200,
) -> Response:
    mine = accounts.account_of(d.site.engine, d.who.staff_id)
    prefs = [
        {"key": key, "label": gettext(d.locale, label), "on": mine.notification_prefs.get(key, True)}
        for key, label in NOTIFICATION_CHOICES
    ]
    languages = list(language_names(mine.business_locales).items())
    locale = mine.locale
    return d.render(
        "account.html",
        status=status,
        prefs=prefs,
        languages=languages,
        locale=locale,
        notice=notice,
        change_error=change_error,
        min_length=auth.MIN_PASSWORD_LENGTH,
        prefs_csrf=d.csrf("account-prefs"),
        password_csrf=d.csrf("account-password"),
    )


@router.get("/admin/account")
def account(d: Desk = Depends(desk)) -> Response:
    return account_page(d)


@router.post("/admin/account/notifications")
def account_prefs(
    _: None = Depends(csrf_guard("account-prefs")),
    d: Desk = Depends(desk),
    notify: list[str] = Form([]),
    language: str = Form(""),
) -> Response:
    try:
        accounts.set_preferences(
            d.site.engine,
            d.who.staff_id,
            notifications={key: key in notify for key, _label in NOTIFICATION_CHOICES},
            language=language or None,
            actor=d.actor,
            now=d.now,
        )
    except InvalidInput:
        return account_page(d, notice=gettext(d.locale, "Choose one of the offered languages."), status=400)
    return account_page(d, notice=gettext(d.locale, "Your preferences are saved."))


@router.post("/admin/account/password")
def account_password(
    _: None = Depends(csrf_guard("account-password")),
    d: Desk = Depends(desk),
    current_password: str = Form(""),
    password: str = Form(""),
    confirm: str = Form(""),
) -> Response:
    engine = d.site.engine
    if not accounts.password_matches(engine, d.who.staff_id, current_password):
        return account_page(d, change_error=gettext(d.locale, "The current password is wrong."), status=400)
    problem = check_new_password(password, confirm, d.locale)
    if problem is not None:
        return account_page(d, change_error=problem, status=400)
    # Other browsers are signed out; this one stays signed in.
    accounts.change_password(
        engine,
        d.who.staff_id,
        current_password,
        password,
        keep=d.request.cookies.get(ADMIN_COOKIE, ""),
        actor=d.actor,
        now=d.now,
    )
    return account_page(
        d, notice=gettext(d.locale, "Your password is changed; other browsers are signed out.")
    )
