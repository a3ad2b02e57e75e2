"""Prometheus metrics for ``/metrics``.

What the store knows (emails by kind and status, the outbox's depth and its
oldest waiting email, reminders due, inbound messages by kind, command and
status) is counted in the database when Prometheus scrapes, so the figures are
right however many processes share the work. Request latency is measured in
the web process, labelled by route template (never the path itself: a manage
link's path is its token).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func
from sqlmodel import col, select

from mailflow.outbound.outbox import OutboxStatus
from mailflow.services.reminders import ReminderStatus
from mailflow.store.engine import read_session
from mailflow.store.tables import InboundMessage, OutboxMessage, Reminder

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

WAITING = (OutboxStatus.QUEUED.value, OutboxStatus.SENDING.value)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class StoreCollector(Collector):
    """Counts read from the database at scrape time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        now = datetime.now(UTC)
        with read_session(self.engine) as session:
            by_kind = session.exec(
                select(OutboxMessage.kind, OutboxMessage.status, func.count()).group_by(
                    col(OutboxMessage.kind), col(OutboxMessage.status)
                )
            ).all()
            oldest = session.exec(
                select(func.min(OutboxMessage.created_at)).where(col(OutboxMessage.status).in_(WAITING))
            ).one()
            reminders = session.exec(
                select(func.count()).where(
                    Reminder.status == ReminderStatus.PENDING.value, col(Reminder.due_at) <= now
                )
            ).one()
            pending = session.exec(
                select(func.count()).where(Reminder.status == ReminderStatus.PENDING.value)
            ).one()
            inbound = session.exec(
                select(
                    InboundMessage.kind, InboundMessage.command, InboundMessage.status, func.count()
                ).group_by(col(InboundMessage.kind), col(InboundMessage.command), col(InboundMessage.status))
            ).all()
        emails = GaugeMetricFamily(
            "mailflow_emails", "Emails in the outbox by kind and status.", labels=["kind", "status"]
        )
        depth = 0
        for kind, status, count in by_kind:
            emails.add_metric([kind, status], count)
            if status in WAITING:
                depth += count
        yield emails
        yield GaugeMetricFamily(
            "mailflow_outbox_depth", "Emails waiting to be sent (queued or sending).", depth
        )
        age = (now - oldest).total_seconds() if oldest is not None else 0.0
        yield GaugeMetricFamily(
            "mailflow_outbox_oldest_age_seconds", "Age of the oldest email still waiting (0: none).", age
        )
        yield GaugeMetricFamily("mailflow_reminders_due", "Pending reminders whose time has come.", reminders)
        yield GaugeMetricFamily("mailflow_reminders_pending", "Reminders planned and not yet sent.", pending)
        messages = GaugeMetricFamily(
            "mailflow_inbound_messages",
            "Inbound messages by the pipeline's verdict: kind, command and status.",
            labels=["kind", "command", "status"],
        )
        for verdict, command, status, count in inbound:
            messages.add_metric([verdict or "", command or "", status], count)
        yield messages


class Metrics:
    """The registry behind ``/metrics``: store counts and this process's request latency."""

    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(StoreCollector(engine))
        self.latency = Histogram(
            "mailflow_http_request_duration_seconds",
            "Web request latency by method, route template and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.latency.labels(method, route, str(status)).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
