"""The admin side (``/admin/…``): sign-in, templates, settings, bookings.

Each area module (``bookings``, ``staff``, …) has a module-level ``router``
whose endpoints take what they use as FastAPI dependencies: ``site`` (the
``Admin`` that ``install`` puts on ``app.state.admin``: rendering, CSRF tokens,
the customer pages' ``Wiring``), ``signed_in`` (any signed-in staff member) or
``admin_only`` (role admin), ``csrf_guard(purpose)`` and ``clock`` (from
``web/deps.py``: tests set the time through ``app.dependency_overrides[clock]``).
Most pages take all of it at once as a ``Desk`` (``desk`` for any member,
``admin_desk`` for admins): the request, the member, the time, render and CSRF.

A visitor who is not signed in is redirected to the sign-in page (GET of an
HTML page) or gets 401 (everything else); a staff member on an admin-only page
gets 403. Forms carry a CSRF token bound to the browser session
(``Admin.csrf`` / ``Admin.check_csrf``), checked before anything else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from mailflow import auth
from mailflow.booking.model import Actor, ActorKind
from mailflow.services import sessions
from mailflow.web.deps import Wiring, clock
from mailflow.web.security import attach_session, csrf_token, csrf_valid, request_session

ADMIN_COOKIE = "mf_admin"

templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent.parent / "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
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
        """The CSRF token for an admin form of ``purpose`` in this browser session."""
        return csrf_token(self.wiring.secret, request_session(request), f"admin:{purpose}")

    def check_csrf(self, request: Request, given: str | None, purpose: str) -> bool:
        return csrf_valid(self.wiring.secret, request, given, f"admin:{purpose}")

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        """Render ``admin/<name>`` with the signed-in member (if any) as ``user``."""
        response = HTMLResponse(status_code=status)
        attach_session(request, response)
        context.setdefault("sign_out_csrf", self.csrf(request, "sign-out"))
        body = templates.get_template(f"admin/{name}").render(
            user=getattr(request.state, "mf_admin_user", None), **context
        )
        response.body = body.encode()
        response.headers["content-length"] = str(len(response.body))
        return response


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
        """The member's language, in which the pages show an error's text (``error.text(locale)``)."""
        return self.who.locale

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


def install(
    web: FastAPI, wiring: Wiring, routers: Sequence[APIRouter], dependencies: Sequence[Any] = ()
) -> Admin:
    """Add the admin ``routers`` (in this order) and the sign-in redirects to ``web``.

    The ``Admin`` goes on ``web.state.admin`` (the ``site`` dependency). ``dependencies``
    run before those of every admin route (``Depends(…)`` objects).
    """
    admin = Admin(wiring)
    web.state.admin = admin
    for router in routers:
        web.include_router(router, dependencies=list(dependencies))

    @web.exception_handler(NotSignedIn)
    def _not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        wants_page = request.method == "GET" and "text/html" in request.headers.get("accept", "")
        if wants_page:
            target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""), safe="")
            return RedirectResponse(f"/admin/sign-in?next={target}", status_code=303)
        return Response("sign in first\n", status_code=401, media_type="text/plain")

    @web.exception_handler(BadForm)
    def _bad_form(request: Request, exc: BadForm) -> Response:
        return Response(
            "This form has expired or did not come from this site: reload the page and try again.\n",
            status_code=403,
            media_type="text/plain",
        )

    @web.exception_handler(NotAllowed)
    def _not_allowed(request: Request, exc: NotAllowed) -> Response:
        return Response("admins only\n", status_code=403, media_type="text/plain")

    return admin
