"""Outbox delivery rate to a local aiosmtpd sink, next to the sink's raw rate.

Queues N realistic messages (a rendered confirmation, each with its own
Message-ID) in a fresh SQLite outbox, then measures:

- raw: aiosmtplib sending the same N messages over one connection;
- dispatcher: ``Dispatcher.run_once`` claiming, sending and recording them.

    python bench/delivery.py [--count 5000] [--database-url postgresql+psycopg://…]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiosmtplib
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink
from sqlalchemy import delete
from sqlmodel import Session

from mailflow.demo import seed_demo
from mailflow.outbound.compose import Address, Envelope, compose
from mailflow.outbound.dispatch import Dispatcher
from mailflow.outbound.message import OutgoingEmail
from mailflow.outbound.outbox import enqueue
from mailflow.outbound.render import Renderer
from mailflow.outbound.samples import sample_context
from mailflow.outbound.templates import default_source
from mailflow.outbound.transports import SmtpTransport
from mailflow.store.engine import make_engine
from mailflow.store.migrate import upgrade
from mailflow.store.tables import OutboxMessage


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sample_message(index: int) -> bytes:
    """A complete confirmation as mailflow queues it (QP text and HTML, RFC 5322 headers)."""
    rendered = Renderer().render(
        default_source("confirmation", "en"), sample_context("confirmation", "manage", "en")
    )
    envelope = Envelope(
        sender=Address("hello@contoso.example", "Contoso Salon"),
        to=Address(f"c{index}@example.com"),
        message_id=f"<bench.{index}@bench.example>",
        date=datetime.now(UTC),
        kind="confirmation",
    )
    return compose(envelope, rendered)


async def raw_rate(port: int, messages: list[bytes]) -> float:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
    await client.connect()
    started = time.perf_counter()
    for index, data in enumerate(messages):
        await client.sendmail("hello@contoso.example", [f"c{index}@example.com"], data)
    elapsed = time.perf_counter() - started
    await client.quit()
    return len(messages) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    port = free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    template = sample_message(0)
    messages = [template.replace(b"<bench.0@", f"<bench.{i}@".encode(), 1) for i in range(args.count)]
    try:
        raw = asyncio.run(raw_rate(port, messages))

        with tempfile.TemporaryDirectory() as tmp:
            url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
            engine = make_engine(url)
            upgrade(engine)
            now = datetime.now(UTC)
            seed_demo(engine, now)
            with Session(engine) as session:
                session.execute(delete(OutboxMessage))
                for index, data in enumerate(messages):
                    email = OutgoingEmail(
                        "confirmation", f"c{index}@example.com", f"<bench.{index}@x>", "s", data
                    )
                    sender = "hello@contoso.example"
                    enqueue(session, email, business_id=1, booking_id=None, envelope_from=sender, now=now)
                session.commit()
            transport = SmtpTransport(
                "127.0.0.1", port, use_tls=False, start_tls=False, username=None, password=None
            )
            dispatcher = Dispatcher(engine, transport)
            started = time.perf_counter()
            report = asyncio.run(dispatcher.run_once(now))
            elapsed = time.perf_counter() - started
            engine.dispose()
    finally:
        controller.stop()
    rate = report.sent / elapsed
    size = len(template) / 1024
    print(f"{args.count} messages of {size:.1f} KiB to a local aiosmtpd sink ({url.split(':')[0]} outbox)")
    print(f"  raw aiosmtplib, one connection: {raw:,.0f} msg/s")
    print(f"  mailflow dispatcher:            {rate:,.0f} msg/s ({report.sent} sent, {report.failed} failed)")
    print(f"  dispatcher / raw:               {rate / raw:.0%}")


if __name__ == "__main__":
    main()
