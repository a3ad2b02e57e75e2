"""The one place that builds the parts: engine, transport, notifier, dispatcher, and what each adapter takes.

``build(settings)`` wires them once per process and connects lazily. The
``App`` it returns holds the parts, and beside them the narrow, typed things
each adapter receives (``mailflow.parts``): ``use_cases`` (the API, the
CLI's booking commands, the demo), ``mailroom`` (the inbound pipeline),
``smtp`` (the SMTP and LMTP servers), ``worker`` (the scheduled jobs) and
``web`` (the web application). No adapter sees the ``App``: the entry points
(the CLI, ``python -m mailflow``) take it from here, and ``mailflow.runtime``
hands each role its part.

This module imports no adapter (web, API, inbound, scheduling, CLI), and only
the entry points import it. Nothing in mailflow connects or reads the
environment at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine

from mailflow.config import ImapAccount, Settings, parse_imap_url, resolve_secret_key
from mailflow.outbound.dispatch import Dispatcher
from mailflow.outbound.message import EmailBuilder, MailSettings
from mailflow.outbound.notifier import Notifier
from mailflow.outbound.render import Renderer, configure_limits
from mailflow.outbound.return_path import ReturnPaths
from mailflow.outbound.transports import Transport, maildir_of, transport_from_url
from mailflow.outbound.webhook_sender import WebhookSender
from mailflow.parts import CalendarSync, Mailroom, Signal, SmtpParts, UseCases, WebParts, WorkerParts
from mailflow.services.refusals import record_refused_recipient
from mailflow.services.webhook_events import plan_email_outcome
from mailflow.store.engine import make_engine

__all__ = ["App", "build"]


@dataclass
class App:
    """The wired application, built once per process (by ``build``)."""

    settings: Settings
    engine: Engine
    secret_key: str
    transport: Transport
    notifier: Notifier
    dispatcher: Dispatcher
    webhooks: WebhookSender
    use_cases: UseCases
    mailroom: Mailroom
    smtp: SmtpParts
    worker: WorkerParts
    web: WebParts
    wake: Signal
    """Tell the running worker (if any) that new mail was committed."""
    inbound_arrived: Signal
    """Tell the running worker (if any) that an inbound message was stored."""
    health: dict[str, Callable[[], str]]
    """Components that can fail while running (the relay, the IMAP poller) -> their status."""
    imap_account: ImapAccount | None = None

    @property
    def grid(self) -> timedelta:
        return self.use_cases.grid

    def booking_kwargs(self) -> dict[str, Any]:
        """What every booking use case needs from the wiring."""
        return self.use_cases.booking_kwargs()

    def close(self) -> None:
        self.engine.dispose()


def build(settings: Settings) -> App:
    """Wire the application for ``settings``; connects lazily."""
    engine = make_engine(settings.database_url)
    transport = transport_from_url(
        settings.outbound_url, settings.helo_name, allow_unverified=settings.outbound_allow_unverified
    )
    configure_limits(settings.template_limits)  # every renderer: validation, previews and sending
    renderer = Renderer(settings.template_limits)
    notifier = Notifier(EmailBuilder(MailSettings(settings.public_url, settings.inbound_domain), renderer))
    secret_key = resolve_secret_key(settings)
    return_paths = ReturnPaths(secret_key, settings.inbound_domain)
    dispatcher = Dispatcher(
        engine,
        transport,
        report_failure=notifier.report_failure,
        lease=settings.claim_lease,
        return_paths=return_paths,
        render_pending=partial(notifier.render_claimed, engine),
        on_outcome=plan_email_outcome,
        on_refused=record_refused_recipient,
    )
    notice_domain = settings.inbound_domain or urlsplit(settings.public_url).hostname or "localhost"
    webhooks = WebhookSender(engine, notice_domain=notice_domain, lease=settings.claim_lease)
    wake, inbound_arrived = Signal(), Signal()
    health: dict[str, Callable[[], str]] = {"transport": transport.reachable}
    use_cases = UseCases(
        engine=engine,
        notifier=notifier,
        grid=timedelta(minutes=settings.slot_grid_minutes),
        public_url=settings.public_url,
        calendars=CalendarSync(
            secret_key=secret_key,
            timeout_seconds=settings.calendar_fetch_timeout_seconds,
            every=timedelta(minutes=settings.calendar_sync_minutes),
            own_domain=notifier.builder.settings.message_domain,
        ),
    )
    mailroom = Mailroom(
        use_cases=use_cases,
        inbound_domain=settings.inbound_domain,
        trusted_authserv=settings.trusted_authserv,
        claim_lease=settings.claim_lease,
        return_paths=return_paths,
        forward_max_bytes=settings.forward_max_bytes,
    )
    return App(
        settings=settings,
        engine=engine,
        secret_key=secret_key,
        transport=transport,
        notifier=notifier,
        dispatcher=dispatcher,
        webhooks=webhooks,
        use_cases=use_cases,
        mailroom=mailroom,
        smtp=SmtpParts.of(engine, settings, return_paths),
        worker=WorkerParts(
            mailroom=mailroom,
            dispatcher=dispatcher,
            inbound_retention=timedelta(days=settings.inbound_retention_days),
            sent_retention=timedelta(days=settings.sent_retention_days),
            wake=wake,
            arrivals=inbound_arrived,
            webhooks=webhooks,
        ),
        web=WebParts(
            use_cases=use_cases,
            settings=settings,
            secret=secret_key,
            wake=wake,
            health=health,
            maildir=maildir_of(transport) if settings.dev_mail else None,
        ),
        wake=wake,
        inbound_arrived=inbound_arrived,
        health=health,
        imap_account=parse_imap_url(settings.imap_url) if settings.imap_url else None,
    )
