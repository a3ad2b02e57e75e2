"""Runs the wired application: the roles of ``mailflow serve``, signals and shutdown, and ``run_once``.

``mailflow.bootstrap`` builds the parts; this module starts the adapters that
use them in one event loop, each with its own narrow part of the ``App``
(``mailflow.parts``): the web application gets ``app.web``, the worker's
scheduler ``app.worker``, the SMTP and LMTP servers ``app.smtp``, the IMAP
poller the engine. It stops them in order on SIGTERM or SIGINT, and runs the
worker's jobs once for ``mailflow run-once``. Only the entry points (the CLI)
import it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mailflow.bootstrap import App
from mailflow.config import parse_bind
from mailflow.errors import InvalidInput
from mailflow.outbound.dispatch import DispatchReport
from mailflow.outbound.webhook_sender import WebhookReport
from mailflow.services.reminders import sweep_reminders
from mailflow.store.migrate import ensure_migrated, is_empty, upgrade

log = logging.getLogger("mailflow")

ROLES = ("web", "worker", "smtp", "imap")
AVAILABLE_ROLES = ("web", "worker", "smtp", "imap")


@dataclass
class RunOnceReport:
    reminders: int
    inbound: int
    dispatch: DispatchReport
    webhooks: WebhookReport

    def to_json(self) -> dict[str, Any]:
        return {
            "reminders_queued": self.reminders,
            "inbound_processed": self.inbound,
            "sent": self.dispatch.sent,
            "retried": self.dispatch.retried,
            "failed": self.dispatch.failed,
            "failures": self.dispatch.failures,
            "webhooks_delivered": self.webhooks.delivered,
            "webhooks_retried": self.webhooks.retried,
            "webhooks_failed": self.webhooks.failed,
        }


def run_once(app: App, now: datetime) -> RunOnceReport:
    """Reminder sweep, inbound processing, outbox dispatch, webhook deliveries: each once, with one clock."""
    from mailflow.inbound.process import process_pending

    reminders = sweep_reminders(app.engine, app.notifier.send_reminder, now)
    inbound = process_pending(app.mailroom, now)
    dispatch = asyncio.run(app.dispatcher.run_once(now))
    webhooks = asyncio.run(app.webhooks.run_once(now))  # after dispatch: its email.* events too
    return RunOnceReport(reminders=reminders, inbound=inbound, dispatch=dispatch, webhooks=webhooks)


def parse_roles(value: str) -> tuple[str, ...]:
    """``web,worker`` -> ``("web", "worker")``; unknown names raise ``InvalidInput``."""
    roles = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    unknown = [role for role in roles if role not in ROLES]
    if unknown or not roles:
        raise InvalidInput(
            f"unknown role(s) {', '.join(unknown) or '(none)'}: choose from {', '.join(ROLES)}"
        )
    return roles


def serve(app: App, *, demo: bool, roles: Iterable[str]) -> None:
    """Run the given roles until SIGTERM or SIGINT; ``demo`` migrates and seeds first."""
    from mailflow.demo import ADMIN_EMAIL, ensure_admin_password, seed_demo, seed_sample_bookings

    now = datetime.now(UTC)
    if demo:
        upgrade(app.engine)
        seed_demo(app.engine, now)
        created = seed_sample_bookings(app.use_cases, now)
        log.info("demo business ready (%d sample bookings added)", created)
        password = ensure_admin_password(app.engine)
        if password:  # shown this once, on the terminal, never in the log
            print(f"sign in at {app.settings.public_url}/admin as {ADMIN_EMAIL} with password: {password}")
    elif is_empty(app.engine):
        upgrade(app.engine)  # a brand-new database: the first run creates the schema
        log.info("created the database schema")
    ensure_migrated(app.engine)
    announce_setup(app, now)
    chosen = tuple(roles)
    for role in chosen:
        if role not in AVAILABLE_ROLES:
            log.warning("role %s is not part of this version yet; skipping it", role)
    asyncio.run(_serve(app, chosen))


def announce_setup(app: App, now: datetime) -> None:
    """While no business exists: print the one-time set-up link (on the terminal, never logged)."""
    from mailflow.services.business import mint_setup_link

    token = mint_setup_link(app.engine, now=now)
    if token is not None:
        print(f"set-up: {app.settings.public_url}/admin/setup?token={token}", flush=True)


def web_server_config(web_app: Any, bind: str) -> Any:
    """uvicorn's configuration for ``web_app`` on ``bind`` (a ``uvicorn.Config``).

    Its proxy-header handling is off: the web app applies ``X-Forwarded-*`` from
    ``MAILFLOW_TRUSTED_PROXIES`` only, where uvicorn would believe whoever connects from
    127.0.0.1 (or ``$FORWARDED_ALLOW_IPS``) and let one client pose as any number of others.
    """
    import uvicorn

    host, port = parse_bind(bind)
    return uvicorn.Config(
        web_app, host=host, port=port, log_level="warning", access_log=False, proxy_headers=False
    )


@contextlib.contextmanager
def _no_signal_capture() -> Iterator[None]:
    yield


def freeze_start_up() -> None:
    """Everything built so far lives as long as the process: keep it out of the garbage
    collector's full passes, which otherwise stall every request for 100 ms or more (called
    once the app is built, before the first request or job)."""
    gc.collect()
    gc.freeze()


async def _serve(app: App, roles: tuple[str, ...]) -> None:
    import uvicorn

    from mailflow.scheduling.jobs import build_scheduler
    from mailflow.web.app import create_web_app

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    server = None
    tasks: list[asyncio.Task[Any]] = []
    web_app = create_web_app(app.web) if "web" in roles else None
    freeze_start_up()
    if web_app is not None:
        host, port = parse_bind(app.settings.web_bind)
        server = uvicorn.Server(web_server_config(web_app, app.settings.web_bind))
        server.capture_signals = _no_signal_capture  # type: ignore[method-assign]  # we handle signals here
        tasks.append(asyncio.create_task(server.serve()))
        log.info("web on http://%s:%d (public URL %s)", host, port, app.settings.public_url)
    inbound_servers: list[asyncio.AbstractServer] = []
    if "smtp" in roles:
        from mailflow.inbound.smtp import start_servers

        inbound_servers = await start_servers(app.smtp, on_stored=app.inbound_arrived)
    poller = None
    if "imap" in roles and app.imap_account is not None:
        from mailflow.inbound.imap import ImapPoller

        poller = ImapPoller(app.engine, app.imap_account, on_stored=app.inbound_arrived)
        imap_thread = poller.start()
        app.health["imap"] = lambda: poller.status if poller else "stopped"
        log.info("imap poller for %s@%s", app.imap_account.username, app.imap_account.host)
    scheduler = None
    if "worker" in roles:
        scheduler = build_scheduler(app.worker, stop)
        scheduler.start()
        log.info("worker started (outbox to %s)", app.transport.name)

    await stop.wait()
    log.info("shutting down: finishing the batch in flight")
    for inbound_server in inbound_servers:
        inbound_server.close()
    if poller is not None:
        poller.stop.set()
        await asyncio.to_thread(imap_thread.join, 35)
    if scheduler is not None:
        scheduler.shutdown(wait=False)
        await app.dispatcher.idle()
        await app.webhooks.idle()
    if server is not None:
        server.should_exit = True
    await asyncio.gather(*tasks, return_exceptions=True)
    log.info("stopped")
