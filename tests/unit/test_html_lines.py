"""HTML as 7bit: folding between attributes and character references change nothing a reader sees."""

from __future__ import annotations

import email
import email.policy
import itertools
from datetime import UTC, datetime
from email.message import EmailMessage
from html import unescape
from html.parser import HTMLParser

import mjml
import pytest

from mailflow.outbound.compose import Address, Envelope, compose
from mailflow.outbound.html_lines import MAX_LINE, as_7bit, fixed_ascii_styles, fold_tags
from mailflow.outbound.render import RenderedEmail, Renderer, _shipped_environment, compile_mjml
from mailflow.outbound.samples import KINDS, SAMPLE_LOCALES, VARIANTS, sample_context
from mailflow.outbound.templates import default_source


class _Events(HTMLParser):
    """What an HTML parser makes of a document: tags with their decoded attributes, text
    (whitespace runs collapsed, as rendering does outside ``<pre>``), and comments read the
    same way (Outlook's conditional comments hold HTML)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[tuple[str, object]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.events.append(("start", (tag, attrs)))

    def handle_endtag(self, tag: str) -> None:
        self.events.append(("end", tag))

    def handle_data(self, data: str) -> None:
        self.events.append(("text", " ".join(data.split()) if data.isspace() else data))

    def handle_comment(self, data: str) -> None:
        # Outlook reads a conditional comment's content as HTML: compare what it reads.
        self.events.append(("comment", events(unescape(data))))

    def unknown_decl(self, data: str) -> None:
        self.events.append(("declaration", data))


def events(html: str) -> list[tuple[str, object]]:
    parser = _Events()
    parser.feed(html)
    parser.close()
    return parser.events


SHIPPED = [(kind, locale) for kind in KINDS for locale in SAMPLE_LOCALES]


@pytest.mark.parametrize(("kind", "locale"), SHIPPED)
def test_folding_a_shipped_template_only_turns_attribute_spaces_into_line_breaks(
    kind: str, locale: str
) -> None:
    """MJML's output of every shipped template, folded: same length, only spaces between a
    tag's attributes became line breaks, the parser sees the same document, and the longest
    line is less than half as long (the rendered emails' lines: ``test_email_matrix``)."""
    raw = str(mjml.mjml2html(default_source(kind, locale).mjml))
    folded = fold_tags(raw)
    assert len(folded) == len(raw)
    changed = [i for i, (a, b) in enumerate(zip(raw, folded, strict=True)) if a != b]
    assert changed, "MJML's long lines were left as they were"
    assert all(raw[i] == " " and folded[i] == "\n" for i in changed)
    assert events(folded) == events(raw)
    longest = max(len(line) for line in raw.split("\n"))
    compiled = compile_mjml(default_source(kind, locale).mjml)
    assert max(len(line) for line in compiled.split("\n")) < longest / 2


def test_folding_keeps_quoted_values_and_jinja_whole() -> None:
    """A space inside a quoted value (one with "=" after it too), inside a Jinja tag or right
    after a block tag is never a break point."""
    html = (
        '<a title="a b=c d=e" href="{{ url }}" {% if x %}target="_blank"{% endif %} '
        "class='q r=s' data-x=1>go</a>"
    )
    folded = fold_tags(html, width=1)
    assert folded == (
        '<a\ntitle="a b=c d=e"\nhref="{{ url }}" {% if x %}target="_blank"{% endif %} '
        "class='q r=s'\ndata-x=1>go</a>"
    )
    assert events(folded) == events(html)


@pytest.mark.parametrize(("kind", "locale"), SHIPPED)
def test_a_folded_template_renders_the_same_document(kind: str, locale: str) -> None:
    """Rendered by Jinja with the renderer's options, the folded template and MJML's own output
    give the same document, for both sample variants."""
    environment = _shipped_environment(autoescape=True)  # the renderer's own options
    source = default_source(kind, locale)
    raw = environment.from_string(str(mjml.mjml2html(source.mjml)))
    folded = environment.from_string(fold_tags(str(mjml.mjml2html(source.mjml))))
    for variant in VARIANTS:
        context = {**sample_context(kind, variant, locale), "subject": "s"}
        assert events(folded.render(context)) == events(raw.render(context))


def test_folding_breaks_as_late_as_the_width_allows() -> None:
    """Lines are filled up to the width before a break, not broken at every attribute."""
    html = "<td " + " ".join(f'a{i}="{i}"' for i in range(40)) + ">x</td>"
    lines = fold_tags(html, width=78).split("\n")
    assert len(lines) > 3
    assert all(len(line) <= 78 for line in lines)
    for line, following in itertools.pairwise(lines):  # the next attribute would not have fit
        assert len(line) + 1 + len(following.split(" ")[0]) > 78


def test_non_ascii_becomes_character_references() -> None:
    """Umlauts, dashes and emoji become references the parser decodes back; lines end CRLF."""
    html = '<p title="Grüße – 💇">Grüße, Zoë</p>\n<p>10:00–10:45</p>\n'
    data = as_7bit(html)
    assert data is not None and data.isascii()
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    assert events(data.decode("ascii")) == events(html)


@pytest.mark.parametrize(
    ("html", "why"),
    [
        ("<style>.x::after { content: 'é' }</style><p>é</p>", "non-ASCII in a style block"),
        ("<STYLE>\n.x { font-family: 'Ünï' }\n</STYLE><p>é</p>", "upper-case style tag"),
        ("<style>.x { color: red }</style><p>ok</p><style>.y::after { content: '→' }", "unclosed style"),
        ("<p>" + "x" * (MAX_LINE + 1) + "</p>", "a line longer than 998"),
        ("<p>a\0b</p>", "a NUL"),
    ],
)
def test_what_7bit_cannot_carry_unchanged_is_declined(html: str, why: str) -> None:
    """``as_7bit`` says no (the caller sends quoted-printable) where references or folding
    would change the email."""
    assert as_7bit(html) is None, why


@pytest.mark.parametrize(("kind", "locale"), SHIPPED)
def test_shipped_templates_have_fixed_ascii_styles(kind: str, locale: str) -> None:
    """The shipped templates' style blocks are ASCII and hold no Jinja: compose skips the check."""
    assert Renderer().compile(default_source(kind, locale)).styles_ascii


@pytest.mark.parametrize(
    ("template", "fixed"),
    [
        ("<style>p { color: red }</style><p>{{ name }}</p>", True),
        ("<style>p::after { content: 'é' }</style>", False),
        ("<style>p { color: {{ colour }} }</style>", False),
        ("<STYLE>{% if x %}p { color: red }{% endif %}</STYLE>", False),
    ],
)
def test_fixed_ascii_styles_of_a_template(template: str, fixed: bool) -> None:
    """Only style blocks that are ASCII with no Jinja tag can be trusted for every email."""
    assert fixed_ascii_styles(template) is fixed


def test_ascii_styles_with_non_ascii_text_are_7bit() -> None:
    """Non-ASCII outside the style blocks does not prevent 7bit."""
    data = as_7bit("<style>.x { color: red }</style><p>é</p><style>.y{}</style>")
    assert data == b"<style>.x { color: red }</style><p>&#233;</p><style>.y{}</style>"


def test_carriage_returns_become_crlf_line_ends() -> None:
    """A lone CR or a CRLF in a substituted value reads as the parser reads it: one line end."""
    assert as_7bit("<p>a\r\nb\rc\nd</p>") == b"<p>a\r\nb\r\nc\r\nd</p>"


def _parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_compose_sends_html_as_7bit_or_quoted_printable() -> None:
    """The HTML part is 7bit when it can be and quoted-printable when not; both read back as
    the same document."""
    envelope = Envelope(
        sender=Address("hello@contoso.example"),
        to=Address("ada@example.com"),
        message_id="<x@mailflow.localhost>",
        date=datetime(2026, 3, 1, 12, tzinfo=UTC),
        kind="reminder",
    )
    for html, encoding in (
        ("<p>Grüße</p>\n<p>bis morgen</p>\n", "7bit"),
        ("<style>p::after { content: '→' }</style><p>Grüße</p>\n", "quoted-printable"),
    ):
        message = _parsed(compose(envelope, RenderedEmail(subject="s", html=html, text="t\n")))
        part = message.get_body(("html",))
        assert part is not None
        assert part["Content-Transfer-Encoding"] == encoding
        assert events(part.get_content()) == events(html)
