"""The dispatcher: claim due outbox rows, send them, record what happened.

Temporary failures (4xx, connection problems) go back to the queue with
exponential backoff and jitter, up to a bounded number of attempts and age;
permanent ones (5xx) are marked failed at once. Either way a failure that is
final is reported to the business's admins (``delivery_failed``), except for
the failure reports themselves, which would loop. The Message-ID never changes:
it is part of the stored bytes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine

from mailflow.outbound.outbox import (
    CLAIM_LEASE,
    ClaimedMessage,
    claim_due,
    mark_failed,
    mark_retry,
    mark_sent,
)
from mailflow.outbound.transports import Outgoing, SendResult, Transport
from mailflow.store.engine import write_session

log = logging.getLogger("mailflow.dispatch")

# While a batch goes to the relay, what it accepted is recorded every this many messages: a
# crash mid-batch re-sends at most these, not the whole batch. One commit per 10 emails.
RECORD_EVERY = 10

FailureReporter = Callable[..., None]


@dataclass
class DispatchReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)

    def add(self, other: DispatchReport) -> None:
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.failures += other.failures


class Dispatcher:
    """Sends what the outbox holds, batch by batch."""

    def __init__(
        self,
        engine: Engine,
        transport: Transport,
        *,
        batch_size: int = 100,
        report_failure: FailureReporter | None = None,
        lease: timedelta = CLAIM_LEASE,
    ) -> None:
        self.engine = engine
        self.transport = transport
        self.batch_size = batch_size
        self.lease = lease
        self.report_failure = report_failure
        self._lock = asyncio.Lock()

    async def run_once(self, now: datetime, *, stop: asyncio.Event | None = None) -> DispatchReport:
        """Send everything due at ``now``; with ``stop`` set, finish the batch in flight and return."""
        report = DispatchReport()
        async with self._lock:  # one dispatch at a time in this process; other processes claim their own rows
            while stop is None or not stop.is_set():
                batch = await asyncio.to_thread(claim_due, self.engine, now, self.batch_size, self.lease)
                if not batch:
                    break
                report.add(await self._send(batch, now))
                if len(batch) < self.batch_size:
                    break
        return report

    async def _send(self, batch: list[ClaimedMessage], now: datetime) -> DispatchReport:
        """Send a claimed batch, recording results every ``RECORD_EVERY`` messages as they come."""
        report = DispatchReport()
        recorded = 0

        async def progress(results: Sequence[SendResult]) -> None:
            nonlocal recorded
            if len(results) - recorded >= RECORD_EVERY:
                done = len(results)
                chunk = list(results[recorded:done])
                report.add(await asyncio.to_thread(self._record, batch[recorded:done], chunk, now))
                recorded = done

        outgoing = [Outgoing(m.envelope_from, m.recipient, m.data) for m in batch]
        results = await self.transport.send_batch(outgoing, progress)
        if recorded < len(batch):
            report.add(await asyncio.to_thread(self._record, batch[recorded:], results[recorded:], now))
        return report

    async def idle(self) -> None:
        """Wait until no dispatch of this process is in flight."""
        async with self._lock:
            return

    def _record(
        self, batch: list[ClaimedMessage], results: list[SendResult], now: datetime
    ) -> DispatchReport:
        report = DispatchReport()
        with write_session(self.engine) as session:
            mark_sent(session, [m.id for m, r in zip(batch, results, strict=True) if r.ok], now)
            for message, result in zip(batch, results, strict=True):
                if result.ok:
                    report.sent += 1
                    continue
                if not result.permanent and mark_retry(session, message, result.detail, now):
                    report.retried += 1
                    log.warning(
                        "outbox %d: temporary failure, will retry: %s",
                        message.id,
                        result.detail,
                        extra={"outbox_id": message.id},
                    )
                    continue
                if result.permanent:
                    mark_failed(session, message.id, result.detail)
                report.failed += 1
                report.failures.append(f"{message.recipient}: {result.detail}")
                log.error(
                    "outbox %d to %s failed for good: %s",
                    message.id,
                    message.recipient,
                    result.detail,
                    extra={"outbox_id": message.id},
                )
                if self.report_failure is not None and message.kind != "delivery_failed":
                    self.report_failure(session, message, result.detail, now)
        return report
