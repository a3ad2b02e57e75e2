"""Check a template before it is saved: nothing broken reaches a customer.

Problems are reported with the part and, where it can be known, the line in
the text the admin wrote: Jinja syntax, MJML structure, unknown ``mj-*`` tags
(mjml-python accepts them silently), Jinja inside layout attributes (lost by
the MJML compiler), unknown variables and sandbox violations (found by
rendering against the sample contexts of both variants), and the limits of
``mailflow.outbound.limits`` (source size first, then steps, time and output
size while rendering the samples).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from jinja2 import TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError

from mailflow.outbound.render import Renderer, RenderError, TemplateLimitExceeded, compile_mjml
from mailflow.outbound.templates import TemplateSource

# The standard MJML 4 components.
MJML_TAGS = frozenset(
    [
        "mjml",
        "mj-head",
        "mj-body",
        "mj-attributes",
        "mj-all",
        "mj-class",
        "mj-breakpoint",
        "mj-font",
        "mj-html-attributes",
        "mj-html-attribute",
        "mj-selector",
        "mj-preview",
        "mj-style",
        "mj-title",
        "mj-accordion",
        "mj-accordion-element",
        "mj-accordion-title",
        "mj-accordion-text",
        "mj-button",
        "mj-carousel",
        "mj-carousel-image",
        "mj-column",
        "mj-divider",
        "mj-group",
        "mj-hero",
        "mj-image",
        "mj-navbar",
        "mj-navbar-link",
        "mj-raw",
        "mj-section",
        "mj-social",
        "mj-social-element",
        "mj-spacer",
        "mj-table",
        "mj-text",
        "mj-wrapper",
        "mj-include",
    ]
)
# Attributes whose values keep Jinja tags through the MJML compiler.
JINJA_SAFE_ATTRIBUTES = frozenset({"href", "src", "alt", "title"})
_JINJA = re.compile(r"\{\{|\{%")
_NAME_IN_ERROR = re.compile(
    r"'([A-Za-z_][A-Za-z0-9_]*)' is undefined|has no attribute '([A-Za-z_][A-Za-z0-9_]*)'"
)

SampleContexts = Callable[[str, str, str], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Problem:
    part: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.part}, line {self.line}" if self.line else self.part
        return f"{where}: {self.message}"


class _MjmlLinter(HTMLParser):
    """Tag balance and known tags, with line numbers, ignoring HTML inside ending tags' content."""

    VOID_HTML = frozenset(
        {"br", "img", "hr", "meta", "link", "input", "col", "area", "base", "wbr", "source"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[Problem] = []
        self.stack: list[tuple[str, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line = self.getpos()[0]
        if tag.startswith("mj") and tag not in MJML_TAGS:
            self.problems.append(Problem("body", line, f"unknown MJML tag <{tag}>"))
        if tag.startswith("mj"):
            for name, value in attrs:
                if value and _JINJA.search(value) and name not in JINJA_SAFE_ATTRIBUTES:
                    self.problems.append(
                        Problem(
                            "body", line, f"Jinja in attribute {name!r} of <{tag}> is lost when MJML compiles"
                        )
                    )
        if tag not in self.VOID_HTML:
            self.stack.append((tag, line))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID_HTML and self.stack:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        line = self.getpos()[0]
        if tag in self.VOID_HTML:
            return
        if not any(open_tag == tag for open_tag, _ in self.stack):
            self.problems.append(Problem("body", line, f"closing </{tag}> has no opening tag"))
            return
        while self.stack:
            open_tag, open_line = self.stack.pop()
            if open_tag == tag:
                return
            self.problems.append(Problem("body", open_line, f"<{open_tag}> is not closed before </{tag}>"))

    def finish(self) -> list[Problem]:
        self.close()
        for tag, line in self.stack:
            self.problems.append(Problem("body", line, f"<{tag}> is never closed"))
        return self.problems


def _line_of(name: str, text: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.search(rf"\b{re.escape(name)}\b", line):
            return number
    return None


def _syntax(renderer: Renderer, source: TemplateSource) -> list[Problem]:
    problems = []
    parts = (("subject", source.subject), ("body", source.mjml), ("text", source.text))
    for part, text in parts:
        if text is None:
            continue
        try:
            renderer.text_env.parse(text)
        except TemplateSyntaxError as exc:
            problems.append(Problem(part, exc.lineno, f"Jinja syntax: {exc.message}"))
    return problems


def _render_problem(exc: RenderError, source: TemplateSource, variant: str) -> Problem:
    cause = exc.__cause__
    texts = {"subject": source.subject, "body": source.mjml, "text": source.text or ""}
    part = exc.part if exc.part in texts else "body"
    if isinstance(exc, TemplateLimitExceeded):
        return Problem(part, None, f"over a limit in the {variant} variant: {exc.detail}")
    if isinstance(cause, SecurityError):
        return Problem(part, None, f"not allowed in the sandbox: {cause}")
    if isinstance(cause, UndefinedError):
        match = _NAME_IN_ERROR.search(str(cause))
        name = next((group for group in match.groups() if group), None) if match else None
        line = _line_of(name, texts[part]) if name else None
        return Problem(part, line, f"unknown variable ({cause}) in the {variant} variant")
    return Problem(part, None, f"cannot render the {variant} variant: {cause}")


def validate_template(
    source: TemplateSource, samples: SampleContexts, renderer: Renderer | None = None
) -> list[Problem]:
    """Every problem of ``source``; an empty list means it may be saved.

    ``samples(kind, variant, locale)`` gives the context to render against,
    for the variants ``manage`` and ``no-manage``.
    """
    renderer = renderer or Renderer()
    try:
        renderer.check_source(source)
    except TemplateLimitExceeded as exc:  # measured before anything else reads it
        return [Problem(exc.part, None, f"too long: {exc.detail}")]
    problems = _syntax(renderer, source)
    if not source.subject.strip():
        problems.append(Problem("subject", None, "the subject is empty"))
    linter = _MjmlLinter()
    linter.feed(source.mjml)
    problems += linter.finish()
    if not source.mjml.lstrip().startswith("<mjml"):
        problems.append(Problem("body", 1, "the body must be an <mjml> document"))
    if problems:
        return problems
    try:
        compile_mjml(source.mjml)
    except Exception as exc:
        return [Problem("body", None, f"MJML: {exc}")]
    for variant in ("manage", "no-manage"):
        try:
            renderer.render(source, samples(source.kind, variant, source.locale))
        except RenderError as exc:
            problems.append(_render_problem(exc, source, variant))
            if isinstance(exc, TemplateLimitExceeded):
                break  # the other variant would only spend the same time again
    return problems
