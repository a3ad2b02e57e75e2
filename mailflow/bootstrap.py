"""The one place that builds the parts: engine, transport, notifier, dispatcher, from the settings.

``build(settings)`` wires them once per process and connects lazily;
``mailflow.runtime`` runs them. This module imports no adapter (web, API,
inbound, scheduling, CLI), so an adapter may name ``App`` without a circle.
Nothing in mailflow connects or reads the environment at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy import Engine

from mailflow.config import ImapAccount, Settings, parse_imap_url, resolve_secret_key
from mailflow.outbound.dispatch import Dispatcher
from mailflow.outbound.message import EmailBuilder, MailSettings
from mailflow.outbound.notifier import Notifier
from mailflow.outbound.render import Renderer, configure_limits
from mailflow.outbound.transports import Transport, transport_from_url
from mailflow.store.engine import make_engine

__all__ = ["App", "build"]


@dataclass
class App:
    """The wired application, built once per process."""

    settings: Settings
    engine: Engine
    secret_key: str
    transport: Transport
    notifier: Notifier
    dispatcher: Dispatcher
    imap_account: ImapAccount | None = None
    wake_hooks: list[Callable[[], object]] = field(default_factory=list)
    inbound_hooks: list[Callable[[], object]] = field(default_factory=list)
    health: dict[str, Callable[[], str]] = field(default_factory=dict)
    """Components that can fail while running (the IMAP poller) -> callables giving their status."""

    @property
    def grid(self) -> timedelta:
        return timedelta(minutes=self.settings.slot_grid_minutes)

    def booking_kwargs(self) -> dict[str, Any]:
        """What every booking use case needs from the wiring."""
        return {"notifier": self.notifier, "grid": self.grid}

    def wake(self) -> None:
        """Tell the running worker (if any) that new mail was committed."""
        for hook in self.wake_hooks:
            hook()

    def inbound_arrived(self) -> None:
        """Tell the running worker (if any) that an inbound message was stored."""
        for hook in self.inbound_hooks:
            hook()

    def close(self) -> None:
        self.engine.dispose()


def build(settings: Settings) -> App:
    """Wire the application for ``settings``; connects lazily."""
    engine = make_engine(settings.database_url)
    transport = transport_from_url(settings.outbound_url)
    configure_limits(settings.template_limits)  # every renderer: validation, previews and sending
    renderer = Renderer(settings.template_limits)
    notifier = Notifier(EmailBuilder(MailSettings(settings.public_url, settings.inbound_domain), renderer))
    dispatcher = Dispatcher(
        engine,
        transport,
        report_failure=notifier.report_failure,
        lease=settings.claim_lease,
        render_pending=partial(notifier.render_claimed, engine),
    )
    return App(
        imap_account=parse_imap_url(settings.imap_url) if settings.imap_url else None,
        settings=settings,
        engine=engine,
        secret_key=resolve_secret_key(settings),
        transport=transport,
        notifier=notifier,
        dispatcher=dispatcher,
    )
