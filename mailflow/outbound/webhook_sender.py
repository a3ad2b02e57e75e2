"""The webhook worker: claim due deliveries, POST them signed, record what each got.

Signatures follow Standard Webhooks (the ``standardwebhooks`` package): headers
``webhook-id`` (the delivery's, the same on every attempt), ``webhook-timestamp``
(the attempt's wall-clock time, which receivers check against theirs) and
``webhook-signature`` (``v1,<base64 HMAC-SHA256>`` over ``id.timestamp.body``).
A 2xx answer is success; anything else (a redirect too), a timeout or a refused
connection is a failed attempt, retried on the schedule of ``webhook_queue``.

The HTTP calls happen between two short transactions (claim, then record), never
inside one: a slow receiver holds no database lock. One ``httpx.AsyncClient`` per
run keeps connections to an endpoint open across its deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import Engine
from standardwebhooks import Webhook

from mailflow.outbound.webhook_queue import (
    CLAIM_LEASE,
    RESPONSE_KEPT,
    AttemptResult,
    ClaimedDelivery,
    claim_due_deliveries,
    record_attempts,
)
from mailflow.store.engine import write_session

log = logging.getLogger("mailflow.webhooks")

USER_AGENT = "mailflow-webhooks/1"
DEFAULT_TIMEOUT = 10.0  # seconds an attempt may take, connecting and answering together
CONCURRENCY = 4  # requests in flight at once per worker (a small receiver is not flooded)


Outcome = tuple[int, int, int, list[int]]
"""Of one recorded batch: delivered, retried, failed, the ids of the endpoints disabled."""


@dataclass
class WebhookReport:
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    disabled: list[int] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        delivered, retried, failed, disabled = outcome
        self.delivered += delivered
        self.retried += retried
        self.failed += failed
        self.disabled += disabled


def signed_headers(delivery: ClaimedDelivery, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt at ``at``."""
    signature = Webhook(delivery.secret).sign(delivery.webhook_id, at, delivery.payload)
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": delivery.webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


class WebhookSender:
    """Sends what the webhook queue holds, batch by batch (``run_once``)."""

    def __init__(
        self,
        engine: Engine,
        *,
        notice_domain: str,
        timeout: float = DEFAULT_TIMEOUT,
        batch_size: int = 50,
        concurrency: int = CONCURRENCY,
        lease: timedelta = CLAIM_LEASE,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.notice_domain = notice_domain
        """The domain of the Message-IDs of the "endpoint disabled" emails."""
        self.timeout = timeout
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.lease = lease
        # The signature's timestamp is the real time of the attempt (receivers reject old ones),
        # whatever clock decides what is due (``run_once``'s ``now``, injected in tests).
        self.wall_clock = wall_clock
        self._lock = asyncio.Lock()

    async def run_once(self, now: datetime, *, stop: asyncio.Event | None = None) -> WebhookReport:
        """Send every delivery due at ``now`` (and those that become due as earlier ones of their
        booking are delivered); with ``stop`` set, finish the batch in flight and return."""
        report = WebhookReport()
        # A batch's outcomes are recorded while the next batch is claimed and sent. The next claim
        # still sees the recorded batch as "sending", so the events queued behind it wait: order holds.
        recording: asyncio.Task[Outcome] | None = None
        async with self._lock, contextlib.AsyncExitStack() as stack:
            client: httpx.AsyncClient | None = None  # made once there is something to send
            while stop is None or not stop.is_set():
                batch = await asyncio.to_thread(
                    claim_due_deliveries, self.engine, now, self.batch_size, self.lease
                )
                if not batch:
                    if recording is None:
                        break
                    report.add(await recording)  # it may have made later events of its bookings due
                    recording = None
                    continue
                if client is None:
                    client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
                    await stack.enter_async_context(client)
                slots = asyncio.Semaphore(self.concurrency)
                results = list(await asyncio.gather(*(self._attempt(client, slots, d) for d in batch)))
                if recording is not None:
                    report.add(await recording)
                recording = asyncio.create_task(asyncio.to_thread(self._record, batch, results, now))
            if recording is not None:
                report.add(await recording)
        return report

    async def _attempt(
        self, client: httpx.AsyncClient, slots: asyncio.Semaphore, delivery: ClaimedDelivery
    ) -> AttemptResult:
        async with slots:
            return await self._post(client, delivery)

    async def _post(self, client: httpx.AsyncClient, delivery: ClaimedDelivery) -> AttemptResult:
        try:
            headers = signed_headers(delivery, self.wall_clock())
            content = delivery.payload.encode()
            # httpx's timeout holds per step (connect, each read); this one bounds the whole attempt.
            async with (
                asyncio.timeout(self.timeout),
                client.stream("POST", delivery.url, content=content, headers=headers) as answer,
            ):
                kept = bytearray()
                async for chunk in answer.aiter_bytes():
                    kept += chunk
                    if len(kept) >= RESPONSE_KEPT:
                        break
            text = bytes(kept[:RESPONSE_KEPT]).decode("utf-8", "replace")
            return AttemptResult(answer.is_success, answer.status_code, text)
        except (httpx.TimeoutException, TimeoutError):
            return AttemptResult(False, None, f"no answer within {self.timeout:g} s")
        except Exception as exc:  # refused, reset, a URL httpx cannot use, …: a failed attempt
            return AttemptResult(False, None, f"{type(exc).__name__}: {exc}"[:RESPONSE_KEPT])

    def _record(self, batch: list[ClaimedDelivery], results: list[AttemptResult], now: datetime) -> Outcome:
        with write_session(self.engine) as session:
            outcome = record_attempts(session, batch, results, now, notice_domain=self.notice_domain)
        for delivery, result in zip(batch, results, strict=True):
            if not result.ok:
                log.warning(
                    "webhook %s (%s) to %s failed (attempt %d): %s",
                    delivery.webhook_id,
                    delivery.event_type,
                    delivery.url,
                    delivery.attempts,
                    f"HTTP {result.status}" if result.status else result.response,
                )
        for endpoint_id in outcome[3]:
            log.error("webhook endpoint %d disabled after failing for a day; admins told", endpoint_id)
        return outcome

    async def idle(self) -> None:
        """Wait until no run of this process is in flight."""
        async with self._lock:
            return
