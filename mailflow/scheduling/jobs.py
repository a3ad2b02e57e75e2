"""The worker's jobs on APScheduler 3 (in-memory job store): the database is the only truth.

Every process may run the same jobs; each tick claims its rows atomically
(outbox rows, reminders, external calendars due for a sync), and the daily
agenda uses a deterministic Message-ID so that two processes cannot queue it twice
(every five minutes it is queued wherever a staff member's 18:00 has come).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import time as time_module
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from mailflow.services.agenda import queue_due_agendas
from mailflow.services.housekeeping import clean_up
from mailflow.services.reminders import sweep_reminders
from mailflow.services.staff_calendars import sync_due_calendars
from mailflow.store.engine import database_unavailable

if TYPE_CHECKING:
    from mailflow.parts import WorkerParts

log = logging.getLogger("mailflow.jobs")

DISPATCH_EVERY = timedelta(seconds=2)
WEBHOOKS_EVERY = timedelta(seconds=2)
REMINDERS_EVERY = timedelta(seconds=30)
INBOUND_EVERY = timedelta(seconds=5)
# Messages stored by another process (``serve --roles smtp`` beside ``--roles worker``, or
# ``mailflow inbound feed`` from an MTA) are noticed by a cheap read this often.
INBOUND_WATCH_EVERY = timedelta(milliseconds=250)
INBOUND_GATHER = timedelta(milliseconds=20)  # pause before a run that arrivals asked for (see inbound)
HOUSEKEEPING_EVERY = timedelta(hours=6)
# How often the worker looks for external calendars due for a sync (each is due every
# MAILFLOW_CALENDAR_SYNC_MINUTES, and at once when saved): one indexed read when none is.
CALENDARS_EVERY = timedelta(minutes=1)
AGENDA_EVERY_MINUTES = 5  # the agendas due (services.agenda.agenda_due) are queued this often


Job = Callable[[], Awaitable[None]]


class DatabaseOutage:
    """The jobs' view of the database: one warning when it goes away, one line when it is back.

    A job that fails because the database is unavailable (down, restarting) just ends, its rows
    untouched or rolled back, and runs again at its next tick; without this every tick of every
    job (the inbound watch: four a second) would log a traceback for as long as the outage lasts.
    """

    def __init__(self) -> None:
        self.since: float | None = None

    def guard(self, job: Job) -> Job:
        @functools.wraps(job)
        async def run() -> None:
            try:
                await job()
            except Exception as exc:
                if not database_unavailable(exc):
                    raise
                if self.since is None:
                    self.since = time_module.monotonic()
                    log.warning("database unavailable (%s): the worker waits for it", type(exc).__name__)
                return
            if self.since is not None:
                log.info("database reachable again after %.1f s", time_module.monotonic() - self.since)
                self.since = None

        return run


def build_scheduler(worker: WorkerParts, stop: asyncio.Event) -> AsyncIOScheduler:
    """The worker role's scheduler; ``worker.wake()`` runs the dispatch job at once, and
    ``worker.arrivals()`` the inbound job."""
    engine, notifier = worker.use_cases.engine, worker.use_cases.notifier
    # A tick that comes late (a busy event loop) still runs, once: the rows are the truth, so late
    # is harmless, and APScheduler's "was missed by" warning would only fill the log.
    scheduler = AsyncIOScheduler(
        timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
    )
    guard = DatabaseOutage().guard
    loop = asyncio.get_running_loop()

    # A wake-up while a job runs is not lost: the running one goes round again instead (asking
    # APScheduler for a run then would only be skipped, with a warning, several times a second).
    again: dict[str, bool] = {}
    running: set[str] = set()

    async def rounds(name: str, one_round: Callable[[], Awaitable[float]]) -> None:
        """Run ``one_round`` until no wake-up came during it; it returns the pause before the next."""
        running.add(name)
        try:
            while True:
                again[name] = False
                pause = await one_round()
                if not again[name] or stop.is_set():
                    return
                if pause:
                    await asyncio.sleep(pause)
        finally:
            running.discard(name)

    def wake(name: str) -> None:
        again[name] = True
        if name not in running:
            _run_now(scheduler, name)

    async def dispatch_round() -> float:
        # Shielded: APScheduler cancels running jobs at shutdown, but a batch in flight must be
        # recorded, or its rows would stay claimed until the lease runs out and be sent twice.
        report = await asyncio.shield(worker.dispatcher.run_once(datetime.now(UTC), stop=stop))
        if report.sent or report.failed or report.retried:
            log.info("dispatch: %d sent, %d to retry, %d failed", report.sent, report.retried, report.failed)
        if report.sent or report.failed:
            wake("webhooks")  # their email.delivered and email.failed events
        return 0.0

    async def dispatch() -> None:
        await rounds("dispatch", dispatch_round)

    async def webhooks_round() -> float:
        sender = worker.webhooks
        if sender is None:
            return 0.0
        # Shielded like the dispatch: a batch whose requests went out must be recorded.
        report = await asyncio.shield(sender.run_once(datetime.now(UTC), stop=stop))
        if report.delivered or report.failed or report.retried:
            log.info(
                "webhooks: %d delivered, %d to retry, %d failed",
                report.delivered,
                report.retried,
                report.failed,
            )
        if report.disabled:
            wake("dispatch")  # the admins' "endpoint disabled" emails
        return 0.0

    async def webhooks() -> None:
        await rounds("webhooks", webhooks_round)

    def wake_now() -> None:
        wake("dispatch")
        wake("webhooks")  # a change commits its emails and its webhook deliveries together

    worker.wake.connect(lambda: call_soon_outside(loop, wake_now))

    async def reminders() -> None:
        queued = await asyncio.to_thread(
            sweep_reminders, engine, notifier.send_reminder, datetime.now(UTC), stop=stop.is_set
        )
        if queued:
            log.info("reminders: %d queued", queued)
            wake_now()

    async def inbound_round() -> float:
        from mailflow.inbound.process import BATCH, process_pending

        processed = await asyncio.to_thread(process_pending, worker.mailroom, datetime.now(UTC))
        if processed:
            log.info("inbound: %d processed", processed)
            wake_now()
        # Replies that arrive during a small run are left to gather a moment before the next, so
        # one transaction takes several (in one process, each run also costs the SMTP side its
        # turn at the interpreter and at SQLite's lock).
        return INBOUND_GATHER.total_seconds() if processed < BATCH else 0.0

    async def inbound() -> None:
        await rounds("inbound", inbound_round)

    async def housekeeping() -> None:
        await asyncio.to_thread(
            clean_up, engine, datetime.now(UTC), worker.inbound_retention, worker.sent_retention
        )

    async def calendars() -> None:
        # Fetching runs in a thread, outside any transaction, each calendar within its timeout.
        fetched = await asyncio.to_thread(
            sync_due_calendars, engine, sync=worker.use_cases.calendars, now=datetime.now(UTC)
        )
        if fetched:
            log.info("calendars: %d synced", fetched)

    now = datetime.now(UTC)
    scheduler.add_job(
        guard(calendars),
        "interval",
        seconds=CALENDARS_EVERY.total_seconds(),
        id="calendars",
        next_run_time=now,
    )
    scheduler.add_job(
        guard(dispatch), "interval", seconds=DISPATCH_EVERY.total_seconds(), id="dispatch", next_run_time=now
    )
    scheduler.add_job(
        guard(webhooks), "interval", seconds=WEBHOOKS_EVERY.total_seconds(), id="webhooks", next_run_time=now
    )
    scheduler.add_job(
        guard(reminders),
        "interval",
        seconds=REMINDERS_EVERY.total_seconds(),
        id="reminders",
        next_run_time=now,
    )
    scheduler.add_job(
        guard(inbound), "interval", seconds=INBOUND_EVERY.total_seconds(), id="inbound", next_run_time=now
    )

    def inbound_now() -> None:
        wake("inbound")

    worker.arrivals.connect(lambda: call_soon_outside(loop, inbound_now))

    async def inbound_watch() -> None:
        from mailflow.inbound.process import has_received

        try:
            waiting = await asyncio.to_thread(has_received, engine)
        except asyncio.CancelledError:  # shutting down: a read, nothing to finish or report
            return
        if waiting:
            inbound_now()

    scheduler.add_job(
        guard(inbound_watch), "interval", seconds=INBOUND_WATCH_EVERY.total_seconds(), id="inbound_watch"
    )
    scheduler.add_job(
        guard(housekeeping), "interval", seconds=HOUSEKEEPING_EVERY.total_seconds(), id="housekeeping"
    )

    async def agendas() -> None:
        # Every staff zone is looked at afresh, so a zone added after start-up is served too.
        queued = await asyncio.to_thread(
            queue_due_agendas, engine, notifier, worker.use_cases.public_url, datetime.now(UTC)
        )
        if queued:
            log.info("agendas: %d queued", queued)
            wake_now()

    # On the clock's minutes (:00, :05, …), so agendas go out at 18:00 sharp in every zone.
    scheduler.add_job(guard(agendas), "cron", minute=f"*/{AGENDA_EVERY_MINUTES}", id="agendas")
    return scheduler


def call_soon_outside(loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
    """Run ``callback`` on ``loop`` (from any thread) in a context of its own.

    A wake-up comes from whoever committed work, often a web request: run in the request's
    context, the scheduler's next round and every job task it starts would inherit the
    request's id (``mailflow.logs.request_id``) and tag the worker's log lines with it.
    """
    loop.call_soon_threadsafe(callback, context=contextvars.Context())


def _run_now(scheduler: AsyncIOScheduler, job_id: str) -> None:
    job = scheduler.get_job(job_id)
    if job is not None:
        job.modify(next_run_time=datetime.now(UTC))
