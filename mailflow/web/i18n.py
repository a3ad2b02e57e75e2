"""The customer pages' languages; their words are in the gettext catalogs (mailflow/i18n.py)."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from mailflow.i18n import N_, language_name, languages, translations

__all__ = ["PAGE_LOCALES", "language_name", "page_locale", "translator"]

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


def page_locale(wanted: str | None, fallback: str) -> str:
    for candidate in (wanted, (wanted or "")[:2], fallback, "en"):
        if candidate in PAGE_LOCALES:
            return candidate
    return "en"


@lru_cache(maxsize=16)
def translator(locale: str) -> Callable[[str], str]:
    """``_("key")`` for the page templates: the catalog text of ``key`` in ``locale``."""
    return translations(locale).gettext
