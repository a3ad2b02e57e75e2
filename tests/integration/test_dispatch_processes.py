"""Several worker processes on one database, and a worker stopped in the middle of a batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from mailflow.demo import seed_demo
from mailflow.outbound.message import OutgoingEmail
from mailflow.outbound.outbox import enqueue
from mailflow.store.engine import make_engine
from mailflow.store.migrate import upgrade
from mailflow.store.tables import OutboxMessage
from tests.conftest import SmtpSink


def queue_messages(engine: Engine, count: int, now: datetime) -> set[str]:
    """Put ``count`` small but complete messages in the outbox; returns their Message-IDs."""
    ids = set()
    with Session(engine) as session:
        for index in range(count):
            message_id = f"<load.{index}.{now.timestamp()}@test.example>"
            data = (
                f"From: hello@contoso.example\r\nTo: c{index}@example.com\r\nSubject: load {index}\r\n"
                f"Message-ID: {message_id}\r\nX-Mailflow-Kind: confirmation\r\n\r\nbody {index}\r\n"
            ).encode()
            email = OutgoingEmail("confirmation", f"c{index}@example.com", message_id, f"load {index}", data)
            enqueue(
                session, email, business_id=1, booking_id=None, envelope_from="hello@contoso.example", now=now
            )
            ids.add(message_id)
        session.commit()
    return ids


def worker_env(db_url: str, sink: SmtpSink, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILFLOW_")}
    env.update(
        {
            "MAILFLOW_DATABASE_URL": db_url,
            "MAILFLOW_OUTBOUND_URL": sink.url,
            "MAILFLOW_DATA_DIR": str(data_dir),
        }
    )
    return env


def received_ids(sink: SmtpSink) -> Counter[str]:
    return Counter(str(message["Message-ID"]) for message in sink.handler.parsed())


def test_two_dispatcher_processes_on_postgres_deliver_each_message_once(
    postgres_url: str, smtp_sink: SmtpSink, tmp_path: Path, now: datetime
) -> None:
    """500 queued messages, two `run-once` processes at the same time: every message arrives exactly once."""
    engine = make_engine(postgres_url)
    seed_demo(engine, now)
    ids = queue_messages(engine, 500, now)
    env = worker_env(postgres_url, smtp_sink, tmp_path)
    workers = [
        subprocess.Popen([sys.executable, "-m", "mailflow", "run-once", "--json"], env=env, cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    outputs = [worker.communicate(timeout=180) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), outputs
    counts = received_ids(smtp_sink)
    assert set(counts) == ids
    assert max(counts.values()) == 1
    with Session(engine) as session:
        statuses = dict(
            session.exec(select(OutboxMessage.status, func.count()).group_by(col(OutboxMessage.status))).all()
        )
    assert statuses == {"sent": 500}
    engine.dispose()


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
def test_sigterm_during_a_batch_loses_nothing(
    db: str, request: pytest.FixtureRequest, smtp_sink: SmtpSink, tmp_path: Path, now: datetime
) -> None:
    """A worker stopped mid-batch finishes that batch; every row is sent once or still queued, none stuck."""
    url: str = request.getfixturevalue("postgres_url" if db == "postgres" else "sqlite_url")
    engine = make_engine(url)
    upgrade(engine)
    seed_demo(engine, now)
    ids = queue_messages(engine, 300, now - timedelta(seconds=5))
    smtp_sink.handler.delay = 0.01  # about 1 s per batch of 100
    server = subprocess.Popen(
        [sys.executable, "-m", "mailflow", "serve", "--roles", "worker"],
        env=worker_env(url, smtp_sink, tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not smtp_sink.handler.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    assert smtp_sink.handler.messages, "the worker never started sending"
    server.send_signal(signal.SIGTERM)
    output, _ = server.communicate(timeout=60)
    assert server.returncode == 0, output
    assert "finishing the batch in flight" in output

    delivered = received_ids(smtp_sink)
    with Session(engine) as session:
        rows = session.exec(select(OutboxMessage.message_id, OutboxMessage.status)).all()
    sent = {message_id for message_id, status in rows if status == "sent"}
    assert {status for _, status in rows} <= {"sent", "queued"}  # nothing left claimed
    assert set(delivered) == sent and max(delivered.values()) == 1
    assert 0 < len(sent) < 300, "the stop should have come mid-way"

    finish = subprocess.run(
        [sys.executable, "-m", "mailflow", "run-once"],
        env=worker_env(url, smtp_sink, tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finish.returncode == 0, finish.stderr
    delivered = received_ids(smtp_sink)
    assert set(delivered) == ids and max(delivered.values()) == 1
    engine.dispose()
