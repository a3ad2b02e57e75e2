"""The database restarting under load: mailflow rides it out, says so, and loses or repeats no email.

A throwaway PostgreSQL cluster (``tests/pgcluster.py``, never the shared
server) is stopped and started twice, once cleanly (``-m fast``) and once as
a crash (``-m immediate``), while a real ``mailflow serve`` subprocess (web,
worker, inbound SMTP) takes bookings through the JSON API and dispatches
their emails to a real aiosmtpd relay. The first stop comes while the relay
holds a batch in flight, so the worker sends it with the database gone and
must record it afterwards.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import smtplib
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from mailflow.booking.model import Actor, ActorKind
from mailflow.demo import seed_demo
from mailflow.services.api_keys import create_api_key
from mailflow.store.engine import make_engine
from mailflow.store.migrate import upgrade
from mailflow.store.tables import Booking, InboundMessage, OutboxMessage
from tests.conftest import SmtpSink, berlin, free_port
from tests.pgcluster import PgCluster

INBOUND_DOMAIN = "mailflow.localhost"
REQUEST_TIMEOUT = 15.0  # a request that hangs longer than this fails the test


class GatedSink(SmtpSink):
    """The recording relay, whose DATA answers can be held at a gate (the sender waits)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()
        self.holding = threading.Event()
        accept = self.handler.handle_DATA

        async def handle_data(server: Any, session: Any, envelope: Any) -> str:
            deadline = time.monotonic() + 30
            while not self.gate.is_set() and time.monotonic() < deadline:
                self.holding.set()
                await asyncio.sleep(0.02)
            return str(await accept(server, session, envelope))

        self.handler.handle_DATA = handle_data  # type: ignore[method-assign]

    def received(self) -> list[EmailMessage]:
        with self.handler.lock:
            raws = [raw for _, _, raw in self.handler.messages]
        return [email.message_from_bytes(raw, policy=email.policy.default) for raw in raws]


@dataclass
class Load:
    """Books consultations through the API one after another, each in its own free slot."""

    base: str
    key: str
    slots: Iterator[tuple[str, datetime]]
    outcomes: list[tuple[int | str, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=REQUEST_TIMEOUT) as client:
            for number, (staff, start) in enumerate(self.slots):
                if self.stop.is_set():
                    return
                self.outcomes.append(book(client, self.key, staff, start, f"load{number}@example.org"))
                time.sleep(0.05)

    def created(self) -> list[str]:
        return [ref for status, ref in list(self.outcomes) if status == 201]


def book(client: httpx.Client, key: str, staff: str, start: datetime, customer: str) -> tuple[int | str, str]:
    """One booking request: (status, ref or error detail); a timeout is ``"timeout"``."""
    try:
        answer = client.post(
            "/api/v1/bookings",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "service": "consultation",
                "staff": staff,
                "customer": {"email": customer, "name": "Load Test"},
                "start": start.isoformat(),
                "origin": "staff",
            },
        )
    except httpx.TimeoutException:
        return "timeout", ""
    if answer.status_code == 201:
        return 201, str(answer.json()["ref"])
    return answer.status_code, answer.text[:300]


def free_slots(first_day: date) -> Iterator[tuple[str, datetime]]:
    """Every half hour of working time, Bob's and Carla's, weekdays from ``first_day`` on."""
    day = first_day
    while True:
        if day.weekday() < 5:
            for half_hours in range(18, 34):
                for staff in ("bob@contoso.example", "carla@contoso.example"):
                    yield staff, berlin(day, half_hours // 2, 30 * (half_hours % 2))
        day += timedelta(days=1)


def wait_until(
    what: str,
    check: Callable[[], bool],
    seconds: float,
    server: subprocess.Popen[bytes],
    explain: Callable[[], object] = lambda: "",
) -> None:
    """Poll ``check`` until true; fails naming ``what`` (and ``explain()``) after ``seconds``,
    or at once if the server exits."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert server.poll() is None, f"mailflow serve exited ({server.returncode}) while waiting for {what}"
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what} after {seconds} s {explain()}")


def readyz(base: str) -> int:
    try:
        return httpx.get(f"{base}/readyz", timeout=REQUEST_TIMEOUT).status_code
    except httpx.TransportError:
        return 0


def reply_for(confirmation: EmailMessage, text: str) -> tuple[str, bytes]:
    answer = EmailMessage()
    answer["From"] = str(confirmation["To"])
    answer["To"] = str(confirmation["Reply-To"])
    answer["Subject"] = f"Re: {confirmation['Subject']}"
    answer["Message-ID"] = "<restart-reply-1@example.org>"
    answer["In-Reply-To"] = str(confirmation["Message-ID"])
    answer.set_content(f"{text}\n\n> your booking …\n")
    return str(confirmation["Reply-To"].addresses[0].addr_spec), answer.as_bytes()


@pytest.fixture
def database(cluster: PgCluster, now: datetime) -> Iterator[tuple[str, Engine, str]]:
    """The cluster's migrated database with the demo business: (URL, engine, API key)."""
    url = cluster.create_database("mailflow")
    engine = make_engine(url)
    upgrade(engine)
    seed_demo(engine, now)
    key = create_api_key(engine, "contoso", actor=Actor(ActorKind.STAFF, "test"), now=now)[1]
    yield url, engine, key
    engine.dispose()


@pytest.fixture
def sink() -> Iterator[GatedSink]:
    relay = GatedSink()
    relay.start()
    yield relay
    relay.gate.set()
    relay.stop()


def test_database_restarts_under_load_lose_and_repeat_nothing(
    cluster: PgCluster,
    database: tuple[str, Engine, str],
    sink: GatedSink,
    tmp_path: Path,
    next_tuesday: date,
) -> None:
    """Two restarts mid-load: the service stays up, is unready (503) while the database is away
    and ready after, refuses requests with 503 meanwhile, and every committed booking's emails
    reach the relay exactly once."""
    url, engine, key = database
    web_port, smtp_port = free_port(), free_port()
    base = f"http://127.0.0.1:{web_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILFLOW_")}
    env.update(
        {
            "MAILFLOW_DATABASE_URL": url,
            "MAILFLOW_OUTBOUND_URL": sink.url,
            "MAILFLOW_DATA_DIR": str(tmp_path / "data"),
            "MAILFLOW_WEB_BIND": f"127.0.0.1:{web_port}",
            "MAILFLOW_PUBLIC_URL": base,
            "MAILFLOW_SMTP_BIND": f"127.0.0.1:{smtp_port}",
            "MAILFLOW_INBOUND_DOMAIN": INBOUND_DOMAIN,
        }
    )
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "mailflow", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    load = Load(base, key, free_slots(next_tuesday))
    loader = threading.Thread(target=load.run, daemon=True)
    try:
        wait_until("the service to be ready", lambda: readyz(base) == 200, 60, server)
        loader.start()
        wait_until("the first bookings' emails", lambda: len(sink.received()) >= 6, 30, server)
        confirmation = next(m for m in sink.received() if m["X-Mailflow-Kind"] == "confirmation")
        reply_to, reply = reply_for(confirmation, "Is there parking nearby?")

        # 1. A clean stop while the relay holds a batch: it is sent with the database gone.
        sink.gate.clear()
        sink.holding.clear()
        wait_until("a batch in flight at the relay", sink.holding.is_set, 30, server)
        cluster.stop("fast")
        assert readyz(base) == 503
        with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT) as client:
            status, detail = book(
                client, key, "bob@contoso.example", berlin(next_tuesday, 8), "probe@example.org"
            )
            assert status == 503, detail
            assert "database" in detail
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=REQUEST_TIMEOUT) as smtp:
            smtp.ehlo("mx.example.org")
            smtp.mail(str(confirmation["To"].addresses[0].addr_spec))
            code, _ = smtp.rcpt(reply_to)
            assert 400 <= code < 500, "a reply must be deferred, not refused, while the database is away"
        sink.gate.set()
        time.sleep(1.0)  # the worker finishes the batch and fails to record it
        cluster.start()
        wait_until("ready after the first restart", lambda: readyz(base) == 200, 30, server)
        created_before = len(load.created())
        wait_until(
            "bookings after the first restart", lambda: len(load.created()) >= created_before + 5, 30, server
        )

        # 2. A crash of the database server.
        cluster.stop("immediate")
        assert readyz(base) == 503
        time.sleep(1.0)
        cluster.start()
        wait_until("ready after the second restart", lambda: readyz(base) == 200, 30, server)
        created_before = len(load.created())
        wait_until(
            "bookings after the second restart", lambda: len(load.created()) >= created_before + 5, 30, server
        )
        load.stop.set()
        loader.join(timeout=REQUEST_TIMEOUT + 5)
        assert not loader.is_alive()

        # The reply deferred during the outage is taken now, and reaches staff.
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=REQUEST_TIMEOUT) as smtp:
            assert smtp.sendmail(str(confirmation["To"].addresses[0].addr_spec), [reply_to], reply) == {}

        engine.dispose()  # its connections died with the restarts

        def drained() -> bool:
            with Session(engine) as session:
                rows = session.exec(select(OutboxMessage.status, OutboxMessage.kind)).all()
                inbound = session.exec(select(InboundMessage.status)).all()
            return (
                bool(rows)
                and all(status == "sent" for status, _ in rows)
                and any(kind == "customer_message" for _, kind in rows)
                and list(inbound) == ["done"]
                and len(sink.received()) >= len(rows)
            )

        def state() -> object:
            with Session(engine) as session:
                outbox = Counter(session.exec(select(OutboxMessage.status)).all())
                inbound = Counter(session.exec(select(InboundMessage.status)).all())
            return {"outbox": outbox, "inbound": inbound, "relay": len(sink.received())}

        wait_until("every queued email to be sent", drained, 45, server, state)
        assert server.poll() is None
    finally:
        load.stop.set()
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
    serve_log = log_path.read_text(errors="replace")
    assert server.returncode == 0, serve_log[-3000:]

    statuses = Counter(status for status, _ in load.outcomes)
    assert set(statuses) <= {201, 503}, (statuses, [o for o in load.outcomes if o[0] not in (201, 503)][:5])
    with Session(engine) as session:
        refs = set(session.exec(select(Booking.ref)).all())
        outbox = session.exec(select(OutboxMessage)).all()
        confirmed = {
            ref
            for ref, kind in session.exec(
                select(Booking.ref, OutboxMessage.kind).join(
                    OutboxMessage, col(OutboxMessage.booking_id) == col(Booking.id)
                )
            )
            if kind == "confirmation"
        }
    assert set(load.created()) <= refs, "a booking answered 201 was lost"
    assert confirmed == refs, "a committed booking has no confirmation"
    delivered = Counter(str(message["Message-ID"]) for message in sink.received())
    assert {m.message_id for m in outbox} == set(delivered), "an email was lost, or sent without a row"
    assert [mid for mid, count in delivered.items() if count > 1] == [], "an email was delivered twice"
