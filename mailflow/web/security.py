"""Web security: sessions, CSRF tokens, rate limits, headers, and access logs without tokens.

CSRF tokens are an HMAC of (purpose, browser session, manage token) under the
secret key, so checking one needs no database and a token for one booking or
session is worthless for another. Rate limits are in-process sliding windows:
enough for one process per host; behind several processes each counts its own.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable

from fastapi import Request, Response
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailflow.logs import new_request_id, request_id
from mailflow.ratelimit import RateLimiter

__all__ = [
    "NulInInput",
    "RateLimiter",
    "SecurityHeaders",
    "attach_session",
    "csrf_token",
    "csrf_valid",
    "public_https",
    "refuse_nul",
    "renew_session",
    "request_session",
]

Observer = Callable[[str, str, int, float], None]
SESSION_COOKIE = "mf_session"
CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_TOKEN_IN_PATH = re.compile(r"^(/m|/cal|/admin/reset|/admin/welcome)/[^/?]+")

access_log = logging.getLogger("mailflow.access")


def session_id(request: Request) -> str | None:
    value = request.cookies.get(SESSION_COOKIE, "")
    return value if re.fullmatch(r"[A-Za-z0-9_-]{32,64}", value) else None


def request_session(request: Request) -> str:
    """This request's browser session id: the cookie's, or a new one (set by ``attach_session``)."""
    cached: str | None = getattr(request.state, "mf_session", None)
    if cached is not None:
        return cached
    existing = session_id(request)
    request.state.mf_session = existing or secrets.token_urlsafe(24)
    request.state.mf_session_new = existing is None
    return str(request.state.mf_session)


def public_https(request: Request) -> bool:
    """Whether cookies must be ``Secure``: the public URL is https (whatever the hop to us was),
    or this request came over https."""
    wiring = getattr(request.app.state, "wiring", None)
    public_url = str(getattr(getattr(wiring, "settings", None), "public_url", ""))
    return public_url.startswith("https://") or request.url.scheme == "https"


def attach_session(request: Request, response: Response) -> None:
    """Set the session cookie on ``response`` when this request started a new session."""
    if getattr(request.state, "mf_session_new", False):
        _set_session_cookie(request, response, request_session(request))


def renew_session(request: Request, response: Response) -> None:
    """Give the browser a new session id (at sign-in: one planted before it is worthless now)."""
    request.state.mf_session = secrets.token_urlsafe(24)
    request.state.mf_session_new = False
    _set_session_cookie(request, response, request.state.mf_session)


def _set_session_cookie(request: Request, response: Response, value: str) -> None:
    response.set_cookie(
        SESSION_COOKIE, value, httponly=True, samesite="lax", secure=public_https(request), path="/"
    )


def csrf_token(secret: str, session: str, purpose: str, subject: str = "") -> str:
    """The CSRF token for a form of ``purpose`` about ``subject`` in browser ``session``."""
    message = f"{purpose}\x00{session}\x00{subject}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def csrf_valid(secret: str, request: Request, given: str | None, purpose: str, subject: str = "") -> bool:
    session = session_id(request)
    if not session or not given:
        return False
    # As bytes: compare_digest raises TypeError for a str with non-ASCII characters (a forged token).
    expected = csrf_token(secret, session, purpose, subject).encode()
    return hmac.compare_digest(expected, given.encode("utf-8", "surrogateescape"))


class NulInInput(Exception):
    """Raised by ``refuse_nul``: a page request carries a NUL character (answered 400)."""


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def refuse_nul(request: Request) -> None:
    """Refuse a NUL character in a path or query parameter or a form field (a router dependency).

    No page has a use for one and no database text holds one (PostgreSQL refuses
    it: the query fails). It is checked before anything else, the CSRF token
    included; such a request changes nothing either way. The JSON API has its
    own check (``mailflow.api.errors.refuse_nul_parameters`` and its models).
    """
    values = [str(value) for value in request.path_params.values()]
    values += [value for _name, value in request.query_params.multi_items()]
    if request.method == "POST" and request.headers.get("content-type", "").startswith(FORM_TYPES):
        form = await request.form()  # parsed once: the endpoint's Form fields read the same
        values += [value for _name, value in form.multi_items() if isinstance(value, str)]
    if any("\x00" in value for value in values):
        raise NulInInput()


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def redact(path: str) -> str:
    """``/m/<token>/cancel`` -> ``/m/…/cancel`` (and the feeds' ``/cal/<token>.ics``, the admin's
    one-time links): tokens never reach a log."""
    return _TOKEN_IN_PATH.sub(r"\1/…", path)


_DEFAULT_HEADERS = (
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", CSP),
)
_NO_STORE = ("/m", "/book", "/admin", "/dev/mail")


class SecurityHeaders:
    """Security headers on every response, one access-log line with the token redacted, the latency.

    ``observe(method, route template, status, seconds)`` receives each request's
    latency (for ``/metrics``); the route is the template (``/m/{token}``), never the path.

    A plain ASGI middleware that adds the headers to the response's start message: Starlette's
    ``BaseHTTPMiddleware`` ran every request through a second task and a response stream,
    which cost more CPU than a small page's own work.
    """

    def __init__(self, app: ASGIApp, observe: Observer | None = None) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        current = new_request_id(Headers(scope=scope).get("x-request-id"))
        path: str = scope.get("path", "")
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-Id"] = current
                for name, value in _DEFAULT_HEADERS:
                    headers.setdefault(name, value)
                if path.startswith(_NO_STORE):
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        context = request_id.set(current)
        try:
            await self.app(scope, receive, send_with_headers)
            seconds = time.perf_counter() - started
            access_log.info("%s %s %d %.1fms", scope["method"], redact(path), status, seconds * 1000)
            if self.observe is not None:
                route = getattr(scope.get("route"), "path", None) or "(unmatched)"
                self.observe(scope["method"], route, status, seconds)
        finally:
            request_id.reset(context)
