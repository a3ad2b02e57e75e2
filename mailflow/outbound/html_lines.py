"""HTML bodies as 7bit: short lines and ASCII, so the HTML part needs no quoted-printable.

Quoted-printable of a 22 KB HTML body was a fifth of the reminder sweep's CPU. HTML
does not need it: whitespace between a tag's attributes may be a line break, and any
character may be written as a character reference. So:

- ``fold_tags`` runs once per template version, on MJML's output (lines of up to
  9,000 characters): it turns the space before an attribute into a line break where a
  line would pass ``width``. Nothing else changes, Jinja's tags included.
- ``as_7bit`` runs per email: non-ASCII becomes ``&#NNN;`` and line ends CRLF. It
  declines (``None``: the caller falls back to quoted-printable) when that would change
  the email: a non-ASCII character inside ``<style>`` (raw text, where references are
  not decoded), a NUL, or a line still longer than RFC 5322's 998 characters (a long
  value substituted into the template).

The HTML parser sees the same document either way (``tests/unit/test_html_lines.py``).
"""

from __future__ import annotations

import bisect
import re

__all__ = ["MAX_LINE", "as_7bit", "fixed_ascii_styles", "fold_tags"]

MAX_LINE = 998
"""RFC 5322's limit on a line, without its CRLF."""

# A start tag: "<" and a letter, then anything but ">" or a quoted value (which may hold ">").
_START_TAG = re.compile(r"""<[A-Za-z][^>"']*(?:(?:"[^"]*"|'[^']*')[^>"']*)*>""")
# A start tag's pieces, left to right with no gaps: quoted values, whitespace, the rest.
_PIECES = re.compile(r""""[^"]*"|'[^']*'|\s+|[^\s"']+|["']""")
_ATTRIBUTE = re.compile(r"[A-Za-z_:][-\w:.]*=")
_STYLE_TAG = re.compile(r"<(/?)style", re.IGNORECASE)
_NEWLINE = re.compile("\n")
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


def fold_tags(html: str, width: int = 78) -> str:
    """``html`` with lines broken before attributes, where a line would pass ``width``.

    Only the single space that separates attributes inside a start tag is replaced, never
    inside a Jinja tag nor right after a block tag (``trim_blocks`` would drop the line
    break), so what the page shows is unchanged:

    >>> fold_tags('<td align="left" style="padding:0">x</td>', width=20)
    '<td align="left"\\nstyle="padding:0">x</td>'
    """
    jinja = list(_JINJA.finditer(html))
    starts, ends = [m.start() for m in jinja], [m.end() for m in jinja]
    breaks: list[int] = []
    for tag in _START_TAG.finditer(html):
        pieces = list(_PIECES.finditer(html, tag.start(), tag.end()))
        for before, space, after in zip(pieces, pieces[1:], pieces[2:], strict=False):
            at = space.start()
            if (
                space.group() == " "
                and _ATTRIBUTE.match(after.group())
                and not before.group().endswith(("%}", "#}"))  # trim_blocks would drop the break
                and not _within(at, starts, ends)
            ):
                breaks.append(at)
    if not breaks:
        return html
    # Greedy, line by line: where a line would pass ``width``, break at its last break point so
    # far. The existing line ends (and the end) close a line, so a long tail is seen too.
    line_ends = [m.start() for m in _NEWLINE.finditer(html)] + [len(html)]
    cuts: list[int] = []
    line_start, previous = 0, -1
    for at, is_end in sorted([(at, False) for at in breaks] + [(at, True) for at in line_ends]):
        if at - line_start > width and previous >= line_start:
            cuts.append(previous)
            line_start = previous + 1
        if is_end:
            line_start = at + 1
        else:
            previous = at
    out: list[str] = []
    copied = 0
    for cut in cuts:
        out += (html[copied:cut], "\n")
        copied = cut + 1
    out.append(html[copied:])
    return "".join(out)


def _within(at: int, starts: list[int], ends: list[int]) -> bool:
    """Whether ``at`` lies in one of the spans ``starts[i]:ends[i]`` (sorted, apart)."""
    index = bisect.bisect_right(starts, at) - 1
    return index >= 0 and at < ends[index]


def as_7bit(html: str, styles_ascii: bool = False) -> bytes | None:
    """``html`` as ASCII with CRLF line ends and lines of at most 998 characters, or ``None``
    when it cannot be written so without changing what it shows.

    ``styles_ascii``: the caller knows every ``<style>`` block is ASCII (``fixed_ascii_styles``
    of its template), so they are not looked for again.
    """
    if "\0" in html:
        return None
    if html.isascii():
        data = html.encode("ascii")
    elif styles_ascii or _styles_ascii(html):
        data = html.encode("ascii", "xmlcharrefreplace")
    else:
        return None
    if b"\r" in data:  # HTML parsers read CR LF and a lone CR as LF: the same document
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    lines = data.split(b"\n")
    if max(map(len, lines)) > MAX_LINE:
        return None
    return b"\r\n".join(lines)


def fixed_ascii_styles(template: str) -> bool:
    """Whether every ``<style>`` block of the HTML ``template`` is ASCII with no Jinja tag in it,
    so every email rendered from it has ASCII style blocks (substituted values are escaped:
    they cannot open one)."""
    return all(
        block.isascii() and "{{" not in block and "{%" not in block for block in _style_blocks(template)
    )


def _style_blocks(html: str) -> list[str]:
    """The contents of ``html``'s ``<style>`` blocks (an unclosed one runs to the end)."""
    blocks: list[str] = []
    opened = -1
    for tag in _STYLE_TAG.finditer(html):
        if tag.group(1):
            if opened != -1:
                blocks.append(html[opened : tag.start()])
            opened = -1
        elif opened == -1:
            opened = tag.end()
    if opened != -1:
        blocks.append(html[opened:])
    return blocks


def _styles_ascii(html: str) -> bool:
    """Whether every ``<style>`` block of ``html`` is ASCII (references are not decoded there)."""
    return all(block.isascii() for block in _style_blocks(html))
