"""Webhook deliveries per second to a local receiver on one worker, next to a bare httpx loop.

A minimal ASGI receiver (uvicorn, in its own process) answers 200 to every POST.
Queues N deliveries of a realistic ``booking.created`` body in a fresh SQLite
database (or ``--database-url``), then measures:

- raw: one ``httpx.AsyncClient`` POSTing the same N bodies, one after the other;
- worker: ``WebhookSender.run_once`` claiming, signing, sending and recording them.

Goal (issue 19): the worker reaches at least 60 % of the raw rate.

    python bench/webhooks.py [--count 2000] [--database-url postgresql+psycopg://…]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import delete
from sqlmodel import Session

from mailflow.booking.model import Actor, ActorKind
from mailflow.demo import seed_demo
from mailflow.outbound.webhook_queue import body, enqueue_delivery
from mailflow.outbound.webhook_sender import CONCURRENCY, WebhookSender
from mailflow.services.webhooks import add_endpoint
from mailflow.store.engine import make_engine
from mailflow.store.migrate import upgrade
from mailflow.store.webhook_tables import WebhookDelivery

RECEIVER = """
import sys, uvicorn

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""

BOOKING = {
    "ref": "K7Q2MX",
    "status": "confirmed",
    "origin": "staff",
    "service": "haircut",
    "staff": "bob@contoso.example",
    "customer": {
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "locale": "en",
        "timezone": "Europe/Berlin",
    },
    "start": "2026-12-08T10:00:00+01:00",
    "end": "2026-12-08T10:45:00+01:00",
    "sequence": 0,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the receiver did not start")


async def raw_rate(url: str, payloads: list[str]) -> float:
    async with httpx.AsyncClient() as client:
        started = time.perf_counter()
        for payload in payloads:
            answer = await client.post(url, content=payload, headers={"content-type": "application/json"})
            answer.raise_for_status()
        return len(payloads) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help="requests in flight")
    args = parser.parse_args()

    port = free_port()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)])
    url = f"http://127.0.0.1:{port}/hooks"
    try:
        wait_for(port)
        now = datetime.now(UTC)
        payloads = [
            body("booking.created", now, {"booking": {**BOOKING, "ref": f"B{i:05d}"}, "actor": "api"})
            for i in range(args.count)
        ]
        raw = asyncio.run(raw_rate(url, payloads))
        with tempfile.TemporaryDirectory() as tmp:
            database = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
            engine = make_engine(database)
            upgrade(engine)
            seed_demo(engine, now)
            view, _secret = add_endpoint(engine, "contoso", url=url, actor=Actor(ActorKind.SYSTEM), now=now)
            with Session(engine) as session:
                session.execute(delete(WebhookDelivery))
                for payload in payloads:
                    enqueue_delivery(
                        session, endpoint_id=view.id, business_id=1, booking_id=None,
                        event_type="booking.created", payload=payload, now=now,
                    )  # fmt: skip
                session.commit()
            sender = WebhookSender(engine, notice_domain="bench.example", concurrency=args.concurrency)
            started = time.perf_counter()
            report = asyncio.run(sender.run_once(now))
            elapsed = time.perf_counter() - started
            engine.dispose()
    finally:
        receiver.terminate()
        receiver.wait(10)
    rate = report.delivered / elapsed
    engine_name = database.split(":")[0]
    print(f"{args.count} deliveries of {len(payloads[0])} bytes to a local uvicorn receiver ({engine_name})")
    print(f"  bare httpx loop, one client:  {raw:,.0f} req/s")
    done = f"{report.delivered} delivered, {report.retried} retried"
    print(f"  mailflow webhook worker:      {rate:,.0f} req/s ({done})")
    print(f"  worker / bare loop:           {rate / raw:.0%}  (goal: at least 60 %)")


if __name__ == "__main__":
    main()
