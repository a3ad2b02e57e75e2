"""The narrow, typed parts the adapters receive from the wiring: each takes only what it uses.

``mailflow.bootstrap.build`` makes them once per process from the settings;
the entry points (the CLI, ``mailflow.runtime``) hand each adapter its own:

- ``UseCases``: what the booking use cases of ``mailflow.services`` take
  beside plain values (engine, notifier, slot grid, public URL); the API gets
  this alone, and it is shared by the others below;
- ``Mailroom``: the inbound pipeline (``inbound.process``, ``inbound.steps``);
- ``SmtpParts``: the SMTP and LMTP servers (``inbound.smtp``);
- ``WorkerParts``: the worker's scheduled jobs (``scheduling.jobs``);
- ``WebParts``: the web application (``web.app``, which gives the pages their
  ``web.deps.Wiring`` and the API its ``UseCases``).

The IMAP poller takes only the engine. ``Signal`` is a wake-up call between
the adapters that commit work and the worker that does it. This module
imports no adapter (web, API, inbound, scheduling, CLI) and connects nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from mailflow.config import Settings
    from mailflow.outbound.dispatch import Dispatcher
    from mailflow.outbound.notifier import Notifier
    from mailflow.outbound.return_path import ReturnPaths
    from mailflow.outbound.webhook_sender import WebhookSender

__all__ = [
    "CalendarSync",
    "Mailroom",
    "Signal",
    "SmtpParts",
    "UseCases",
    "WebParts",
    "WithUseCases",
    "WorkerParts",
]


@dataclass
class Signal:
    """A wake-up call: whoever commits work calls it, whoever does the work ``connect``s a hook.

    Nothing happens when nobody listens (``mailflow bookings create`` runs no worker).
    """

    hooks: list[Callable[[], object]] = field(default_factory=list)

    def connect(self, hook: Callable[[], object]) -> None:
        self.hooks.append(hook)

    def __call__(self) -> None:
        for hook in self.hooks:
            hook()


@dataclass(frozen=True)
class CalendarSync:
    """How the staff's external calendars are read (``mailflow.services.staff_calendars``)."""

    secret_key: str = field(default="", repr=False)
    """Encrypts and decrypts the stored CalDAV passwords."""
    timeout_seconds: float = 20.0
    every: timedelta = timedelta(minutes=10)
    own_domain: str = "mailflow.localhost"
    """The domain of our own bookings' calendar UIDs: those events are no busy time."""


@dataclass(frozen=True)
class UseCases:
    """What the booking use cases (``mailflow.services``) take from the wiring."""

    engine: Engine
    notifier: Notifier
    grid: timedelta
    """The slot grid (``MAILFLOW_SLOT_GRID_MINUTES``)."""
    public_url: str
    calendars: CalendarSync = field(default_factory=CalendarSync)

    def booking_kwargs(self) -> dict[str, Any]:
        """The keyword arguments every booking use case needs from the wiring."""
        return {"notifier": self.notifier, "grid": self.grid}


class WithUseCases:
    """For a part that holds ``use_cases``: its engine, notifier, grid and booking kwargs by name."""

    use_cases: UseCases

    @property
    def engine(self) -> Engine:
        return self.use_cases.engine

    @property
    def notifier(self) -> Notifier:
        return self.use_cases.notifier

    @property
    def grid(self) -> timedelta:
        return self.use_cases.grid

    def booking_kwargs(self) -> dict[str, Any]:
        """What every booking use case needs from the wiring."""
        return self.use_cases.booking_kwargs()


@dataclass(frozen=True)
class Mailroom(WithUseCases):
    """What the inbound pipeline uses: the use cases and the settings it reads."""

    use_cases: UseCases
    inbound_domain: str
    trusted_authserv: frozenset[str]
    claim_lease: timedelta
    return_paths: ReturnPaths
    """Reads and checks the signed ``bounce+<outbox id>.<signature>@`` addresses (VERP)."""
    forward_max_bytes: int = 5 * 1024 * 1024
    """The largest original a forward to staff or admins carries (``MAILFLOW_FORWARD_MAX_BYTES``)."""


@dataclass(frozen=True)
class SmtpParts:
    """What the inbound SMTP and LMTP servers use: where to store, and their settings."""

    engine: Engine
    inbound_domain: str
    return_paths: ReturnPaths
    """Which ``bounce+…@`` recipients RCPT accepts: only return paths we signed."""
    smtp_bind: str
    lmtp_bind: str
    tls_cert: str
    tls_key: str
    max_message_bytes: int
    max_connections_per_client: int
    messages_per_client_per_minute: int
    trusted_relays: tuple[IPv4Network | IPv6Network, ...] = ()
    """MTAs in front: no connection count, the message rate per envelope sender."""

    @classmethod
    def of(cls, engine: Engine, settings: Settings, return_paths: ReturnPaths) -> SmtpParts:
        return cls(
            engine=engine,
            inbound_domain=settings.inbound_domain,
            return_paths=return_paths,
            smtp_bind=settings.smtp_bind,
            lmtp_bind=settings.lmtp_bind,
            tls_cert=settings.smtp_tls_cert,
            tls_key=settings.smtp_tls_key,
            max_message_bytes=settings.smtp_max_message_bytes,
            max_connections_per_client=settings.smtp_max_connections_per_client,
            messages_per_client_per_minute=settings.smtp_messages_per_client_per_minute,
            trusted_relays=settings.relay_networks,
        )


@dataclass(frozen=True)
class WorkerParts:
    """What the worker's jobs use: the pipeline, the dispatcher, retention, the wake-up calls."""

    mailroom: Mailroom
    dispatcher: Dispatcher
    inbound_retention: timedelta
    sent_retention: timedelta
    wake: Signal
    """Fired when new mail was committed: the worker connects its dispatch job."""
    arrivals: Signal
    """Fired when an inbound message was stored: the worker connects its inbound job."""
    webhooks: WebhookSender | None = None
    """Sends the webhook deliveries (None: no webhook job, as in some tests)."""

    @property
    def use_cases(self) -> UseCases:
        return self.mailroom.use_cases


@dataclass(frozen=True)
class WebParts:
    """What the web application uses: the use cases, settings, secret, wake-up call, health."""

    use_cases: UseCases
    settings: Settings
    secret: str
    wake: Callable[[], None]
    """Tell the running worker (if any) that new mail was committed."""
    health: Mapping[str, Callable[[], str]]
    """What ``/readyz`` asks besides the database: a component's name -> its status."""
    maildir: Path | None = None
    """The maildir transport's folder, shown at ``/dev/mail`` when ``MAILFLOW_DEV_MAIL`` is on
    (None with any other transport, or with the viewer off)."""
