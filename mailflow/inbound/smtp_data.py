"""A message's lines handed to aiosmtpd's DATA loop several at a time.

aiosmtpd reads DATA one line per ``readuntil(b"\\r\\n")`` and does a line's worth
of bookkeeping for each (the end-of-data test, the size and line-length counts,
the dot-unstuffing); for a reply of forty short lines that loop was a sixth of
the SMTP side's time. :class:`DataLines` stands in for the connection's reader
while aiosmtpd's ``smtp_DATA`` runs and answers a ``readuntil`` with every
complete line already received, as one chunk, where aiosmtpd's reading of that
chunk is the same as of its lines one by one:

- a chunk is at most ``limit`` bytes (aiosmtpd's ``line_length_limit``), so it
  passes the line-length check exactly when each of its lines does;
- no line but a chunk's first starts with ".", so the dot-unstuffing (of a
  chunk's first byte) and the end-of-data test (a chunk equal to ".\\r\\n") see
  every such line first in its chunk, and nothing after the end of the data (a
  pipelined command) is ever taken;
- anything else (a line starting with ".", one longer than ``limit``, one not
  complete yet) goes to the reader itself, one line, as before.

It reads the reader's buffer, as aiosmtpd itself does at STARTTLS.
"""

from __future__ import annotations

import asyncio

__all__ = ["DataLines", "complete_lines"]


def complete_lines(buffer: bytes | bytearray, limit: int) -> int:
    """The length of the chunk of complete CRLF lines at the start of ``buffer`` to hand over at
    once (0: let the reader read one line).

    >>> complete_lines(b"Subject: hi\\r\\n\\r\\nsee you\\r\\n..stuffed\\r\\n.\\r\\nQUIT\\r\\n", 1001)
    24
    >>> complete_lines(b".\\r\\nQUIT\\r\\n", 1001), complete_lines(b"no end yet", 1001)
    (0, 0)
    """
    window = bytes(buffer[:limit])
    if window.startswith(b"."):
        return 0
    end = window.rfind(b"\r\n") + 2
    if end < 2:
        return 0
    dot = window.find(b"\r\n.", 0, end)
    return dot + 2 if dot != -1 else end


class DataLines:
    """The connection's reader for the time of one DATA command (see the module's docstring)."""

    def __init__(self, reader: asyncio.StreamReader, limit: int) -> None:
        self.reader = reader
        self.limit = limit

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        reader = self.reader
        buffer: bytearray = reader._buffer  # type: ignore[attr-defined]
        end = complete_lines(buffer, self.limit) if separator == b"\r\n" and buffer else 0
        if end == 0 or reader.exception() is not None:
            return await reader.readuntil(separator)
        chunk = bytes(buffer[:end])
        del buffer[:end]
        reader._maybe_resume_transport()  # type: ignore[attr-defined]
        return chunk

    async def read(self, n: int = -1) -> bytes:
        return await self.reader.read(n)
