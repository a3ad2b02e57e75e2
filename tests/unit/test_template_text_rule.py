"""The text-part rule: a template's text part follows its HTML when only the HTML was edited."""

from __future__ import annotations

from dataclasses import replace

from mailflow.outbound.render import Renderer
from mailflow.outbound.samples import sample_context
from mailflow.outbound.templates import TemplateSource, default_source, text_follows_html

ADDED = "Free parking in the yard."


def edited(mjml: str | None = None, text: str | None = None) -> TemplateSource:
    shipped = default_source("reminder", "en")
    return TemplateSource(
        kind="reminder",
        locale="en",
        subject=shipped.subject,
        mjml=shipped.mjml if mjml is None else mjml,
        text=shipped.text if text is None else text,
        version=3,
    )


def html_edit() -> str:
    return default_source("reminder", "en").mjml.replace("We look forward", f"{ADDED} We look forward")


def test_the_shipped_default_keeps_its_own_text() -> None:
    """The default's text part is its text body."""
    assert not text_follows_html(default_source("reminder", "en"))


def test_an_html_only_edit_makes_the_text_from_the_html() -> None:
    """Edited MJML with the shipped text body: the text part is made from the HTML, new sentence and all."""
    source = edited(mjml=html_edit())
    assert text_follows_html(source)
    email = Renderer().render(source, sample_context("reminder", "manage", "en"))
    assert ADDED in email.html and ADDED in email.text


def test_browser_line_endings_do_not_count_as_a_text_edit() -> None:
    """A shipped text body posted with CRLF line endings is still the shipped one."""
    assert text_follows_html(
        edited(mjml=html_edit(), text=(default_source("reminder", "en").text or "").replace("\n", "\r\n"))
    )


def test_an_edited_text_is_kept_whatever_the_html() -> None:
    """An admin's own text body is the text part, with or without an HTML edit."""
    text = "Hello {{ recipient.name }},\nsee you soon.\n"
    for source in (edited(text=text), edited(mjml=html_edit(), text=text)):
        assert not text_follows_html(source)
        email = Renderer().render(source, sample_context("reminder", "manage", "en"))
        assert email.text.startswith("Hello Anna Schmidt,\nsee you soon.") and ADDED not in email.text


def test_no_text_body_means_text_from_html() -> None:
    """Without a text body the text part is made from the HTML, as before."""
    assert text_follows_html(replace(edited(), text=None, digest=""))
