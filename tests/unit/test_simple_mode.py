"""Simple mode: words in fields become a whole template in the shipped layout, and back."""

from __future__ import annotations

import pytest

from mailflow.errors import InvalidInput
from mailflow.outbound.render import Renderer
from mailflow.outbound.samples import KINDS, sample_context
from mailflow.outbound.simple import (
    SimpleFields,
    default_fields,
    parse_fields,
    simple_available,
    simple_fields,
    simple_source,
)
from mailflow.outbound.template_store import validate
from mailflow.outbound.templates import default_locales, default_source

LOCALES = default_locales()


@pytest.mark.parametrize("locale", LOCALES)
def test_the_shipped_words_give_back_the_shipped_template(locale: str) -> None:
    """Every kind with a simple mode: its default's words, saved unchanged, are exactly the default."""
    offered = [kind for kind in KINDS if simple_available(kind, locale)]
    assert {"confirmation", "reminder", "rescheduled"} <= set(offered)
    for kind in offered:
        shipped = default_source(kind, locale)
        fields = default_fields(kind, locale)
        assert fields is not None and simple_fields(shipped) == fields
        again = simple_source(kind, locale, fields)
        assert (again.subject, again.mjml, again.text) == (shipped.subject, shipped.mjml, shipped.text), kind


def test_words_that_depend_on_the_booking_have_no_simple_mode() -> None:
    """A cancellation says who cancelled: no fixed paragraphs can say that, so no simple mode."""
    assert not simple_available("cancelled", "en") and default_fields("cancelled", "en") is None
    with pytest.raises(InvalidInput):
        simple_source("cancelled", "en", SimpleFields("Hi", "", ("Text",)))


@pytest.mark.parametrize("locale", LOCALES)
def test_new_words_reach_html_and_text_and_read_back(locale: str) -> None:
    """A new paragraph and a sign-off land in the HTML and the text part; the fields read back the same."""
    shipped = default_fields("reminder", locale)
    assert shipped is not None
    fields = SimpleFields(
        shipped.subject,
        shipped.greeting,
        (*shipped.paragraphs, "Parking: {business} & <free>"),
        "Cheers,\nBob",
    )
    source = simple_source("reminder", locale, fields)
    assert validate(source) == []
    assert simple_fields(source) == fields
    email = Renderer().render(source, sample_context("reminder", "manage", locale))
    assert "Parking: Contoso Salon &amp; &lt;free&gt;" in email.html
    assert "Parking: Contoso Salon & <free>" in email.text
    assert "Cheers,<br />Bob" in email.html or "Cheers,<br>Bob" in email.html
    assert "Cheers,\nBob\n\n-- " in email.text
    assert "Haircut" in email.html  # the facts table of the layout is kept


def test_form_fields_are_parsed_with_blank_lines_between_paragraphs() -> None:
    """The paragraphs field splits at blank lines; CRLF and stray spaces are tidied."""
    fields = parse_fields(" Hi  {name} ", "Hello,", "One\r\nline two\r\n\r\n  \r\nTwo", "Bye\r\n")
    assert fields == SimpleFields("Hi {name}", "Hello,", ("One\nline two", "Two"), "Bye")


@pytest.mark.parametrize(
    ("paragraph", "says"),
    [
        ("{{ 7 * 7 }}", "Braces are only for the placeholders"),
        ("{% if x %}", "Braces"),
        ("Hi {nom}", "Unknown placeholder {nom}"),
    ],
)
def test_fields_cannot_carry_template_code(paragraph: str, says: str) -> None:
    """Only the listed placeholders may stand in braces: a field never becomes template code."""
    with pytest.raises(InvalidInput) as caught:
        simple_source("reminder", "en", SimpleFields("Subject", "Hi", (paragraph,)))
    assert caught.value.field == "paragraphs" and says in caught.value.text("en")


def test_subject_and_paragraphs_are_required() -> None:
    """An empty subject or no paragraph is refused at its field."""
    with pytest.raises(InvalidInput) as empty_subject:
        simple_source("reminder", "en", SimpleFields("", "Hi", ("Text",)))
    assert empty_subject.value.field == "subject"
    with pytest.raises(InvalidInput) as no_text:
        simple_source("reminder", "en", SimpleFields("Subject", "Hi", ()))
    assert no_text.value.field == "paragraphs"


def test_a_source_edit_outside_the_fields_is_not_read_as_simple() -> None:
    """A template edited in the source elsewhere than the words gives no fields: simple mode would lose it."""
    shipped = default_source("reminder", "en")
    other = type(shipped)(
        "reminder", "en", shipped.subject, shipped.mjml.replace("#2e6b66", "#000000"), shipped.text, 2
    )
    assert simple_fields(other) is None


def test_a_text_part_edited_in_the_source_is_not_read_as_simple() -> None:
    """Only the text body edited: simple mode would rewrite it, so it does not claim the template."""
    shipped = default_source("reminder", "en")
    other = type(shipped)("reminder", "en", shipped.subject, shipped.mjml, (shipped.text or "") + "P.S.\n", 2)
    assert simple_fields(other) is None
