"""Template limits (issue 16, item 4): what an admin's template may cost, checked before the work is done."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mailflow.outbound.limits import TemplateLimits
from mailflow.outbound.render import Renderer, TemplateLimitExceeded, is_shipped
from mailflow.outbound.samples import sample_context
from mailflow.outbound.template_store import validate
from mailflow.outbound.templates import TemplateSource, default_source

CONTEXT = sample_context("confirmation", "manage", "en")


def body(jinja: str) -> TemplateSource:
    """A confirmation whose MJML body holds ``jinja`` in one text block."""
    text = f"<mj-section><mj-column><mj-text>{jinja}</mj-text></mj-column></mj-section>"
    mjml = f"<mjml><mj-body>{text}</mj-body></mjml>"
    return TemplateSource("confirmation", "en", "Booked", mjml, None)


NESTED_LOOPS = (
    "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}"
    "{% endfor %}{% endfor %}{% endfor %}"
)
EXPONENTIAL_MACRO = (
    "{% macro m(n) %}{% if n %}{{ m(n - 1) }}{{ m(n - 1) }}{% endif %}{% endmacro %}{{ m(60) }}"
)


@pytest.mark.parametrize(
    ("jinja", "limit"),
    [
        ("{{ 'A' * 10**8 }}", "output_size"),
        ("{{ ['A'] * 10**8 }}", "output_size"),
        ("{{ 'A'|center(10**8) }}", "output_size"),
        ("{{ '%100000000s' % 'a' }}", "output_size"),
        ("{{ '{:>100000000}'.format(1) }}", "output_size"),
        ("{{ 'a'.ljust(10**8) }}", "output_size"),
        ("{% set a = 'A' * 900000 %}{{ a ~ a ~ a }}", "output_size"),
        ("{% set a = 'A' * 900000 %}{{ a + a }}", "output_size"),
        ("{{ ('x' * 1000).join(range(2000)|map('string')|list) }}", "output_size"),
        ("{{ ('\n' * 100000)|indent(1000) }}", "output_size"),
        ("{{ 'x'|replace('x', 'y' * 1000)|replace('y', 'z' * 1000) }}", "output_size"),
        ("{{ 7 ** 100000000 }}", "output_size"),
        ("{% for i in range(2000) %}{{ 'A' * 1000 }}{% endfor %}", "output_size"),
        (NESTED_LOOPS, "steps"),
    ],
)
def test_templates_that_would_stall_or_flood_are_stopped_naming_the_limit(jinja: str, limit: str) -> None:
    """Each costly construct raises TemplateLimitExceeded with the limit it broke, from the body part."""
    with pytest.raises(TemplateLimitExceeded) as caught:
        Renderer().render(body(jinja), CONTEXT)
    assert caught.value.limit == limit and caught.value.part == "body"


def test_unbounded_recursion_without_loops_is_stopped_by_the_clock() -> None:
    """Exponential macro recursion: stopped by the render-time limit (a short one here)."""
    renderer = Renderer(TemplateLimits(max_render_seconds=0.05, max_steps=10**9))
    with pytest.raises(TemplateLimitExceeded) as caught:
        renderer.render(body(EXPONENTIAL_MACRO), CONTEXT)
    assert caught.value.limit == "render_time"


def test_a_too_long_source_is_refused_before_it_is_compiled() -> None:
    """A part longer than max_source_chars is refused, naming the part."""
    long_subject = TemplateSource("confirmation", "en", "x" * 2000, body("hi").mjml, None)
    with pytest.raises(TemplateLimitExceeded) as caught:
        Renderer(TemplateLimits(max_source_chars=1000)).render(long_subject, CONTEXT)
    assert (caught.value.limit, caught.value.part) == ("source_size", "subject")


def test_every_default_template_renders_well_within_the_limits() -> None:
    """The shipped templates pass with a tenth of every default limit: the limits leave room."""
    tight = Renderer(TemplateLimits(max_source_chars=10_000, max_output_chars=100_000, max_steps=20_000))
    # An admin's copy (a comment added): the shipped default itself renders without the accounting.
    shipped = default_source("confirmation", "en")
    subject = shipped.subject + "{# copy #}"
    source = TemplateSource("confirmation", "en", subject, shipped.mjml, shipped.text, 1)
    assert not is_shipped(source)
    email = tight.render(source, CONTEXT)
    assert "Manage booking" in email.html or "/m/" in email.html


def test_ordinary_loops_filters_and_formatting_still_work() -> None:
    """Loops, joins, format and ``~`` give their usual results inside the limits."""
    jinja = "{% for i in range(3) %}{{ i }}{% endfor %}|{{ range(3)|join(',') }}|{{ '%02d'|format(7) }}"
    jinja += "|{{ 'a' ~ 'b' }}"
    email = Renderer().render(body(jinja), CONTEXT)
    assert "012|0,1,2|07|ab" in email.html


def test_validation_reports_a_broken_limit_as_a_problem_of_its_part() -> None:
    """A draft over a limit is a validation problem (so it is never saved), naming the limit."""
    problems = validate(body("{{ 'A' * 10**8 }}"))
    assert len(problems) == 1 and problems[0].part == "body" and "1,000,000" in problems[0].message
    too_long = validate(TemplateSource("confirmation", "en", "Booked", body("x" * 200_000).mjml, None))
    assert [problem.part for problem in too_long] == ["body"] and "too long" in too_long[0].message


@pytest.mark.parametrize("locale", ["en", "de", "fr"])
def test_shipped_defaults_render_the_same_without_the_accounting(locale: str) -> None:
    """Every shipped template, rendered on the shipped path (no limits' accounting), gives exactly
    what the limited path gives for an admin's copy of it, for every kind and variant; and only
    the exact shipped text takes that path."""
    from mailflow.outbound.samples import KINDS, VARIANTS

    renderer = Renderer(TemplateLimits(max_steps=20_000))
    for kind in KINDS:
        shipped = default_source(kind, locale)
        # An admin's copy that renders the same: a Jinja comment added to the subject.
        copy = TemplateSource(kind, locale, shipped.subject + "{# copy #}", shipped.mjml, shipped.text, 3)
        assert is_shipped(shipped) and is_shipped(replace(shipped, version=3, digest="stale"))
        assert not is_shipped(copy)
        assert renderer.compile(shipped).shipped and not renderer.compile(copy).shipped
        for variant in VARIANTS:
            context = sample_context(kind, variant, locale)
            assert renderer.render(shipped, context) == renderer.render(copy, context), (kind, variant)


def test_an_edited_template_is_still_bounded() -> None:
    """A shipped default with one added loop is an admin's program again: the limits apply."""
    shipped = default_source("confirmation", "en")
    subject = shipped.subject + NESTED_LOOPS
    edited = TemplateSource("confirmation", "en", subject, shipped.mjml, shipped.text, 2)
    with pytest.raises(TemplateLimitExceeded) as caught:
        Renderer().render(edited, CONTEXT)
    assert caught.value.limit in {"steps", "render_time"}
