"""The customer pages' languages; their words are in the gettext catalogs (mailflow/i18n.py).

A customer page speaks the first of these that the business offers (``business.locales``
with a catalog):

1. ``?lang=`` — the language menu and every link of the pages and the customer emails carry it;
2. on a booking's pages (``/m/{token}…``), the customer's stored language: a manage link
   belongs to one customer, whatever browser opens it;
3. the browser's ``Accept-Language``, by its weights (``de-AT`` counts as ``de``);
4. the business's default language (else its first offered one, else English).

A ``?lang=`` the business does not offer counts as absent: the page falls through to the next
step instead of showing a language the business never chose.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

from mailflow.errors import InvalidInput, MailflowError
from mailflow.i18n import N_, language_name, languages, translations

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = [
    "PAGE_LOCALES",
    "accepted_language",
    "error_text",
    "language_name",
    "offered_languages",
    "page_locale",
    "translator",
]

PAGE_LOCALES = languages()  # every language with a catalog: ("en", "de", "fr")

# Looked up under a computed name (``"status_" ~ view.status``, ``f"{what}_title"``).
COMPUTED = (
    N_("status_confirmed"),
    N_("status_cancelled"),
    N_("rescheduled_title"),
    N_("rescheduled_text"),
    N_("cancelled_title"),
    N_("cancelled_text"),
)

FIELD_NAMES = {
    "customer.name": N_("field_name"),
    "customer.email": N_("field_email"),
    "customer.phone": N_("field_phone"),
    "note": N_("field_note"),
    "reason": N_("field_reason"),
    "message": N_("field_message"),
}
"""The customer forms' fields as the service layer names them, and the words a page uses."""


class Offering(Protocol):
    """What the language choice reads of a business (a ``Business`` row, or none yet)."""

    @property
    def locales(self) -> Sequence[str]: ...

    @property
    def default_locale(self) -> str: ...


def offered_languages(business: Offering) -> tuple[str, ...]:
    """The business's languages that have pages, in the business's order (all of them before
    there is a business, or when it names none with a catalog)."""
    offered = tuple(code for code in business.locales if code in PAGE_LOCALES)
    return offered or PAGE_LOCALES


def accepted_language(header: str, offered: Sequence[str]) -> str | None:
    """The first of ``offered`` that an Accept-Language ``header`` asks for, by its weights.

    A region falls back to its language (``de-AT`` -> ``de``), ``q=0`` refuses a language,
    a malformed weight counts as a refusal.

    >>> accepted_language("fr-CH, de;q=0.9, en;q=0.8", ("en", "de"))
    'de'
    """
    weighted = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        if tag and weight > 0:
            weighted.append((-weight, position, tag.strip().lower()))
    for _weight, _position, tag in sorted(weighted):
        found = _offered_form(tag, offered)
        if found is not None:
            return found
    return None


def _offered_form(code: str | None, offered: Sequence[str]) -> str | None:
    """``code`` or its language (``de-AT``, ``de_AT`` -> ``de``) when ``offered``, else None."""
    if not code:
        return None
    code = code.strip()
    for candidate in (code, code.replace("_", "-").split("-")[0].lower()):
        if candidate in offered:
            return candidate
    return None


def page_locale(request: Request, business: Offering, *, stored: str | None = None) -> str:
    """The language of a customer page for ``request`` (the order is the module's docstring):
    ``?lang=``, the customer's ``stored`` language (a booking's pages), ``Accept-Language``,
    the business's default language."""
    offered = offered_languages(business)
    for candidate in (request.query_params.get("lang"), stored):
        found = _offered_form(candidate, offered)
        if found is not None:
            return found
    found = accepted_language(request.headers.get("accept-language", ""), offered)
    return found or _offered_form(business.default_locale, offered) or offered[0]


@lru_cache(maxsize=16)
def translator(locale: str) -> Callable[[str], str]:
    """``_("key")`` for the page templates: the catalog text of ``key`` in ``locale``."""
    return translations(locale).gettext


def error_text(error: MailflowError, locale: str) -> str:
    """``error``'s message for a customer page in ``locale``; a field of the customer's forms
    is named in the page's words ("Name: höchstens 200 Zeichen", never "customer.name: …")."""
    if isinstance(error, InvalidInput) and error.field in FIELD_NAMES:
        return error.text(locale, translator(locale)(FIELD_NAMES[error.field]))
    return error.text(locale)
