"""An HTML reply as text: the mail clients' quoted thread and signature left out.

What a ``text/html``-only reply shows, in lines and paragraphs, for ``strip_reply``
(``mailflow.inbound.strip``) to read: the quote containers of Gmail, Outlook, Apple Mail,
Thunderbird, Yahoo, Hotmail and Zimbra, and the signature blocks of Gmail and Thunderbird,
are dropped as the tree is written out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from mailflow.inbound.reply_patterns import HEADER_TEXT

__all__ = ["html_to_text"]

_VOID = frozenset(
    ("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "wbr")
)
_SKIPPED = frozenset(("head", "script", "style", "title", "template", "xml"))
_PARAGRAPHS = frozenset(("p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table"))
_BLOCKS = _PARAGRAPHS | {"address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt"}
_BLOCKS |= {"fieldset", "figure", "footer", "form", "header", "li", "main", "nav", "pre", "section"}
_BLOCKS |= {"tbody", "thead", "tfoot", "tr"}
_SPACES = re.compile(r"[ \t\n\r\f]+")
_OUTLOOK_SEPARATOR = "_" * 32
_MAX_DEPTH = 150  # the renderer recurses; real mail nests far less
_MARKED_SECTION = re.compile(r"<!\[[^>]*>?")


@dataclass
class _Node:
    tag: str
    attrs: dict[str, str]
    children: list[_Node | str] = field(default_factory=list)

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").lower().split())

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)


class _TreeBuilder(HTMLParser):
    """A forgiving HTML tree builder: unknown end tags are ignored, open ones closed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS and self.stack[-1].tag == "p":
            self.stack.pop()
        node = _Node(tag, {k.lower(): v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID and len(self.stack) < _MAX_DEPTH:  # deeper tags are flattened
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(_Node(tag, {k.lower(): v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


class _Writer:
    """Lays out text the way a mail client shows it: blocks on their own lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.current = ""
        self.blank_pending = False

    def text(self, chunk: str) -> None:
        if not self.current:
            chunk = chunk.lstrip(" ")
            if not chunk:
                return
            if self.blank_pending and self.lines and self.lines[-1].strip():
                self.lines.append("")
            self.blank_pending = False
        self.current += chunk

    def line_break(self) -> None:
        self.lines.append(self.current.rstrip())
        self.current = ""
        self.blank_pending = False

    def block(self) -> None:
        if self.current.strip(" "):  # a line holding only &nbsp; is a blank line the sender typed
            self.line_break()
        self.current = ""

    def paragraph(self) -> None:
        self.block()
        self.blank_pending = True

    def add_lines(self, lines: list[str]) -> None:
        self.block()
        if self.blank_pending and self.lines and self.lines[-1].strip():
            self.lines.append("")
        self.blank_pending = False
        self.lines.extend(lines)

    def result(self) -> list[str]:
        self.block()
        return self.lines


@dataclass
class _Renderer:
    keep_signature: bool
    cut: bool = False

    def render(self, node: _Node, out: _Writer) -> None:
        for child in node.children:
            if self.cut:
                return
            if isinstance(child, str):
                out.text(child if node.tag == "pre" else _SPACES.sub(" ", child))
            else:
                self.element(child, out)
        if node.tag == "pre" and out.current:
            out.line_break()

    def element(self, node: _Node, out: _Writer) -> None:
        tag = node.tag
        if tag in _SKIPPED or self._is_quote(node) or (not self.keep_signature and _is_signature(node)):
            return
        if _starts_quoted_thread(node):
            self.cut = True
            return
        if tag == "br":
            out.line_break()
        elif tag == "hr":
            out.add_lines([_OUTLOOK_SEPARATOR])
        elif tag == "blockquote":
            inner = _Writer()
            self.render(node, inner)
            quoted = "\n".join(inner.result()).split("\n")
            out.add_lines([f"> {line}".rstrip() for line in quoted])
            out.paragraph()
        elif tag == "pre":
            out.block()
            self.render(node, out)
        elif tag in _PARAGRAPHS and "msonormal" not in node.classes():
            out.paragraph()
            self.render(node, out)
            out.paragraph()
        elif tag in _BLOCKS:
            out.block()
            if tag == "li":
                out.text("- ")
            self.render(node, out)
            out.block()
        elif tag in ("td", "th"):
            self.render(node, out)
            out.text(" ")
        else:
            self.render(node, out)

    @staticmethod
    def _is_quote(node: _Node) -> bool:
        classes = node.classes()
        return (
            bool(classes & {"gmail_quote", "moz-cite-prefix", "yahoo_quoted", "protonmail_quote"})
            or (node.tag == "blockquote" and node.attrs.get("type", "").lower() == "cite")
            or node.attrs.get("id", "").lower().startswith("yahoo_quoted")
        )


def _is_signature(node: _Node) -> bool:
    classes = node.classes()
    return (
        bool(classes & {"gmail_signature", "moz-signature"})
        or node.attrs.get("id", "").lower() in {"signature", "signature_block"}
        or "data-signatureblock" in node.attrs
    )


def _starts_quoted_thread(node: _Node) -> bool:
    """Markers after which everything is the quoted thread (Outlook, Hotmail, Zimbra)."""
    node_id = node.attrs.get("id", "").lower()
    if node_id in {"appendonsend", "divrplyfwdmsg", "stopspelling", "zwchr"}:
        return True
    if "outlookmessageheader" in node.classes():
        return True
    style = node.attrs.get("style", "").lower().replace(" ", "")
    return (
        node.tag == "div"
        and "border-top" in style
        and "solid" in style
        and bool(HEADER_TEXT.match(node.text().replace("\xa0", " ")))
    )


def html_to_text(html: str, *, keep_signature: bool = False) -> str:
    """The text of an HTML email body, without the quote containers of the mail clients (and
    their signature blocks, unless ``keep_signature``), in paragraphs and lines."""
    try:
        builder = _TreeBuilder()
        builder.feed(html)
        builder.close()
    except AssertionError:  # CPython's parser asserts on malformed "<![…]>" sections: drop them all
        builder = _TreeBuilder()
        builder.feed(_MARKED_SECTION.sub("", html))
        builder.close()
    out = _Writer()
    _Renderer(keep_signature=keep_signature).render(builder.root, out)
    return "\n".join(out.result()).replace("\xa0", " ")
