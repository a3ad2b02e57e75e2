"""The new text of a reply: what the sender wrote, without the quoted thread or a signature.

``new_text(message)`` picks the best body part (``text/plain``, else the HTML
converted to text with the mail clients' quote containers removed) and hands it
to ``strip_reply(text)``, which works line by line:

1. each line is classified: empty, quoted (``>``), quote header ("On … wrote:",
   "Am … schrieb …:", "-----Original Message-----", …, also when wrapped over
   several lines), mail header (From/Sent/To/Subject in a dozen languages),
   delimiter (a line of ``-``/``_``/``=``…), signature ("-- ", "Sent from my
   iPhone", …) or text; lines inside a ````` fence are always text;
2. before the first line of text, quote headers, header blocks and delimiters
   are dropped (a reply written below the quote); after it, the first of them
   cuts off everything that follows (a reply written above the quote);
3. quoted lines are removed wherever they are, so a command written below or
   between quotes is still found;
4. the first signature line cuts off the rest, and a closing formula ("Mit
   freundlichen Grüßen", "Best regards", …) followed by at most three short
   lines is dropped;
5. trailing whitespace and runs of blank lines are collapsed.

It is conservative on purpose: it only removes what it recognises, and a
closing formula never swallows the whole message. The patterns of each mail
client and language are in ``mailflow.inbound.reply_patterns``.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from html.parser import HTMLParser

from mailflow.inbound.reply_patterns import (
    CLOSING,
    CLOSING_TAIL_LINES,
    CLOSING_TAIL_WIDTH,
    DELIMITER,
    FENCE,
    FROM_KEY,
    HEADER_START_HINT,
    HEADER_TEXT,
    INVISIBLE,
    MAIL_HEADER,
    MARKDOWN_LINK,
    QUOTE,
    SIG_DASH,
    SIGNATURE_LINE,
    SIGNATURE_WIDTH,
    WRAPPED_PIECE_WIDTH,
    is_quote_header,
)

__all__ = ["new_text", "strip_reply"]


# --- Text -------------------------------------------------------------------------


def strip_reply(text: str, *, keep_signature: bool = False, keep_closing: bool = False) -> str:
    """Return the new text of a reply body: quotes, quote headers and signature removed.

    Arguments:
        text: the decoded body of a reply, plain text (any line endings).
        keep_signature: keep the signature block ("-- ", "Sent from my iPhone") and the
            closing formula, e.g. to show staff the customer's whole message with their
            contact details; quotes are removed either way.
        keep_closing: keep the closing formula ("Best regards / Max") but still drop the
            signature block.

    Returns the new text with trailing whitespace and runs of blank lines collapsed;
    ``""`` when nothing new is left (a reply that only quotes).

    Example:
        >>> strip_reply("Stornieren\\n\\nVon: Salon <a@b.de>\\nGesendet: Montag\\nAn: Max")
        'Stornieren'
    """
    lines = INVISIBLE.sub("", text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kinds = _classify(lines)
    kept = _keep_new_part(lines, kinds, keep_signature=keep_signature)
    if not (keep_signature or keep_closing):
        kept = _drop_closing(kept)
    return _tidy(kept)


# A reply's new text comes first: only this much of a body is read (a 20 MiB body must not
# keep the worker busy for minutes; the whole message still reaches staff as an attachment).
MAX_TEXT = 100_000

# Line kinds.
_EMPTY, _QUOTED, _HEADER, _MAIL, _DELIM, _SIG, _TEXT = "e", "q", "b", "h", "d", "s", "t"


def _classify(lines: list[str]) -> list[str]:
    kinds: list[str] = []
    in_fence = False
    for line in lines:
        if FENCE.match(line):
            in_fence = not in_fence
            kinds.append(_TEXT)
        elif in_fence:
            kinds.append(_TEXT)
        else:
            kinds.append(_classify_line(line))
    _mark_wrapped_quote_headers(lines, kinds)
    _mark_mail_header_blocks(lines, kinds)
    return kinds


def _classify_line(line: str) -> str:
    if not line.strip():
        return _EMPTY
    if QUOTE.match(line):
        return _QUOTED
    if SIG_DASH.match(line):
        return _SIG
    if DELIMITER.match(line):
        return _DELIM
    unlinked = MARKDOWN_LINK.sub(r"\1", line) if "[" in line else line
    if len(unlinked) <= SIGNATURE_WIDTH and SIGNATURE_LINE.match(unlinked):
        return _SIG
    if len(line) <= 400 and is_quote_header(line.strip()):
        return _HEADER
    if MAIL_HEADER.match(line):
        return _MAIL
    return _TEXT


def _mark_wrapped_quote_headers(lines: list[str], kinds: list[str]) -> None:
    """Mark quote headers wrapped over up to four more lines ("On …, X <\\nx@y> wrote:")."""
    for start, line in enumerate(lines):
        if kinds[start] != _TEXT or len(line) > 250 or not HEADER_START_HINT.search(line):
            continue
        joined = line.strip()
        taken = 0
        for end in range(start + 1, min(start + 7, len(lines))):
            if kinds[end] in (_MAIL, _DELIM, _SIG) or FENCE.match(lines[end]):
                break
            piece = lines[end].strip().lstrip("> ").strip()
            if not piece:
                continue
            # A wrapped header goes on with a few words ("wrote:", "<a@b>", "um 11:53 Uhr:"),
            # not with a header of its own (then the first line was text), unless an address
            # was cut after its "<".
            taken += 1
            open_address = joined.count("<") > joined.count(">")
            if taken > 4 or len(piece) > WRAPPED_PIECE_WIDTH:
                break
            if (kinds[end] == _HEADER or is_quote_header(piece)) and not open_address:
                break
            joined = f"{joined} {piece}"
            if is_quote_header(joined):
                for index in range(start, end + 1):
                    kinds[index] = _HEADER
                break


def _mark_mail_header_blocks(lines: list[str], kinds: list[str]) -> None:
    """Turn runs of mail header lines into one header block, or back into text.

    A block needs three header lines, or two when one is "From:" (in any language);
    a text line between two header lines is a wrapped value ("Subject: a long\\nsubject").
    """
    index = 0
    while index < len(lines):
        if kinds[index] != _MAIL:
            index += 1
            continue
        end = index
        headers = [index]
        probe = index + 1
        while probe < len(lines):
            if kinds[probe] == _MAIL:
                headers.append(probe)
                end = probe
                probe += 1
            elif kinds[probe] == _TEXT and probe + 1 < len(lines) and kinds[probe + 1] == _MAIL:
                probe += 1
            else:
                break
        keys = [MAIL_HEADER.match(lines[h]) for h in headers]
        has_from = any(m is not None and FROM_KEY.match(m["key"]) for m in keys)
        if len(headers) >= 3 or (len(headers) == 2 and has_from):
            for position in range(index, end + 1):
                kinds[position] = _HEADER
        else:
            for position in headers:
                kinds[position] = _TEXT
        index = end + 1


def _keep_new_part(lines: list[str], kinds: list[str], *, keep_signature: bool) -> list[str]:
    kept: list[str] = []
    seen_text = False
    for line, kind in zip(lines, kinds, strict=True):
        if kind == _QUOTED:
            continue
        if kind in (_HEADER, _DELIM) or (kind == _SIG and not keep_signature):
            if seen_text:
                break
            continue
        if kind in (_TEXT, _SIG):
            seen_text = True
        kept.append(line)
    return kept


def _drop_closing(lines: list[str]) -> list[str]:
    """Drop a closing formula followed by at most a few short lines (a name, a phone number)."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    for position in filled[-(CLOSING_TAIL_LINES + 1) :]:
        tail = [lines[i] for i in filled if i > position]
        if (
            position > filled[0]
            and CLOSING.match(lines[position])
            and all(len(line.strip()) <= CLOSING_TAIL_WIDTH for line in tail)
        ):
            return lines[:position]
    return lines


def _tidy(lines: list[str]) -> str:
    text = "\n".join(line.rstrip() for line in lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


# --- Messages ---------------------------------------------------------------------


def new_text(message: EmailMessage, *, keep_signature: bool = False) -> str:
    """Return the stripped new text of a reply message.

    Prefers the ``text/plain`` body; when it is missing or blank, the HTML body is
    converted to text first, dropping the quote containers of Gmail, Outlook, Apple
    Mail, Thunderbird, Yahoo, Hotmail and Zimbra. The body is decoded with its declared
    charset; an undeclared, unknown or wrong charset never raises: UTF-8 is tried,
    then Windows-1252, then Latin-1. ``keep_signature`` is passed to ``strip_reply``.

    Example:
        >>> msg = EmailMessage()
        >>> msg.set_content("Cancel\\n\\nOn Mon, 2 Jun 2025 at 10:00, Salon <a@b.de> wrote:\\n> Hi")
        >>> new_text(msg)
        'Cancel'
    """
    plain = _body(message, "plain")
    text = _decoded(plain)[:MAX_TEXT] if plain is not None else ""
    if not text.strip():
        html = _body(message, "html")
        if html is not None:
            text = _html_to_text(_decoded(html)[: MAX_TEXT * 4], keep_signature=keep_signature)[:MAX_TEXT]
    return strip_reply(text, keep_signature=keep_signature)


def _body(message: EmailMessage, subtype: str) -> Message | None:
    """The message's ``text/<subtype>`` body, also when its MIME structure is broken."""
    try:
        return message.get_body(preferencelist=(subtype,))
    except Exception:  # noqa: S110 - the stdlib trips over some broken multiparts: walk them ourselves
        pass
    stack: list[Message] = [message]
    while stack:
        part = stack.pop(0)
        payload = part.get_payload()
        if isinstance(payload, list):
            stack[0:0] = [p for p in payload if isinstance(p, Message)]
            continue
        # A multipart without a usable boundary holds its body as plain text.
        content_type = "text/plain" if part.get_content_maintype() == "multipart" else part.get_content_type()
        if content_type == f"text/{subtype}" and part.get_content_disposition() != "attachment":
            return part
    return None


_SINGLE_BYTE = re.compile(r"^(?:us-ascii|ascii|iso-8859-\d+|latin-?1|l1|windows-125\d|cp125\d)$")


def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return str(payload or "")
    declared = (part.get_content_charset() or "").strip().lower()
    candidates: list[str] = []
    if declared:
        # A single-byte charset accepts any bytes; valid non-ASCII UTF-8 is almost never
        # real Latin-1 text, so a mislabelled UTF-8 body is read as UTF-8.
        if _SINGLE_BYTE.match(declared) and not payload.isascii():
            candidates.append("utf-8")
        candidates.append(declared)
    candidates += ["utf-8", "windows-1252"]
    for charset in dict.fromkeys(candidates):
        try:
            codecs.lookup(charset)
            return payload.decode(charset)
        except (LookupError, ValueError, TypeError):  # unknown name, bad bytes, odd codec
            continue
    return payload.decode("latin-1")


# --- HTML -------------------------------------------------------------------------

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


def _html_to_text(html: str, *, keep_signature: bool = False) -> str:
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
