"""Error texts come from the catalogs: English for the CLI, API and logs, the reader's language on a page."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mailflow.errors import InvalidInput, NotFound
from mailflow.i18n import N_, Nn_
from mailflow.services.common import check_text, normalize_email, parse_minutes, unknown_fields

ROOT = Path(__file__).resolve().parents[2]
CHECKED = (
    ROOT / "mailflow" / "services",
    ROOT / "mailflow" / "store" / "queries.py",
    ROOT / "mailflow" / "auth.py",
)
ERRORS = {"InvalidInput", "NotFound", "MailflowError"}
"""The errors that carry a sentence; ``SlotUnavailable`` and ``PolicyRefused`` carry codes."""
MARKERS = {"N_", "Nn_"}


def _marked(node: ast.expr | None, constants: set[str]) -> bool:
    """``N_("…")``, ``Nn_("…", "…")`` or the name of a module constant bound to one."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in MARKERS:
        return all(isinstance(arg, ast.Constant) and isinstance(arg.value, str) for arg in node.args)
    return isinstance(node, ast.Name) and node.id in constants


def unmarked_errors(path: Path) -> list[str]:
    """The ``InvalidInput(…)``/``NotFound(…)`` calls in ``path`` whose sentence is not a marked msgid."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    constants = {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign) and _marked(node.value, set())
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ERRORS):
            continue
        message = next((kw.value for kw in node.keywords if kw.arg == "message"), None)
        if (
            not node.args
            or not _marked(node.args[0], constants)
            or (message and not _marked(message, constants))
        ):
            where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
            found.append(f"{where}:{node.lineno}")
    return found


def test_every_error_raised_by_the_service_layer_core_and_pages_passes_a_marked_msgid() -> None:
    """No untranslatable sentence: each error's first argument is N_("…")/Nn_("…", "…") or such a constant."""
    paths = [
        path for place in CHECKED for path in ([place] if place.is_file() else sorted(place.rglob("*.py")))
    ]
    assert len(paths) > 10
    assert [where for path in paths for where in unmarked_errors(path)] == []


def test_the_check_finds_an_unmarked_sentence(tmp_path: Path) -> None:
    """The AST check sees a plain or f-string sentence, and accepts marked ones and marked constants."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        'TEXT = N_("marked")\n'
        'raise InvalidInput("plain")\n'
        'raise InvalidInput(f"formatted {x}")\n'
        'raise NotFound(N_("thing"), "key", message="plain")\n'
        'raise InvalidInput(N_("fine {x}"), x=1)\n'
        'raise InvalidInput(Nn_("{n} day", "{n} days"), n=2)\n'
        "raise InvalidInput(TEXT)\n",
        encoding="utf-8",
    )
    lines = [where.rpartition(":")[2] for where in unmarked_errors(sample)]
    assert lines == ["2", "3", "4"]


def test_str_of_an_error_stays_english_and_text_gives_the_readers_language() -> None:
    """str(error) and .message are English (CLI, API detail, logs); .text("de") is German, values in."""
    with pytest.raises(InvalidInput) as caught:
        normalize_email("no-at-sign", field="email")
    error = caught.value
    assert str(error) == error.message == "not an email address: 'no-at-sign'"
    assert error.text("en") == str(error)
    assert error.text("de") == "Keine E-Mail-Adresse: „no-at-sign“"
    assert error.field == "email"


def test_a_language_without_the_text_falls_back_to_english() -> None:
    error = InvalidInput(N_("enter a time such as 24 h or 30 min"), field="min_notice")
    assert error.text("xx") == "enter a time such as 24 h or 30 min"


def test_not_found_translates_the_thing_it_names() -> None:
    """The noun (a marked Term) is translated with the sentence; callers compare it in English."""
    error = NotFound(N_("staff member"), "bob@example.org")
    assert str(error) == "staff member 'bob@example.org' not found"
    assert error.what == "staff member"
    assert error.text("de") == "Mitarbeiter „bob@example.org“ nicht gefunden"


def test_a_count_picks_the_plural_form_in_english_and_german() -> None:
    """Nn_ texts take ngettext's plural forms: one field, several fields."""
    one, several = unknown_fields(["colour"]), unknown_fields(["size", "colour"])
    assert str(one) == "unknown field: colour" and one.field == "colour"
    assert str(several) == "unknown fields: colour, size"
    assert one.text("de") == "Unbekanntes Feld: colour"
    assert several.text("de") == "Unbekannte Felder: colour, size"
    with pytest.raises(InvalidInput) as caught:
        check_text("x" * 300, "name", 200)
    assert str(caught.value) == "name: at most 200 characters"
    assert caught.value.text("de") == "name: höchstens 200 Zeichen"
    single = InvalidInput(Nn_("at most {n} reminder", "at most {n} reminders"), n=1)
    assert (str(single), single.text("de")) == ("at most 1 reminder", "höchstens 1 Erinnerung")


def test_a_parse_error_of_the_service_layer_in_german() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_minutes("soon", field="min_notice")
    assert str(caught.value) == "'soon' is not a time: write e.g. 24 h, 90 min or 1 d"
    assert caught.value.text("de") == "„soon“ ist keine Zeitangabe: schreiben Sie z. B. 24 h, 90 min oder 1 d"


def test_a_value_may_share_a_name_with_gettexts_own_arguments() -> None:
    """``locale`` as a value of the message (the language asked for) does not clash with the reader's."""
    text = N_("locale {locale!r} is not offered by {business}: use one of {languages}")
    error = InvalidInput(text, locale="xx", business="city", languages="en, de")
    assert str(error) == "locale 'xx' is not offered by city: use one of en, de"
    assert error.text("de") == "Die Sprache „xx“ wird von city nicht angeboten: verwenden Sie eine von en, de"


def test_a_noun_that_is_also_a_page_key_stays_itself_in_english() -> None:
    """ "service" is a page label's key too (English "Service"): the English sentence keeps the noun."""
    error = NotFound(N_("service"), "massage")
    assert str(error) == "service 'massage' not found"
    assert error.text("de") == "Leistung „massage“ nicht gefunden"
