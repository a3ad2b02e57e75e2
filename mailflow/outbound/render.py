"""Render an email: sandboxed Jinja over MJML compiled once per template version.

Compiling MJML is done once per template text (keyed by its digest) and the
Jinja tags survive it, so each message costs only a Jinja render. Every
template runs in Jinja's sandbox: edited templates come from admins, and a
template must not reach Python internals or anything outside its context.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import mjml
from jinja2 import StrictUndefined, Template
from jinja2.sandbox import ImmutableSandboxedEnvironment

from mailflow.errors import MailflowError
from mailflow.outbound.html_lines import fixed_ascii_styles, fold_tags
from mailflow.outbound.limits import (
    DEFAULT_LIMITS,
    LimitedSandbox,
    LimitHit,
    TemplateLimits,
    limited,
    render_limited,
)
from mailflow.outbound.templates import TemplateSource, default_source, text_follows_html

# Every white space but the no-break ones, which French puts before ":" and "?" on purpose.
_WHITESPACE = re.compile(r"[^\S\u00a0\u202f]+")


class RenderError(MailflowError):
    """A template failed to compile or render; ``part`` says which part."""

    def __init__(self, kind: str, locale: str, part: str, detail: str) -> None:
        super().__init__(f"template {kind}/{locale} {part}: {detail}")
        self.part = part


class TemplateLimitExceeded(RenderError):
    """A template broke one of its limits (``mailflow.outbound.limits``); ``limit`` names which."""

    def __init__(self, kind: str, locale: str, part: str, hit: LimitHit) -> None:
        super().__init__(kind, locale, part, hit.detail)
        self.limit = hit.limit
        self.detail = hit.detail


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    html: str
    text: str
    styles_ascii: bool = False
    """Every ``<style>`` block of ``html`` is its template's own and ASCII (checked once, when
    the template was compiled): ``compose`` need not look for them again."""


@dataclass(frozen=True, slots=True)
class CompiledTemplate:
    subject: Template
    html: Template
    text: Template | None
    shipped: bool = False
    """Compiled without the limits' instrumentation (a shipped default, see ``is_shipped``)."""
    styles_ascii: bool = False
    """``html_lines.fixed_ascii_styles`` of the HTML template."""


PREVIEW_FILLER = "\n".join(["&#847;&zwnj;&nbsp;" * 30] * 3)
"""Invisible characters after the preheader: inbox lists show the preheader and then
nothing, instead of running on into the email's first words (issue 18). In lines of 540
characters, so the HTML part can go as 7bit (``html_lines``); the hidden block collapses
the line breaks to spaces, as invisible as the rest."""
_PREVIEW_END = re.compile(r'(<body[^>]*>\s*<div style="display:none;[^"]*">.*?)(</div>)', re.DOTALL)


def compile_mjml(source: str) -> str:
    """MJML -> HTML with mjml-python (the preheader padded, long lines folded between attributes,
    see ``html_lines``); ``ValueError`` on malformed MJML."""
    html = str(mjml.mjml2html(source))
    html = _PREVIEW_END.sub(lambda found: found.group(1) + PREVIEW_FILLER + found.group(2), html, count=1)
    return fold_tags(html)


_OPTIONS: dict[str, Any] = {
    "undefined": StrictUndefined,
    "trim_blocks": True,
    "lstrip_blocks": True,
    "keep_trailing_newline": True,
}


def _environment(autoescape: bool) -> LimitedSandbox:
    return LimitedSandbox(autoescape=autoescape, **_OPTIONS)


def _shipped_environment(autoescape: bool) -> ImmutableSandboxedEnvironment:
    """Jinja's sandbox without the limits' accounting, for the shipped defaults only."""
    return ImmutableSandboxedEnvironment(autoescape=autoescape, **_OPTIONS)


def is_shipped(source: TemplateSource) -> bool:
    """Whether ``source`` is exactly the shipped default of its kind and language, compared by
    content (whatever its version or digest says: a saved version equal to it is as harmless)."""
    try:
        shipped = default_source(source.kind, source.locale)
    except FileNotFoundError:
        return False
    return (source.subject, source.mjml, source.text) == (shipped.subject, shipped.mjml, shipped.text)


class Renderer:
    """Compiles templates once (by content digest) and renders them per message, within ``limits``."""

    def __init__(self, limits: TemplateLimits | None = None) -> None:
        self.limits = limits or configured_limits()
        self.html_env = _environment(autoescape=True)
        self.text_env = _environment(autoescape=False)
        # The shipped defaults are ours, not an admin's program: they render without the
        # limits' per-step accounting (a sixth of rendering an email), in the same sandbox.
        self._shipped_envs = (_shipped_environment(True), _shipped_environment(False))
        self._compiled: dict[str, CompiledTemplate] = {}

    def compile(self, source: TemplateSource) -> CompiledTemplate:
        """Compile ``source`` (cached); raises ``RenderError`` naming the broken part."""
        cached = self._compiled.get(source.digest)
        if cached is not None:
            return cached
        self.check_source(source)
        shipped = is_shipped(source)
        html_env, text_env = self._shipped_envs if shipped else (self.html_env, self.text_env)
        part = "subject"
        try:
            subject = text_env.from_string(source.subject)
            part = "body (MJML)"
            html_source = compile_mjml(source.mjml)
            part = "body"
            html = html_env.from_string(html_source)
            part = "text"
            text = None if text_follows_html(source) else text_env.from_string(source.text or "")
        except Exception as exc:
            raise RenderError(source.kind, source.locale, part, str(exc)) from exc
        compiled = CompiledTemplate(
            subject=subject,
            html=html,
            text=text,
            shipped=shipped,
            styles_ascii=fixed_ascii_styles(html_source),
        )
        self._compiled[source.digest] = compiled
        return compiled

    def check_source(self, source: TemplateSource) -> None:
        """``TemplateLimitExceeded`` when a part of ``source`` is longer than allowed."""
        most = self.limits.max_source_chars
        for part, text in (("subject", source.subject), ("body", source.mjml), ("text", source.text or "")):
            if len(text) > most:
                hit = LimitHit("source_size", f"{len(text):,} characters, more than the limit of {most:,}")
                raise TemplateLimitExceeded(source.kind, source.locale, part, hit)

    def render(self, source: TemplateSource, context: Mapping[str, Any]) -> RenderedEmail:
        """Render subject, HTML and text of ``source`` with ``context``, within ``self.limits``.

        Raises ``TemplateLimitExceeded`` (a ``RenderError``) when a limit is reached, and
        ``RenderError`` for any other failure, naming the part.
        """
        compiled = self.compile(source)
        if compiled.shipped:
            return self._render_shipped(source, compiled, context)
        part = "subject"
        try:
            with limited(self.limits):
                subject = one_line(render_limited(compiled.subject, context))
                part = "body"
                html = render_limited(compiled.html, {**context, "subject": subject})
                part = "text"
                if compiled.text is not None:
                    text = render_limited(compiled.text, {**context, "subject": subject})
                else:
                    text = html_to_text(html)
        except LimitHit as hit:
            raise TemplateLimitExceeded(source.kind, source.locale, part, hit) from hit
        except Exception as exc:
            raise RenderError(source.kind, source.locale, part, f"{type(exc).__name__}: {exc}") from exc
        return RenderedEmail(subject, html, text.strip() + "\n", compiled.styles_ascii)

    def _render_shipped(
        self, source: TemplateSource, compiled: CompiledTemplate, context: Mapping[str, Any]
    ) -> RenderedEmail:
        """``render`` for a shipped default: the same parts, without the limits' accounting."""
        part = "subject"
        try:
            subject = one_line(compiled.subject.render(context))
            part = "body"
            html = compiled.html.render({**context, "subject": subject})
            part = "text"
            if compiled.text is not None:
                text = compiled.text.render({**context, "subject": subject})
            else:
                text = html_to_text(html)
        except Exception as exc:
            raise RenderError(source.kind, source.locale, part, f"{type(exc).__name__}: {exc}") from exc
        return RenderedEmail(subject, html, text.strip() + "\n", compiled.styles_ascii)


_CONFIGURED: list[TemplateLimits] = [DEFAULT_LIMITS]


def configure_limits(limits: TemplateLimits) -> None:
    """Set the limits of every ``Renderer()`` made without its own (``bootstrap``, from the settings)."""
    _CONFIGURED[0] = limits


def configured_limits() -> TemplateLimits:
    """The limits set by ``configure_limits`` (the defaults until then)."""
    return _CONFIGURED[0]


def one_line(value: str) -> str:
    """Collapse white space (CR and LF included) to single spaces: safe for a header.

    No-break spaces stay: "confirmé\u00a0: Coupe" keeps its colon on the line of its word.
    """
    return _WHITESPACE.sub(" ", value).strip()


class _TextExtractor(HTMLParser):
    BLOCK = frozenset({"p", "div", "tr", "table", "h1", "h2", "h3", "h4", "li", "ul", "ol", "section"})
    SKIP = frozenset({"style", "script", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._links: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skip += 1
        elif tag == "br" or tag in self.BLOCK:
            self.parts.append("\n")
        elif tag == "td":
            self.parts.append(" ")
        if tag == "a":
            self._links.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self.BLOCK:
            self.parts.append("\n")
        elif tag == "a" and self._links:
            href = self._links.pop()
            if href and not href.startswith("#"):
                self.parts.append(f" <{href}>")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(_WHITESPACE.sub(" ", data))


def html_to_text(html: str) -> str:
    """A readable plain-text version of an HTML email (links kept as ``<url>``)."""
    extractor = _TextExtractor()
    extractor.feed(html)
    lines = (line.strip() for line in "".join(extractor.parts).splitlines())
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
