"""Rendering the customer pages: a page, a short message page, and the 403, 404 and 429 pages."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from mailflow.i18n import gettext
from mailflow.services import catalog
from mailflow.store.engine import read_session
from mailflow.web.i18n import language_name, offered_languages, page_locale, translator
from mailflow.web.security import attach_session, csrf_token, request_session

if TYPE_CHECKING:
    from mailflow.store.tables import Business
    from mailflow.web.deps import Wiring

__all__ = [
    "LanguageLink",
    "forbidden",
    "language_menu",
    "not_found",
    "not_set_up",
    "render",
    "simple",
    "too_many",
]

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,  # the templates ship with the package: no stat() of each file per page
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
    """Render a page; its language menu links to ``switch_path`` (default: this GET page)."""
    response = HTMLResponse(status_code=status)
    attach_session(request, response)
    body = _templates.get_template(name).render(
        _=translator(locale),
        locale=locale,
        business=business,
        page_languages=language_menu(request, locale, business, switch_path),
        colon=partial(label_colon, locale),
        **context,
    )
    response.body = body.encode()
    response.headers["content-length"] = str(len(response.body))
    return response


def label_colon(locale: str, label: str) -> str:
    """``label`` followed by a colon as ``locale`` writes it ("Phone:", in French "Téléphone :")."""
    return gettext(locale, "label_colon", label=label)


@dataclass(frozen=True, slots=True)
class LanguageLink:
    """One entry of the customer pages' language menu."""

    code: str
    name: str
    href: str
    current: bool


def language_menu(
    request: Request, locale: str, business: Business, switch_path: str | None = None
) -> list[LanguageLink]:
    """The business's languages that have pages, each a link to this page in it; ``locale`` is current.

    The link goes to ``switch_path`` when given (a path, perhaps with a query: the GET page
    behind a POST's answer, or a page that must not repeat its own path), else to this GET page
    with its query; ``lang`` is set on either. A POST's page without ``switch_path`` and a
    business with one language get no menu.
    """
    if switch_path is None and request.method != "GET":
        return []
    offered = offered_languages(business) if business.locales else ()
    if len(offered) < 2:
        return []
    if switch_path is None:
        path, query = request.url.path, dict(request.query_params)
    else:
        parts = urlsplit(switch_path)
        path, query = parts.path, dict(parse_qsl(parts.query))

    def href(code: str) -> str:
        return f"{path}?{urlencode({**query, 'lang': code})}"

    return [LanguageLink(code, language_name(code), href(code), code == locale) for code in offered]


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
    lang = locale or page_locale(request, business)
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
    lang = page_locale(request, business)
    t = translator(lang)
    # The menu leads to the booking page: the form behind this answer may have no GET page.
    return simple(
        request, business, lang, t("forbidden_title"), [t("forbidden_text")], 403, switch_path="/book"
    )


def too_many(request: Request, site: Wiring) -> HTMLResponse:
    """The 429 page of a client over one of the limits."""
    with read_session(site.engine) as session:
        business = catalog.default_business(session)
    lang = page_locale(request, business)
    response = simple(request, business, lang, gettext(lang, "too_many"), [], 429, switch_path="/book")
    response.headers["Retry-After"] = "600"
    return response


@dataclass(frozen=True, slots=True)
class _NoBusiness:
    """What the page layout shows of a business, before there is one."""

    name: str = "mailflow"
    address: str = ""
    phone: str = ""
    email: str = ""
    locales: tuple[str, ...] = ()
    default_locale: str = "en"


def not_set_up(request: Request) -> HTMLResponse:
    """The 503 page of the customer pages while no business exists yet (a fresh database)."""
    lang = page_locale(request, _NoBusiness())  # every language with a catalog
    title = gettext(lang, "This booking site is not set up yet")
    line = gettext(lang, "Please come back later.")
    response = simple(request, _NoBusiness(), lang, title, [line], 503)  # type: ignore[arg-type]
    response.headers["Retry-After"] = "3600"
    return response
