"""A long dispatch run: every batch is still leased to this worker while it is being sent.

A claim's lease (``claimed_until``) is what keeps another worker off the rows
being sent; one taken with a lease that has already run out lets a second
worker claim and send the same email again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from mailflow.bootstrap import build
from mailflow.config import load_settings
from mailflow.demo import seed_demo
from mailflow.outbound.dispatch import Dispatcher
from mailflow.outbound.transports import SENT, Outgoing, Progress, SendResult
from mailflow.store.tables import OutboxMessage
from tests.conftest import berlin, book_self_service

LEASE = timedelta(seconds=1.5)


class SlowTransport:
    """Takes ``pause`` seconds per batch and notes the rows it was handed whose lease had run out."""

    name = "slow"

    def __init__(self, engine: Engine, pause: float) -> None:
        self.engine = engine
        self.pause = pause
        self.expired: list[str] = []
        self.batches = 0

    async def send_batch(
        self, messages: Sequence[Outgoing], progress: Progress | None = None
    ) -> list[SendResult]:
        self.batches += 1
        checked_at = datetime.now(UTC)
        with Session(self.engine) as session:
            leases = session.exec(
                select(OutboxMessage.recipient, OutboxMessage.claimed_until).where(
                    col(OutboxMessage.status) == "sending"
                )
            ).all()
        self.expired += [who for who, until in leases if until is None or until <= checked_at]
        await asyncio.sleep(self.pause)
        return [SENT for _ in messages]

    def reachable(self) -> str:
        return "ok"


def test_a_batch_claimed_late_in_a_long_run_is_leased_from_its_claim(
    sqlite_engine: Engine,
    sqlite_url: str,
    tmp_path: Path,
    next_tuesday: date,
) -> None:
    """Three one-message batches of 0.8 s under a 1.5 s lease: the third is still leased when sent."""
    now = datetime.now(UTC)
    app = build(load_settings({"MAILFLOW_DATABASE_URL": sqlite_url, "MAILFLOW_DATA_DIR": str(tmp_path)}))
    seed_demo(app.engine, now)
    book_self_service(app, berlin(next_tuesday, 10), "ada@example.com", now)
    transport = SlowTransport(app.engine, pause=0.8)
    dispatcher = Dispatcher(app.engine, transport, batch_size=1, lease=LEASE)
    report = asyncio.run(dispatcher.run_once(datetime.now(UTC)))
    app.close()
    assert report.sent == 3 and transport.batches == 3
    assert transport.expired == []
