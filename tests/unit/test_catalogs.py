"""The gettext catalogs: complete for every language, compiled, and read with English behind."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from mailflow import catalogs
from mailflow.i18n import gettext, language_name, language_names, ngettext, translations
from mailflow.outbound.i18n import message
from mailflow.outbound.templates import default_locales
from mailflow.web.i18n import PAGE_LOCALES, translator


def test_every_page_language_has_a_catalog() -> None:
    assert set(PAGE_LOCALES) <= set(catalogs.languages())
    assert {"en", "de", "fr"} <= set(catalogs.languages())
    assert PAGE_LOCALES[0] == "en" and set(PAGE_LOCALES) == set(catalogs.languages())


@pytest.mark.parametrize("language", catalogs.languages())
def test_catalog_is_complete_untranslated_free_and_compiled(language: str) -> None:
    """Every extracted msgid is in the catalog, translated, not fuzzy, and the .mo matches the .po."""
    assert catalogs.catalog_problems(language, catalogs.extracted()) == []


def test_every_template_folder_has_every_kind() -> None:
    assert catalogs.template_problems() == []


def test_every_language_is_a_catalog_and_a_template_folder() -> None:
    """Each catalog has its email templates and each template folder its catalog (en, de and fr)."""
    assert catalogs.language_problems() == []
    assert {"en", "de", "fr"} <= set(default_locales())


def test_language_names_come_from_babel_not_from_a_table() -> None:
    """Each language is named in itself, as a label; an unknown code is shown as it is."""
    assert language_names() == {"en": "English", "de": "Deutsch", "fr": "Français"}
    assert language_names(["fr", "en"]) == {"fr": "Français", "en": "English"}
    assert language_name("pt-BR") == "Português (Brasil)"
    assert language_name("xx") == "xx"


def test_the_check_command_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert catalogs.main(["check"]) == 0
    assert "0 problems" in capsys.readouterr().out


def test_the_committed_pot_holds_the_extracted_msgids() -> None:
    """mailflow/locale/mailflow.pot is what ``scripts/catalogs extract`` writes today."""
    with (catalogs.LOCALE_DIR / "mailflow.pot").open("rb") as pot:
        committed = {m.id if isinstance(m.id, str) else tuple(m.id) for m in read_po(pot) if m.id}
    assert committed == catalogs.extracted()


def test_texts_come_in_the_readers_language_with_english_behind() -> None:
    assert translator("de")("your_booking") == "Ihr Termin"
    assert translator("en")("your_booking") == "Your booking"
    assert gettext("xx", "your_booking") == "Your booking"  # no catalog: English
    assert message("de", "summary", service="Schnitt", business="Salon") == "Schnitt bei Salon"
    assert translator("fr")("your_booking") == "Votre rendez-vous"
    assert message("fr", "summary", service="Coupe", business="Salon") == "Coupe chez Salon"
    assert message("en", "reason.allowed") == ""


def test_plural_forms() -> None:
    for language in ("en", "de"):
        assert translations(language).ngettext("x", "xs", 1) == "x"
        assert translations(language).ngettext("x", "xs", 2) == "xs"
    assert ngettext("de", "{n} thing", "{n} things", 3) == "3 things"


def test_french_plural_rule_counts_zero_and_one_as_singular() -> None:
    """French says "0 rendez-vous disponible", "1 …", "2 … disponibles": plural=(n > 1)."""
    french = translations("fr")
    assert [french.plural(n) for n in (0, 1, 2, 10)] == [0, 0, 1, 1]  # type: ignore[attr-defined]
    assert [translations("en").plural(n) for n in (0, 1, 2)] == [1, 0, 1]  # type: ignore[attr-defined]


def test_french_catalog_uses_french_punctuation() -> None:
    """Every French text puts a non-breaking space, not a plain one or none, before : ; ! ?."""
    with (catalogs.LOCALE_DIR / "fr" / "LC_MESSAGES" / "mailflow.po").open("rb") as po:
        texts = [m.string for m in read_po(po) if m.id and isinstance(m.string, str)]
    assert [text for text in texts if re.search(r"(?:\w|\}) ?[:;!?](?=\s|$)", text)] == []
    assert translator("fr")("cancel_title") == "Annuler ce rendez-vous\u00a0?"


def test_translations_are_loaded_once_per_language() -> None:
    assert translations("de") is translations("de")
    assert translator("de") is translator("de")
