"""The admin side (``/admin/…``): sign-in, templates, settings, bookings.

Each area module (``bookings``, ``staff``, …) has a module-level ``router``
whose endpoints take what they use as FastAPI dependencies: ``site`` (the
``Admin`` that ``install`` puts on ``app.state.admin``: rendering, CSRF tokens,
the customer pages' ``Wiring``), ``signed_in`` (any signed-in staff member) or
``admin_only`` (role admin), ``csrf_guard(purpose)`` and ``clock`` (from
``web/deps.py``: tests set the time through ``app.dependency_overrides[clock]``).
Most pages take all of it at once as a ``Desk`` (``desk`` for any member,
``admin_desk`` for admins): the request, the member, the time, render and CSRF.

The admin's language (``Admin.locale``) is the one asked for with ``?lang=``
(remembered in the ``mf_admin_lang`` cookie), else the browser's
Accept-Language, else the business's default language, among the languages
with a catalog; every text comes from the gettext catalogs (``_`` and
``ngettext`` in the templates, ``gettext(d.locale, …)`` in the code).

A visitor who is not signed in is redirected to the sign-in page (GET of an
HTML page) or gets 401 (everything else); a staff member on an admin-only page
gets 403. Forms carry a CSRF token bound to the browser session
(``Admin.csrf`` / ``Admin.check_csrf``), checked before anything else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from babel.dates import format_date, format_skeleton
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.routing import Match

from mailflow import auth
from mailflow.booking.model import Actor, ActorKind
from mailflow.errors import NotFound
from mailflow.i18n import gettext, languages, ngettext
from mailflow.services import catalog, sessions
from mailflow.store.engine import read_session
from mailflow.web.deps import Wiring, clock
from mailflow.web.i18n import accepted_language, language_name, translator
from mailflow.web.security import attach_session, csrf_token, csrf_valid, request_session

ADMIN_COOKIE = "mf_admin"
LANG_COOKIE = "mf_admin_lang"
LANG_COOKIE_SECONDS = 365 * 24 * 3600
ADMIN_LANGUAGES = languages()  # every language with a catalog, English first

templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent.parent / "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,  # the templates ship with the package: no stat() of each file per page
)


class NotSignedIn(Exception):
    """Raised by ``Admin.user`` when the request carries no valid admin session."""


class NotAllowed(Exception):
    """Raised by ``admin_only`` when the signed-in member is not an admin."""


class BadForm(Exception):
    """Raised by a ``csrf_guard`` dependency when a POST lacks a valid CSRF token."""


@dataclass
class Admin:
    """What every admin page needs: who is signed in, CSRF, rendering, the wiring."""

    wiring: Wiring
    """What the pages use of the wired application (engine, settings, notifier, wake)."""

    def user(self, request: Request, at: datetime) -> auth.SignedIn:
        """The staff member signed in at ``at`` (cached on the request); ``NotSignedIn`` otherwise."""
        cached = getattr(request.state, "mf_admin_user", None)
        if isinstance(cached, auth.SignedIn):
            return cached
        token = request.cookies.get(ADMIN_COOKIE)
        who = sessions.signed_in(self.wiring.engine, token, at)
        if who is None:
            raise NotSignedIn()
        request.state.mf_admin_user = who
        return who

    def csrf(self, request: Request, purpose: str) -> str:
        """The CSRF token for an admin form of ``purpose`` in this browser session and sign-in.

        It is bound to the signed-in session too (the hash of the admin cookie): a browser
        session cookie planted by someone else does not let their tokens act in this admin.
        """
        return csrf_token(
            self.wiring.secret, request_session(request), f"admin:{purpose}", signed_in_binding(request)
        )

    def check_csrf(self, request: Request, given: str | None, purpose: str) -> bool:
        return csrf_valid(self.wiring.secret, request, given, f"admin:{purpose}", signed_in_binding(request))

    def locale(self, request: Request) -> str:
        """The admin's language for ``request``: ``?lang=``, the cookie, the browser's, the business's."""
        cached = getattr(request.state, "mf_admin_locale", None)
        if isinstance(cached, str):
            return cached
        offered = ADMIN_LANGUAGES
        asked = [request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)]
        found = next((lang for lang in asked if lang in offered), None)
        found = found or accepted_language(request.headers.get("accept-language", ""), offered)
        found = found or self.business_language(offered)
        request.state.mf_admin_locale = found
        return found

    def business_language(self, offered: tuple[str, ...]) -> str:
        try:
            with read_session(self.wiring.engine) as session:
                default = catalog.default_business(session).default_locale
        except NotFound:  # the first run: no business yet
            return offered[0]
        return default if default in offered else offered[0]

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        """Render ``admin/<name>`` in the admin's language with the signed-in member (if any) as ``user``.

        A ``?lang=`` that names a language with a catalog is remembered in a cookie.
        """
        response = HTMLResponse(status_code=status)
        attach_session(request, response)
        context.setdefault("sign_out_csrf", self.csrf(request, "sign-out"))
        lang = self.locale(request)
        body = templates.get_template(f"admin/{name}").render(
            user=getattr(request.state, "mf_admin_user", None),
            _=translator(lang),
            ngettext=ngettext,
            lang=lang,
            day_label=lambda day, form: date_text(day, form, lang),
            language_menu=language_menu(request, lang),
            **context,
        )
        response.body = body.encode()
        response.headers["content-length"] = str(len(response.body))
        if request.query_params.get("lang") == lang:
            response.set_cookie(
                LANG_COOKIE,
                lang,
                max_age=LANG_COOKIE_SECONDS,
                httponly=True,
                samesite="lax",
                secure=self.wiring.settings.public_url.startswith("https://"),
                path="/admin",
            )
        return response


def signed_in_binding(request: Request) -> str:
    """What ties an admin CSRF token to the sign-in: the hash of the admin cookie ("" without one)."""
    token = request.cookies.get(ADMIN_COOKIE, "")
    return auth.token_hash(token) if token else ""


def date_text(value: date, form: str, locale: str) -> str:
    """``value`` as ``locale`` writes it: ``form`` "full" ("Tuesday, December 8, 2026"), "medium"
    ("Dec 8, 2026" / "08.12.2026") or a CLDR skeleton ("MMMEd": "Tue, Dec 8" / "Di., 8. Dez.")."""
    if form in ("full", "medium"):
        return str(format_date(value, form, locale=locale))
    return str(format_skeleton(form, value, locale=locale))


def page_to_switch(request: Request) -> tuple[str, dict[str, str]]:
    """The page a language link reloads: this one when it is a GET, else the nearest page above it."""
    if request.method == "GET":
        return request.url.path, dict(request.query_params)
    path = request.url.path
    while path.count("/") > 1:
        scope = {"type": "http", "method": "GET", "path": path, "root_path": ""}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            return path, dict(request.query_params) if path == request.url.path else {}
        path = path.rsplit("/", 1)[0]
    return "/admin", {}


def language_menu(request: Request, current: str) -> list[dict[str, str | bool]]:
    """The header's language links: each language's name in that language, and where it leads."""
    path, params = page_to_switch(request)
    return [
        {
            "code": code,
            "name": language_name(code),
            "href": f"{path}?{urlencode({**params, 'lang': code})}",
            "current": code == current,
        }
        for code in ADMIN_LANGUAGES
    ]


async def site(request: Request) -> Admin:
    """The admin side of this web app (a dependency; ``install`` puts it on ``app.state``)."""
    found: Admin = request.app.state.admin
    return found


def signed_in(request: Request, admin: Admin = Depends(site), at: datetime = Depends(clock)) -> auth.SignedIn:
    """The signed-in staff member (a dependency); ``NotSignedIn`` otherwise."""
    return admin.user(request, at)


def admin_only(who: auth.SignedIn = Depends(signed_in)) -> auth.SignedIn:
    """The signed-in admin (a dependency); ``NotAllowed`` for other staff."""
    if not who.is_admin:
        raise NotAllowed()
    return who


def csrf_guard(purpose: str) -> Callable[..., Awaitable[None]]:
    """A dependency that refuses (403) a form without a valid CSRF token for ``purpose``.

    List it before ``Depends(signed_in)``: the token is checked before anything
    else, so a forged POST gets 403 whether or not anyone is signed in.
    ``purpose`` may name path parameters, e.g. ``"booking:{ref}"``.
    """

    async def check(request: Request, admin: Admin = Depends(site)) -> None:
        given = (await request.form()).get("csrf")
        topic = purpose.format(**request.path_params)
        if not admin.check_csrf(request, given if isinstance(given, str) else None, topic):
            raise BadForm()

    return check


@dataclass(frozen=True)
class Desk:
    """One request of a signed-in member: who, when, and the admin side's tools (render, CSRF)."""

    request: Request
    admin: Admin
    who: auth.SignedIn
    now: datetime

    @property
    def site(self) -> Wiring:
        return self.admin.wiring

    @property
    def locale(self) -> str:
        """The language the member reads the admin in (see ``Admin.locale``); an error's text too."""
        return self.admin.locale(self.request)

    @property
    def actor(self) -> Actor:
        return Actor(ActorKind.STAFF, self.who.email)

    @property
    def own_staff_id(self) -> int | None:
        """Whose bookings the member sees: None (everyone's) for an admin, else their own."""
        return None if self.who.is_admin else self.who.staff_id

    def render(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return self.admin.render(self.request, name, status=status, **context)

    def csrf(self, purpose: str) -> str:
        return self.admin.csrf(self.request, purpose)


def desk(
    request: Request,
    admin: Admin = Depends(site),
    who: auth.SignedIn = Depends(signed_in),
    now: datetime = Depends(clock),
) -> Desk:
    """The preamble of a page for any signed-in member (a dependency); ``NotSignedIn`` otherwise."""
    return Desk(request, admin, who, now)


def admin_desk(
    request: Request,
    admin: Admin = Depends(site),
    who: auth.SignedIn = Depends(admin_only),
    now: datetime = Depends(clock),
) -> Desk:
    """The preamble of an admins-only page (a dependency); ``NotAllowed`` for other staff."""
    return Desk(request, admin, who, now)


def admins_only_page(admin: Admin, request: Request) -> Response:
    """403 for a staff member on an admin-only page: the admin layout (header, navigation, their
    language) with a sentence saying so and a way back to their bookings."""
    lang = admin.locale(request)
    return admin.render(
        request,
        "notice.html",
        status=403,
        title=gettext(lang, "Only admins may open this page."),
        lines=[
            gettext(
                lang,
                "This page is for the business's admins. Ask an admin if something here needs changing.",
            )
        ],
        links=[{"href": "/admin/bookings", "text": gettext(lang, "Back to your bookings")}],
    )


def install(
    web: FastAPI, wiring: Wiring, routers: Sequence[APIRouter], dependencies: Sequence[Any] = ()
) -> Admin:
    """Add the admin ``routers`` (in this order) and the sign-in redirects to ``web``.

    The ``Admin`` goes on ``web.state.admin`` (the ``site`` dependency). ``dependencies``
    run before those of every admin route (``Depends(…)`` objects). The admin's pages and
    forms are not the JSON API: they stay out of the OpenAPI document.
    """
    admin = Admin(wiring)
    web.state.admin = admin
    for router in routers:
        web.include_router(router, dependencies=list(dependencies), include_in_schema=False)

    @web.exception_handler(NotSignedIn)
    def _not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        wants_page = request.method == "GET" and "text/html" in request.headers.get("accept", "")
        if wants_page:
            target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""), safe="")
            return RedirectResponse(f"/admin/sign-in?next={target}", status_code=303)
        text = gettext(admin.locale(request), "Sign in first.")
        return Response(f"{text}\n", status_code=401, media_type="text/plain")

    @web.exception_handler(BadForm)
    def _bad_form(request: Request, exc: BadForm) -> Response:
        text = gettext(
            admin.locale(request),
            "This form has expired or did not come from this site: reload the page and try again.",
        )
        return Response(f"{text}\n", status_code=403, media_type="text/plain")

    @web.exception_handler(NotAllowed)
    def _not_allowed(request: Request, exc: NotAllowed) -> Response:
        return admins_only_page(admin, request)

    return admin
