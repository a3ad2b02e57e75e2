"""The dispatcher: claim due outbox rows, send them, record what happened.

Temporary failures (4xx, connection problems) go back to the queue with
exponential backoff and jitter, up to a bounded number of attempts and age;
permanent ones (5xx) are marked failed at once. Either way a failure that is
final is reported to the business's admins (``delivery_failed``), except for
the failure reports themselves, which would loop. The Message-ID never changes:
it is part of the stored bytes. A batch that went out while the database went
away is recorded once it is back (the worker waits for it, within the claim's
lease), so a database restart sends nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from mailflow.kinds import EmailKind
from mailflow.outbound.outbox import (
    CLAIM_LEASE,
    ClaimedMessage,
    claim_due,
    mark_failed,
    mark_retry,
    mark_sent,
)
from mailflow.outbound.return_path import ReturnPaths
from mailflow.outbound.transports import Outgoing, SendResult, Transport
from mailflow.store.engine import database_unavailable, write_session

log = logging.getLogger("mailflow.dispatch")

# While a batch goes to the relay, what it accepted is recorded every this many messages: a
# crash mid-batch re-sends at most these, not the whole batch. One commit per 10 emails.
RECORD_EVERY = 10

FailureReporter = Callable[..., None]
OutcomeHook = Callable[[Session, ClaimedMessage, bool, str, datetime], None]
RefusalHook = Callable[[Session, ClaimedMessage, str, datetime], None]
"""Called when the relay refused an email's recipient for good at RCPT (``services.bounces``)."""
"""Called for each email the relay accepted (True) or that failed for good (False), in the
transaction recording it: the webhooks' ``email.delivered`` and ``email.failed``."""

RECORD_RETRY_FIRST = 0.25  # seconds before recording a sent batch is tried again, doubling …
RECORD_RETRY_MAX = 5.0  # … up to this
RECORD_MARGIN = timedelta(seconds=30)  # a sent batch is recorded this long before its lease ends, at most
SHUTDOWN_GRACE = 20.0  # seconds a stopping worker still tries to record a sent batch


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
        return_paths: ReturnPaths | None = None,
        render_pending: Callable[[list[ClaimedMessage]], list[ClaimedMessage]] | None = None,
        on_outcome: OutcomeHook | None = None,
        on_refused: RefusalHook | None = None,
    ) -> None:
        self.engine = engine
        # Each email's envelope sender is its own signed bounce address (VERP) when given.
        self.return_paths = return_paths
        self.transport = transport
        self.batch_size = batch_size
        self.lease = lease
        # Seconds after its claim within which a sent batch must be recorded: before the lease ends.
        self._record_within = (lease - min(RECORD_MARGIN, lease / 10)).total_seconds()
        self.report_failure = report_failure
        # Renders claimed emails that their change left unrendered (its process died before).
        self.render_pending = render_pending
        self.on_outcome = on_outcome
        # A permanent refusal of the recipient at RCPT flags the address, as a hard bounce does.
        self.on_refused = on_refused
        self._lock = asyncio.Lock()

    async def run_once(self, now: datetime, *, stop: asyncio.Event | None = None) -> DispatchReport:
        """Send everything due at ``now``; with ``stop`` set, finish the batch in flight and return."""
        report = DispatchReport()
        started = time.monotonic()
        async with self._lock:  # one dispatch at a time in this process; other processes claim their own rows
            while stop is None or not stop.is_set():
                # A claim's lease counts from when it is taken, not from ``now``: else a long run
                # would claim rows whose lease has already run out for the other workers.
                claimed_at = time.monotonic()
                lease = self.lease + timedelta(seconds=claimed_at - started)
                batch = await asyncio.to_thread(claim_due, self.engine, now, self.batch_size, lease)
                if not batch:
                    break
                report.add(await self._send(batch, now, claimed_at + self._record_within, stop))
                if len(batch) < self.batch_size:
                    break
        return report

    async def _send(
        self, batch: list[ClaimedMessage], now: datetime, give_up_at: float, stop: asyncio.Event | None
    ) -> DispatchReport:
        """Send a claimed batch, recording results every ``RECORD_EVERY`` messages as they come.

        While the database is away, a progress record is left for the end of the batch, where
        recording waits for the database (``_record_sent``): the relay is not kept waiting.
        """
        report = DispatchReport()
        if any(not message.data for message in batch):
            batch = await asyncio.to_thread(self._rendered, batch, now)
            if not batch:
                return report
        recorded = 0

        async def progress(results: Sequence[SendResult]) -> None:
            nonlocal recorded
            if len(results) - recorded >= RECORD_EVERY:
                done = len(results)
                chunk = list(results[recorded:done])
                try:
                    report.add(await asyncio.to_thread(self._record, batch[recorded:done], chunk, now))
                except Exception as exc:
                    if not database_unavailable(exc):
                        raise
                    return  # recorded with the rest of the batch, once the database is back
                recorded = done

        outgoing = [Outgoing(self._envelope_sender(m), m.recipient, m.data) for m in batch]
        results = await self.transport.send_batch(outgoing, progress)
        if recorded < len(batch):
            rest = await self._record_sent(batch[recorded:], results[recorded:], now, give_up_at, stop)
            report.add(rest)
        return report

    def _envelope_sender(self, message: ClaimedMessage) -> str:
        """``bounce+<outbox id>.<signature>@`` with VERP, else the sender stored at enqueue."""
        if self.return_paths is None:
            return message.envelope_from
        return self.return_paths.envelope_sender(message.id, message.message_id, message.envelope_from)

    async def _record_sent(
        self,
        batch: list[ClaimedMessage],
        results: list[SendResult],
        now: datetime,
        give_up_at: float,
        stop: asyncio.Event | None,
    ) -> DispatchReport:
        """Record the batch's results, waiting for the database while it is away.

        The mail has gone out: a batch left unrecorded stays claimed until its lease runs out
        and is then sent again. So while the database is down or restarting, recording is
        retried (growing pauses) until shortly before the lease ends (``give_up_at``,
        monotonic), or for ``SHUTDOWN_GRACE`` more seconds once ``stop`` is set (a shutdown
        must not wait minutes); only then, or for any other error, does the error propagate.
        """
        pause = RECORD_RETRY_FIRST
        stopping = False
        while True:
            try:
                return await asyncio.to_thread(self._record, batch, results, now)
            except Exception as exc:
                if stop is not None and stop.is_set() and not stopping:
                    stopping = True
                    give_up_at = min(give_up_at, time.monotonic() + SHUTDOWN_GRACE)
                if not database_unavailable(exc) or time.monotonic() + pause > give_up_at:
                    raise
                log.warning(
                    "could not record %d sent emails (%s: database unavailable); retrying in %.1f s",
                    len(batch),
                    type(exc).__name__,
                    pause,
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, RECORD_RETRY_MAX)

    def _rendered(self, batch: list[ClaimedMessage], now: datetime) -> list[ClaimedMessage]:
        """``batch`` with its unrendered emails rendered; one that cannot be is retried later."""
        if self.render_pending is not None:
            batch = self.render_pending(batch)
        unready = [message for message in batch if not message.data]
        if unready:
            with write_session(self.engine) as session:
                for message in unready:
                    mark_retry(session, message, "not rendered yet", now)
        return [message for message in batch if message.data]

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
                    if self.on_outcome is not None:
                        self.on_outcome(session, message, True, "", now)
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
                if result.permanent and result.refused_recipient and self.on_refused is not None:
                    self.on_refused(session, message, result.detail, now)
                if self.report_failure is not None and message.kind != EmailKind.DELIVERY_FAILED:
                    self.report_failure(session, message, result.detail, now)
                if self.on_outcome is not None:
                    self.on_outcome(session, message, False, result.detail, now)
        return report
