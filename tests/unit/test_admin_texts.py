"""The admin pages' words come from the catalogs: no English literal in their templates, plurals by count."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from jinja2 import Environment

from mailflow import catalogs
from mailflow.i18n import gettext, ngettext, translations
from mailflow.web.admin import accepted_language, date_text
from mailflow.web.admin.forms import local_text, span_text

ADMIN_TEMPLATES = Path(__file__).resolve().parents[2] / "mailflow" / "web" / "templates" / "admin"
# Read by people or by screen readers, so they need translating like the text between tags.
READ_ATTRIBUTES = {"aria-label", "title", "placeholder", "alt"}
BRAND = {"mailflow", "admin"}  # the header's "mailflow admin" is the product's name
WORD = re.compile(r"[^\W\d_]{2,}")
ATTRIBUTE = re.compile(
    r'[\w-]+="[^"]*"'
)  # a tag's attributes written under {% if %}, e.g. aria-invalid="true"


def literal_html(source: str) -> str:
    """The template's own HTML: its text outside every Jinja expression, statement and comment."""
    lexed = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True).lex(source)
    return "".join(value for _line, kind, value in lexed if kind == "data")


class TextNodes(HTMLParser):
    """The text a person reads in some HTML: text nodes (not scripts or styles) and read attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.skip += tag in ("script", "style")
        self.texts += [value for name, value in attrs if name in READ_ATTRIBUTES and value]

    def handle_endtag(self, tag: str) -> None:
        self.skip -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.texts.append(data)


def literal_words(source: str) -> list[str]:
    parser = TextNodes()
    parser.feed(literal_html(source))
    texts = [ATTRIBUTE.sub(" ", text) for text in parser.texts]
    return [word for text in texts for word in WORD.findall(text) if word.lower() not in BRAND]


@pytest.mark.parametrize("template", sorted(ADMIN_TEMPLATES.glob("*.html")), ids=lambda path: path.name)
def test_admin_template_has_no_literal_words(template: Path) -> None:
    """Every word of an admin page is inside {{ … }} (``_()``, ``ngettext``, data), none typed in the HTML."""
    assert literal_words(template.read_text()) == []


def test_the_scan_finds_a_literal_word_in_text_and_in_a_read_attribute() -> None:
    """The scan itself: a bare word, or one in aria-label, is found; one in {{ _() }} or a tag is not."""
    source = '<p>{{ _("Bookings") }} Hello</p><nav aria-label="Days">{% if x %}<a href="/">·</a>{% endif %}'
    assert literal_words(source) == ["Hello", "Days"]
    assert literal_words('<p class="muted">{{ _("Saved.") }} <a href="/x">←</a> mailflow admin</p>') == []


@pytest.mark.parametrize(
    ("count", "english", "german"),
    [
        (1, "1 booking from 2026-12-08 to 2026-12-21 (times in Europe/Berlin).", "1 Buchung vom"),
        (3, "3 bookings from 2026-12-08 to 2026-12-21 (times in Europe/Berlin).", "3 Buchungen vom"),
        (0, "0 bookings from", "0 Buchungen vom"),
    ],
)
def test_the_bookings_count_is_plural_correct(count: int, english: str, german: str) -> None:
    """One booking is singular, none and several are plural, in English and in German."""
    singular = "{n} booking from {first} to {last} (times in {zone})."
    plural = "{n} bookings from {first} to {last} (times in {zone})."
    values = {"first": "2026-12-08", "last": "2026-12-21", "zone": "Europe/Berlin"}
    assert ngettext("en", singular, plural, count, **values).startswith(english)
    assert ngettext("de", singular, plural, count, **values).startswith(german)


def test_german_admin_texts_are_translated() -> None:
    """A few admin texts in German: the catalog has them (English stays the msgid)."""
    assert gettext("de", "Bookings") == "Buchungen"
    assert gettext("de", "Not saved: please correct the marked fields.").startswith("Nicht gespeichert")
    assert gettext("en", "Bookings") == "Bookings"


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("en-GB, de;q=0.5", "en"),
        ("ja, de;q=0.2", "de"),
        ("de;q=0, en;q=0.1", "en"),
        ("ja", None),
        ("", None),
        ("de;q=oops", None),
    ],
)
def test_accept_language_picks_the_best_offered_language(header: str, chosen: str | None) -> None:
    """Weights order the browser's languages, a region falls back to its language, q=0 refuses one."""
    assert accepted_language(header, ("en", "de")) == chosen


def test_dates_are_written_as_the_language_writes_them() -> None:
    """The day view's headings and the listed date-times follow the admin's language."""
    from datetime import UTC, date, datetime

    assert date_text(date(2026, 12, 8), "full", "de") == "Dienstag, 8. Dezember 2026"
    assert date_text(date(2026, 12, 8), "full", "en") == "Tuesday, December 8, 2026"
    assert date_text(date(2026, 12, 8), "MMMEd", "de") == "Di., 8. Dez."
    at = datetime(2026, 12, 8, 9, 30, tzinfo=UTC)
    assert local_text(at, "Europe/Berlin", "de") == "Di., 8. Dez. 2026, 10:30"
    assert local_text(at, "Europe/Berlin", "en") == "Tue, Dec 8, 2026, 10:30"
    later = datetime(2026, 12, 8, 10, 15, tzinfo=UTC)
    assert span_text(at, later, "Europe/Berlin", "de") == "Di., 8. Dez. 2026, 10:30–11:15"


PLACEHOLDER = re.compile(r"\{(\w*)(?:![rsa])?(?::[^{}]*)?\}")  # {name}, {name!r}, {name:>3}


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


@pytest.mark.parametrize("language", catalogs.languages())
def test_translations_keep_the_placeholders_of_their_sentence(language: str) -> None:
    """A translated sentence fills the same {names} as its msgid (a plural's one-form may drop {n})."""
    wrong = []
    for entry in catalogs.catalog(language):
        ids = [entry.id] if isinstance(entry.id, str) else list(entry.id)
        if not entry.id or " " not in ids[0]:  # the key-style msgids ("booked_text") name no placeholders
            continue
        wanted = set().union(*(placeholders(msgid) for msgid in ids))
        strings = [entry.string] if isinstance(entry.string, str) else list(entry.string)
        for form, text in enumerate(strings):
            found = placeholders(text)
            may_drop = {"n"} if len(strings) > 1 and form == 0 else set()
            if not (wanted - may_drop <= found <= wanted):
                wrong.append((ids[0], text))
    assert wrong == []


def admin_msgids() -> set[str]:
    """The msgids (singular and plural) the admin's templates and modules use."""
    method_map = [("**.html", "jinja2"), ("**.py", "python")]
    options = {"**.html": {"trim_blocks": "true", "lstrip_blocks": "true"}}
    found: set[str] = set()
    for folder in (ADMIN_TEMPLATES, ADMIN_TEMPLATES.parents[1] / "admin"):
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(folder), method_map, options, keywords=catalogs.KEYWORDS
        ):
            found |= {message} if isinstance(message, str) else set(message)
    return found


def test_the_admins_msgids_are_their_english_text() -> None:
    """An admin msgid is its English sentence: none is taken by a page key ("staff" -> "Staff member")."""
    english = translations("en")
    ids = admin_msgids()
    assert len(ids) > 300
    assert {msgid: english.gettext(msgid) for msgid in ids if english.gettext(msgid) != msgid} == {}
