"""Template validation: every finding with its part and line, and good templates pass."""

from __future__ import annotations

import pytest

from mailflow.outbound.render import Renderer, RenderError
from mailflow.outbound.samples import sample_context
from mailflow.outbound.templates import TemplateSource
from mailflow.outbound.validate import validate_template

GOOD = """<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text>Hello {{ recipient.name }}, {{ booking.when }}</mj-text>
        <mj-button href="{{ links.new_booking_url }}">Book</mj-button>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
"""


def source(
    mjml: str = GOOD, subject: str = "Booked: {{ booking.ref }}", text: str | None = None
) -> TemplateSource:
    return TemplateSource(kind="reminder", locale="en", subject=subject, mjml=mjml, text=text)


def problems(src: TemplateSource) -> list[str]:
    return [str(problem) for problem in validate_template(src, sample_context)]


def test_good_template_has_no_problems() -> None:
    """A template using only contract variables and known tags validates cleanly."""
    assert problems(source(text="Hi {{ recipient.name }}")) == []


def test_jinja_syntax_error_names_part_and_line() -> None:
    """An unclosed expression is reported in its part with its line."""
    broken = GOOD.replace("{{ booking.when }}", "{{ booking.when ")
    assert problems(source(broken)) == ["body, line 5: Jinja syntax: unexpected '<'"] or any(
        p.startswith("body, line 5: Jinja syntax") for p in problems(source(broken))
    )
    assert problems(source(subject="{% if %}"))[0].startswith("subject, line 1: Jinja syntax")


def test_unknown_mjml_tag_is_reported_with_its_line() -> None:
    """mjml-python accepts unknown tags silently; the linter does not."""
    found = problems(source(GOOD.replace("<mj-text>", "<mj-txet>").replace("</mj-text>", "</mj-txet>")))
    assert found == ["body, line 5: unknown MJML tag <mj-txet>"]


def test_unclosed_tag_is_reported() -> None:
    """A section that is never closed is found with the line it opened on."""
    found = problems(source(GOOD.replace("    </mj-section>\n", "")))
    assert "body, line 3: <mj-section> is not closed before </mj-body>" in found


def test_jinja_in_layout_attribute_is_refused() -> None:
    """Jinja inside padding would vanish in compilation, so it is an error."""
    found = problems(source(GOOD.replace("<mj-section>", '<mj-section padding="{{ pad }}">')))
    assert found == ["body, line 3: Jinja in attribute 'padding' of <mj-section> is lost when MJML compiles"]


def test_unknown_variable_names_its_line() -> None:
    """A variable outside the contract is found by rendering the samples, and located."""
    found = problems(source(GOOD.replace("{{ booking.when }}", "{{ booking.whenn }}")))
    assert len(found) == 2  # both variants
    assert found[0].startswith("body, line 5: unknown variable")


def test_sandbox_blocks_python_internals_at_validation_and_render() -> None:
    """Attribute access to dunder members is refused, and cannot run even if it got stored."""
    evil = source(text="{{ ''.__class__.__mro__ }}")
    assert any("sandbox" in p for p in problems(evil))
    with pytest.raises(RenderError):
        Renderer().render(evil, sample_context("reminder", "manage", "en"))


def test_not_an_mjml_document_is_refused() -> None:
    """A body that is plain HTML is refused before compiling."""
    found = problems(source("<html><body>Hi</body></html>"))
    assert "body, line 1: the body must be an <mjml> document" in found
