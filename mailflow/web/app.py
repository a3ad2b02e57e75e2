"""The FastAPI application. Built by ``mailflow.runtime``; holds no global state.

``create_web_app`` takes the ``WebParts`` of the wiring (``mailflow.parts``):
the customer pages and the admin get a ``web.deps.Wiring`` made from them on
``app.state``, the API (``mailflow.api``) an ``Api`` of the ``UseCases`` alone on
``app.state.api``, where its routes (built once per process) find it.
"""

from __future__ import annotations

import email
import email.policy
import logging
import mailbox
from email.message import EmailMessage
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from sqlalchemy import exc as sa_exc

from mailflow.errors import MailflowError, NoBusinessYet
from mailflow.store.engine import database_unavailable
from mailflow.store.migrate import ensure_migrated

if TYPE_CHECKING:
    from mailflow.parts import WebParts

log = logging.getLogger("mailflow.web")

UNAVAILABLE = "the database is unavailable right now: try again in a minute"
RETRY_AFTER = "10"  # seconds, in the 503 answers while the database is away
DEV_MAIL_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"


def create_web_app(parts: WebParts) -> FastAPI:
    """The web application: pages, admin, API, health and metrics, on ``parts``."""
    from fastapi.staticfiles import StaticFiles
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    from mailflow.api import DOCS_ASSETS, SWAGGER_UI_FILES, Api, build_api
    from mailflow.metrics import CONTENT_TYPE_LATEST, Metrics
    from mailflow.web import book, feed, find, manage
    from mailflow.web.admin import api_keys, closures, setup, templates_editor, templates_simple, webhooks
    from mailflow.web.admin import booking as admin_booking
    from mailflow.web.admin import bookings as admin_bookings
    from mailflow.web.admin import customers as admin_customers
    from mailflow.web.admin import install as install_admin
    from mailflow.web.admin import settings as admin_settings
    from mailflow.web.admin import signin as admin_signin
    from mailflow.web.admin import staff as admin_staff
    from mailflow.web.admin import staff_calendars as admin_staff_calendars
    from mailflow.web.deps import Answered, Limits, Wiring
    from mailflow.web.render import not_set_up
    from mailflow.web.security import NulInInput, SecurityHeaders, redact, refuse_nul

    # /docs comes with the API (Swagger UI needs its own content security policy), its files below.
    web = FastAPI(title="mailflow", version="0.1.0", docs_url=None, redoc_url=None)
    engine = parts.use_cases.engine
    metrics = Metrics(engine)
    # One middleware does headers, the access log and the latency for /metrics: each layer costs.
    web.add_middleware(SecurityHeaders, observe=metrics.observe)
    trusted = [str(network) for network in parts.settings.proxies]
    if trusted:
        # Outermost: X-Forwarded-For/-Proto count only from MAILFLOW_TRUSTED_PROXIES (uvicorn's own
        # handling, which trusts 127.0.0.1 by default, is off: see mailflow.runtime).
        web.add_middleware(ProxyHeadersMiddleware, trusted_hosts=trusted)

    @web.get("/metrics", include_in_schema=False)
    def metrics_page() -> Response:
        """Prometheus exposition: store counts (all processes) and this process's request latency."""
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    web.mount("/static", StaticFiles(directory=Path(__file__).with_name("static")), name="static")
    web.mount(DOCS_ASSETS, StaticFiles(directory=SWAGGER_UI_FILES), name="docs-assets")
    # The customer pages (manage, find, book) take what they use from app.state (web/deps.py).
    web.state.wiring = Wiring(
        use_cases=parts.use_cases,
        settings=parts.settings,
        secret=parts.secret,
        limits=Limits.of(parts.settings),
        wake=parts.wake,
    )
    # The OpenAPI document is the JSON API's alone: pages, forms and probes stay out of it.
    for pages in (manage.router, find.router, book.router, feed.router):
        web.include_router(pages, dependencies=[Depends(refuse_nul)], include_in_schema=False)
    web.state.api = Api(parts.use_cases)  # what the API's shared routes call (api.context.current_api)
    web.include_router(build_api())
    admin_routers = [
        setup.router,
        admin_signin.router,
        admin_staff.router,
        admin_staff_calendars.router,
        admin_settings.router,
        closures.router,
        admin_bookings.router,  # /admin/bookings/new before /admin/bookings/{ref}
        admin_booking.router,
        admin_customers.router,
        templates_simple.router,
        templates_editor.router,
        api_keys.router,
        webhooks.router,
    ]
    web.state.sign_in_limits = admin_signin.SignInLimits.new()
    install_admin(web, web.state.wiring, admin_routers, dependencies=[Depends(refuse_nul)])

    @web.exception_handler(Answered)
    async def _answered(request: Request, exc: Answered) -> Response:
        return exc.response  # a dependency's 403, 404 or 429 page, as it rendered it

    @web.exception_handler(NoBusinessYet)
    def _no_business_yet(request: Request, exc: NoBusinessYet) -> Response:
        """Before the set-up the customer pages have no business to show: a page saying so, not a 500."""
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=404)
        return not_set_up(request)

    @web.exception_handler(NulInInput)
    def _nul_in_input(request: Request, exc: NulInInput) -> Response:
        return Response(
            "The request contains a NUL character, which no field may hold: remove it and try again.\n",
            status_code=400,
            media_type="text/plain",
        )

    @web.exception_handler(sa_exc.DBAPIError)
    @web.exception_handler(sa_exc.TimeoutError)
    def _database_unavailable(request: Request, exc: Exception) -> Response:
        """503 with Retry-After while the database is down or restarting, instead of a bare 500."""
        if not database_unavailable(exc):
            raise exc  # a real fault: the server's 500 and its traceback in the log
        where = redact(request.url.path)
        log.warning("%s %s: %s (%s)", request.method, where, UNAVAILABLE, type(exc).__name__)
        headers = {"Retry-After": RETRY_AFTER}
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": UNAVAILABLE}, status_code=503, headers=headers)
        return PlainTextResponse(f"Sorry, {UNAVAILABLE}.\n", status_code=503, headers=headers)

    @web.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @web.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        """Readiness: the database answers and is migrated."""
        try:
            ensure_migrated(engine)
        except MailflowError as exc:
            return JSONResponse({"status": "unavailable", "detail": str(exc)}, status_code=503)
        except Exception as exc:
            return JSONResponse(
                {"status": "unavailable", "detail": f"database: {type(exc).__name__}"}, status_code=503
            )
        failing = {
            name: status() for name, status in parts.health.items() if status() not in ("ok", "starting")
        }
        if failing:
            return JSONResponse({"status": "unavailable", "detail": failing}, status_code=503)
        return JSONResponse({"status": "ok"})

    if parts.maildir is not None:
        # Open to anyone only when nobody but this host reaches the web listener (DESIGN §10).
        open_to_all = parts.settings.web_on_loopback and not parts.settings.proxies
        _add_dev_mail(web, parts.maildir, open_to_all)
    return web


def _messages(path: Path) -> list[tuple[str, EmailMessage, float]]:
    box = mailbox.Maildir(path, factory=None, create=True)
    found = []
    for key in box.iterkeys():
        raw = box.get_bytes(key)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        found.append((key, message, box.get_message(key).get_date()))
    return sorted(found, key=lambda item: item[2], reverse=True)


def _add_dev_mail(web: FastAPI, path: Path, open_to_all: bool) -> None:
    """``/dev/mail``: the maildir transport's messages, newest first, and each one rendered.

    The mail holds password-reset and invitation links, so unless ``open_to_all`` (the web
    listener is on loopback and no proxy forwards to it) only a signed-in admin may read it.
    """
    from mailflow.web.admin import admin_only

    guard = [] if open_to_all else [Depends(admin_only)]

    @web.get("/dev/mail", response_class=HTMLResponse, dependencies=guard, include_in_schema=False)
    def dev_mail_index() -> HTMLResponse:
        rows = "".join(
            f"<tr><td>{escape(str(m['Date'] or ''))}</td><td>{escape(str(m['X-Mailflow-Kind'] or ''))}</td>"
            f"<td>{escape(str(m['To'] or ''))}</td><td><a href='/dev/mail/{escape(key)}'>"
            f"{escape(str(m['Subject'] or '(no subject)'))}</a></td>"
            f"<td>{escape(str(m['X-Mailflow-Booking'] or ''))}</td></tr>"
            for key, m, _ in _messages(path)
        )
        page = (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>mailflow: sent mail</title>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse;width:100%}"
            "td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left;font-size:.9rem}</style></head>"
            f"<body><h1>Sent mail</h1><p>{escape(str(path))}</p><table><thead><tr><th>Date</th><th>Kind</th>"
            f"<th>To</th><th>Subject</th><th>Booking</th></tr></thead><tbody>{rows or ''}</tbody></table>"
            + ("" if rows else "<p>No messages yet.</p>")
            + "</body></html>"
        )
        return HTMLResponse(page, headers={"Content-Security-Policy": DEV_MAIL_CSP})

    def _one(key: str) -> EmailMessage:
        box = mailbox.Maildir(path, factory=None, create=True)
        if key not in set(box.iterkeys()):
            raise HTTPException(status_code=404)
        message = email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return message

    @web.get("/dev/mail/{key}.eml", dependencies=guard, include_in_schema=False)
    def dev_mail_raw(key: str) -> Response:
        return Response(_one(key).as_bytes(), media_type="message/rfc822")

    @web.get("/dev/mail/{key}", response_class=HTMLResponse, dependencies=guard, include_in_schema=False)
    def dev_mail_message(key: str) -> HTMLResponse:
        message = _one(key)
        body = message.get_body(("html", "plain"))
        content = body.get_content() if body is not None else ""
        if body is not None and body.get_content_type() == "text/plain":
            content = f"<pre>{escape(content)}</pre>"
        # Links stay as they are so a newcomer can click "Manage booking"; scripts cannot run (CSP).
        return HTMLResponse(content, headers={"Content-Security-Policy": DEV_MAIL_CSP})
