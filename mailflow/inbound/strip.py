"""The new text of a reply: what the sender wrote, without the quoted thread or a signature.

``new_text(message)`` picks the best body part (``text/plain``, else the HTML
converted to text with the mail clients' quote containers removed, see
``mailflow.inbound.html_text``) and hands it to ``strip_reply(text)``, which works
line by line:

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

The lines are classified from the top, a few at a time, until the cut of step 2
can no longer move (``_new_part``): the quoted thread below it is never read.

It is conservative on purpose: it only removes what it recognises, and a
closing formula never swallows the whole message. The patterns of each mail
client and language are in ``mailflow.inbound.reply_patterns``.
"""

from __future__ import annotations

import codecs
import re
from email.message import EmailMessage, Message

from mailflow.inbound.html_text import html_to_text
from mailflow.inbound.reply_patterns import (
    CLOSING,
    CLOSING_TAIL_LINES,
    CLOSING_TAIL_WIDTH,
    DELIMITER,
    FENCE,
    FROM_KEY,
    HEADER_START_HINT,
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
    kept = _new_part(lines, keep_signature=keep_signature)
    if not (keep_signature or keep_closing):
        kept = _drop_closing(kept)
    return _tidy(kept)


# A reply's new text comes first: only this much of a body is read (a 20 MiB body must not
# keep the worker busy for minutes; the whole message still reaches staff as an attachment).
MAX_TEXT = 100_000

# Line kinds.
_EMPTY, _QUOTED, _HEADER, _MAIL, _DELIM, _SIG, _TEXT = "e", "q", "b", "h", "d", "s", "t"


FIRST_LINES = 24
"""The lines classified first: a reply's new text, and what ends it, are near the top."""
_LOOK_AHEAD = 6
"""How far below a line the lines are that its kind depends on: a quote header wrapped over
seven lines (``_mark_wrapped_quote_headers``)."""


def _new_part(lines: list[str], *, keep_signature: bool, first: int = FIRST_LINES) -> list[str]:
    """``_keep_new_part`` of ``lines``, classifying only as far down as its cut needs.

    The quoted thread below a reply is most of its lines, and classifying a line can cost a
    pattern match of 10-20 us: the first ``first`` lines are classified, then four times as
    many, and so on, until the new part's cut lies where the lines below can no longer change
    a kind above it (the same answer as classifying every line).
    """
    size = first
    while size < len(lines):
        head = lines[:size]
        kinds, settled = _classify(head)
        kept, cut = _keep_new_part(head, kinds, keep_signature=keep_signature)
        if cut is not None and cut < settled:
            return kept
        size *= 4
    kinds, _ = _classify(lines)
    return _keep_new_part(lines, kinds, keep_signature=keep_signature)[0]


def _classify(lines: list[str]) -> tuple[list[str], int]:
    """The kind of every line of ``lines``, and how many of the first lines have the kinds
    they would have whatever lines followed (the others depend on lines below the last)."""
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
    # A line's kind so far depends on the lines up to _LOOK_AHEAD below it; a header block's
    # on how far its run of header lines goes.
    settled = len(lines) - _LOOK_AHEAD
    first_open = _mark_mail_header_blocks(lines, kinds, settled)
    return kinds, min(settled, first_open)


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
        for end in range(start + 1, min(start + 1 + _LOOK_AHEAD, len(lines))):
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


def _mark_mail_header_blocks(lines: list[str], kinds: list[str], settled: int) -> int:
    """Turn runs of mail header lines into one header block, or back into text.

    A block needs three header lines, or two when one is "From:" (in any language);
    a text line between two header lines is a wrapped value ("Subject: a long\\nsubject").
    Returns where the first run starts that reads a kind from ``settled`` on (one that more
    lines could make longer), else ``len(lines)``.
    """
    first_open = len(lines)
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
        if probe + 1 >= settled:
            first_open = min(first_open, index)
        keys = [MAIL_HEADER.match(lines[h]) for h in headers]
        has_from = any(m is not None and FROM_KEY.match(m["key"]) for m in keys)
        if len(headers) >= 3 or (len(headers) == 2 and has_from):
            for position in range(index, end + 1):
                kinds[position] = _HEADER
        else:
            for position in headers:
                kinds[position] = _TEXT
        index = end + 1
    return first_open


def _keep_new_part(
    lines: list[str], kinds: list[str], *, keep_signature: bool
) -> tuple[list[str], int | None]:
    """The lines of the new part, and the index of the line that cut off the rest (None: none did)."""
    kept: list[str] = []
    seen_text = False
    for index, (line, kind) in enumerate(zip(lines, kinds, strict=True)):
        if kind == _QUOTED:
            continue
        if kind in (_HEADER, _DELIM) or (kind == _SIG and not keep_signature):
            if seen_text:
                return kept, index
            continue
        if kind in (_TEXT, _SIG):
            seen_text = True
        kept.append(line)
    return kept, None


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
            text = html_to_text(_decoded(html)[: MAX_TEXT * 4], keep_signature=keep_signature)[:MAX_TEXT]
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
