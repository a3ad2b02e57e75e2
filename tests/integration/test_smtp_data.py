"""DATA read several lines at a time (``smtp_data.DataLines``) answers and stores exactly what
aiosmtpd's own line-by-line reading does: the same SMTP sessions, sent over real sockets in
random pieces to both, give the same replies and the same stored bytes."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from mailflow.inbound.smtp import _Limited, _protocol
from mailflow.inbound.smtp_data import complete_lines

SIZE_LIMIT = 6000  # small, so some sessions go over it (552)


class Recorder:
    """An aiosmtpd handler keeping each message's bytes, answering 250."""

    def __init__(self) -> None:
        self.stored: list[bytes] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.stored.append(bytes(envelope.original_content or b""))
        return "250 OK"


def _line(rng: random.Random) -> bytes:
    kind = rng.random()
    if kind < 0.10:
        return b"." * rng.randint(1, 3) + b"dotted"
    if kind < 0.13:
        return b""
    if kind < 0.17:
        return b"x" * rng.choice([996, 997, 998, 999, 1000, 1001, 1002, 1100, 2500])  # near the limits
    if kind < 0.22:
        return "Grüße, bis Dienstag".encode()  # 8-bit
    if kind < 0.25:
        return b"bare\nline feed and\rcarriage return"
    return bytes(rng.choice(b"abcdefghij .:-<>") for _ in range(rng.randint(1, 90)))


def _session(rng: random.Random) -> bytes:
    out = [b"EHLO client.example\r\n"]
    for _ in range(rng.randint(1, 3)):
        out.append(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
        lines = [_line(rng) for _ in range(rng.randint(0, 120))]
        stuffed = [b"." + line if line.startswith(b".") else line for line in lines]  # as a client does
        out.append(b"".join(line + b"\r\n" for line in stuffed) + b".\r\n")
        if rng.random() < 0.5:
            out.append(b"NOOP\r\n")  # pipelined right after the end of the data
    out.append(b"QUIT\r\n")
    return b"".join(out)


async def _transcript(port: int, data: bytes, rng: random.Random) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    at = 0
    while at < len(data):
        step = rng.choice([1, 7, 64, 700, 1500, 5000, len(data)])
        writer.write(data[at : at + step])
        await writer.drain()
        at += step
        if rng.random() < 0.3:
            await asyncio.sleep(0)  # let the server read a partial buffer
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    return answer


async def _both(sessions: list[bytes], seed: int) -> tuple[list[Any], list[Any]]:
    loop = asyncio.get_running_loop()
    options = {"hostname": "mx.test", "ident": "test", "data_size_limit": SIZE_LIMIT}
    theirs, ours = Recorder(), Recorder()
    factories: list[Callable[[], Any]] = [
        lambda: SMTP(theirs, **options),
        lambda: _protocol(SMTP, ours, _Limited(1000), **options),  # type: ignore[arg-type]
    ]
    servers = [await loop.create_server(factory, "127.0.0.1", 0) for factory in factories]
    ports = [server.sockets[0].getsockname()[1] for server in servers]
    try:
        results: list[list[Any]] = [[], []]
        for number, data in enumerate(sessions):
            for side, port in enumerate(ports):
                results[side].append(await _transcript(port, data, random.Random(seed * 1000 + number)))
        results[0].append(theirs.stored)
        results[1].append(ours.stored)
        return results[0], results[1]
    finally:
        for server in servers:
            server.close()
            await server.wait_closed()


@pytest.mark.parametrize("seed", range(6))
def test_same_replies_and_bytes_as_aiosmtpd(seed: int) -> None:
    rng = random.Random(seed)
    sessions = [_session(rng) for _ in range(40)]
    theirs, ours = asyncio.run(_both(sessions, seed))
    assert ours == theirs
    answers = b"".join(theirs[:-1])
    # The sessions reach every branch: stored, dot-unstuffed, too long a line, too much data.
    assert b"250 OK" in answers and b"500 Line too long" in answers and b"552" in answers
    assert any(b"\r\n.dotted" in stored or stored.startswith(b".dotted") for stored in theirs[-1])


def test_chunks_stop_before_a_dot_line_and_within_the_limit() -> None:
    assert complete_lines(b"a\r\nb\r\n.\r\nNOOP\r\n", 1001) == 6
    assert complete_lines(b"a\r\n..b\r\nc\r\n", 1001) == 3
    assert complete_lines(b"..b\r\nc\r\n", 1001) == 0  # a dot line is read alone
    assert complete_lines(b"a\r\nb", 1001) == 3  # a line not complete yet waits
    assert complete_lines(b"x" * 999 + b"\r\n", 1001) == 1001
    assert complete_lines(b"x" * 1000 + b"\r\n", 1001) == 0  # longer than the limit: the reader's check
    assert complete_lines(b"a\r\n" + b"x" * 1000 + b"\r\n", 1001) == 3
