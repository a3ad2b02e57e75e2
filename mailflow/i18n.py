"""Every sentence a person reads comes from the gettext catalogs in ``mailflow/locale``.

``mailflow/locale/<lang>/LC_MESSAGES/mailflow.po`` holds a language; the compiled ``.mo``
next to it is committed (``pybabel compile``) so an editable install and a wheel read the
same files, and ``scripts/catalogs check`` checks that each ``.mo`` matches its ``.po``.
Translations are loaded once per language and cached: no file I/O per message.
A missing text falls back from the reader's language to English.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from babel import Locale, UnknownLocaleError
from babel.support import NullTranslations, Translations

DOMAIN = "mailflow"
LOCALE_DIR = Path(__file__).with_name("locale")
FALLBACK = "en"


def languages() -> tuple[str, ...]:
    """The languages with a compiled catalog, English first (a new catalog is a new language)."""
    found = sorted(path.parent.parent.name for path in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.mo"))
    return (FALLBACK, *(language for language in found if language != FALLBACK))


@lru_cache(maxsize=64)  # bounded: a stored locale is any short string
def language_name(language: str) -> str:
    """The name of ``language`` in that language, as a label ("English", "Deutsch", "Français").

    From Babel's locale data, so a new catalog needs no name written anywhere; the first letter
    is upper case because the name stands alone (a menu entry, an option), and an unknown code
    is shown as it is.
    """
    try:
        locale = Locale.parse(language.replace("-", "_"))
        name = locale.get_display_name(locale) or language
    except (UnknownLocaleError, ValueError):
        return language
    return name[:1].upper() + name[1:]


def language_names(codes: Iterable[str] | None = None) -> dict[str, str]:
    """``{code: name}`` of ``codes`` (default: every language with a catalog), in that order."""
    return {code: language_name(code) for code in (languages() if codes is None else codes)}


def N_(msgid: str) -> str:
    """Mark ``msgid`` for extraction where the text is looked up later under a computed name."""
    return msgid


class Term(str):
    """A marked word or phrase filled into another text (``Term(N_("staff member"))``): it is
    translated together with the text it goes into, and compares as its English msgid."""

    __slots__ = ()


class Plural(NamedTuple):
    """A text with plural forms, marked with ``Nn_``; the value ``n`` picks the form when it is shown."""

    singular: str
    plural: str


def Nn_(singular: str, plural: str) -> Plural:  # gettext's marker style, like N_
    """Mark a text with plural forms for extraction (``{n}`` is the count); looked up when shown."""
    return Plural(singular, plural)


@lru_cache(maxsize=64)  # bounded: a stored locale is any short string
def translations(locale: str) -> NullTranslations:
    """The catalog of ``locale`` with English behind it (loaded once per language)."""
    english = Translations.load(str(LOCALE_DIR), [FALLBACK], DOMAIN)
    if locale == FALLBACK:
        return english
    catalog = Translations.load(str(LOCALE_DIR), [locale], DOMAIN)
    if not isinstance(catalog, Translations):  # no catalog for this language: English
        return english
    catalog.add_fallback(english)
    return catalog


def gettext(locale: str, msgid: str, /, **values: object) -> str:
    """The text ``msgid`` in ``locale`` (English when missing), with ``values`` filled in
    (positional-only arguments: a value may be called ``locale``)."""
    text = translations(locale).gettext(msgid)
    return text.format(**values) if values else text


def ngettext(locale: str, singular: str, plural: str, n: int, /, **values: object) -> str:
    """The text for ``n`` things in ``locale`` by its plural rule; ``{n}`` is filled in too."""
    text = translations(locale).ngettext(singular, plural, n)
    return text.format(n=n, **values)
