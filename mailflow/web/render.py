"""Rendering the customer pages: a page, a short message page, and the 403, 404 and 429 pages."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from mailflow.i18n import gettext
from mailflow.services import catalog
from mailflow.store.engine import read_session
from mailflow.web.i18n import page_locale, translator
from mailflow.web.security import attach_session, csrf_token, request_session

if TYPE_CHECKING:
    from mailflow.store.tables import Business
    from mailflow.web.deps import Wiring

__all__ = ["forbidden", "not_found", "render", "simple", "too_many"]

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(
    request: Request,
    name: str,
    locale: str,
    business: Business,
    status: int = 200,
    switch_path: str | None = None,
    **context: Any,
) -> HTMLResponse:
    """Render a page; the language link points at ``switch_path`` (default: this GET page)."""
    response = HTMLResponse(status_code=status)
    attach_session(request, response)
    other = "de" if locale == "en" else "en"
    if switch_path is not None:
        lang_switch: str | None = f"{switch_path}?lang={other}"
    elif request.method == "GET":
        lang_switch = f"{request.url.path}?{urlencode({**request.query_params, 'lang': other})}"
    else:
        lang_switch = None
    body = _templates.get_template(name).render(
        _=translator(locale), locale=locale, business=business, lang_switch=lang_switch, **context
    )
    response.body = body.encode()
    response.headers["content-length"] = str(len(response.body))
    return response


def simple(
    request: Request,
    business: Business,
    locale: str,
    title: str,
    lines: list[str],
    status: int,
    **extra: Any,
) -> HTMLResponse:
    """A message page: a title, some lines, perhaps a booking (``view``) and ``links``."""
    return render(
        request,
        "message.html",
        locale,
        business,
        status=status,
        title=title,
        lines=lines,
        view=extra.pop("view", None),
        links=extra.pop("links", []),
        **extra,
    )


def not_found(request: Request, site: Wiring, locale: str | None = None) -> HTMLResponse:
    """The one 404 page of unknown, expired and tampered links, with the "find my booking" form."""
    with read_session(site.engine) as session:
        business = catalog.default_business(session)
    lang = page_locale(locale or request.query_params.get("lang"), business.default_locale)
    t = translator(lang)
    return simple(
        request,
        business,
        lang,
        t("not_found_title"),
        [t("not_found_text")],
        404,
        switch_path="/m",  # never the requested path: the page must not echo the token
        show_find=True,
        csrf=csrf_token(site.secret, request_session(request), "find"),
    )


def forbidden(request: Request, site: Wiring) -> HTMLResponse:
    """The 403 page of a form without a valid CSRF token."""
    with read_session(site.engine) as session:
        business = catalog.default_business(session)
    lang = page_locale(request.query_params.get("lang"), business.default_locale)
    t = translator(lang)
    return simple(request, business, lang, t("forbidden_title"), [t("forbidden_text")], 403)


def too_many(request: Request, site: Wiring) -> HTMLResponse:
    """The 429 page of a client over one of the limits."""
    with read_session(site.engine) as session:
        business = catalog.default_business(session)
    lang = page_locale(request.query_params.get("lang"), business.default_locale)
    response = simple(request, business, lang, gettext(lang, "too_many"), [], 429)
    response.headers["Retry-After"] = "600"
    return response
