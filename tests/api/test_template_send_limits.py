"""Templates at send time (issue 16, item 4), through the API on SQLite and PostgreSQL.

A version over a limit can be in force although validation refuses such drafts now: saved
before the limits existed, or under larger ones. Booking must not wait for it, must not hold
the database's write lock while any template renders, and must still send every email.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from sqlmodel import Session, col, select

from mailflow.booking.model import Actor, ActorKind
from mailflow.outbound import template_store
from mailflow.outbound.fallbacks import FELL_BACK, fallback_notices
from mailflow.outbound.notifier import Notifier
from mailflow.outbound.render import RenderedEmail, Renderer
from mailflow.outbound.templates import TemplateSource, default_source
from mailflow.outbound.transports import MemoryTransport
from mailflow.services.templates import reset_template
from mailflow.store.engine import read_session, write_session
from mailflow.store.tables import AuditEvent, OutboxMessage
from tests.api.conftest import Api

FLOOD = "{{ 'A' * 10**8 }}"


def business_id(api: Api) -> int:
    with read_session(api.app.engine) as session:
        return int(session.exec(text("SELECT id FROM business WHERE slug = 'contoso'")).one()[0])  # type: ignore[call-overload]


def force_version(api: Api, jinja: str) -> int:
    """Put a confirmation (en) holding ``jinja`` in force without validating it; its version number."""
    default = default_source("confirmation", "en")
    mjml = default.mjml.replace("</mj-column>", f"<mj-text>{jinja}</mj-text></mj-column>", 1)
    source = TemplateSource("confirmation", "en", default.subject, mjml, default.text)
    with write_session(api.app.engine) as session:
        saved = template_store.save_version(
            session, business_id(api), source, author="admin@contoso.example", now=api.now, checked=True
        )
    assert saved.version is not None
    return saved.version


def confirmations(api: Api) -> list[OutboxMessage]:
    with Session(api.app.engine) as session:
        query = (
            select(OutboxMessage).where(OutboxMessage.kind == "confirmation").order_by(col(OutboxMessage.id))
        )
        return list(session.exec(query).all())


def test_a_version_over_a_limit_falls_back_to_the_default_and_admins_are_told_once(api: Api) -> None:
    """Two bookings with a flooding confirmation in force: both 201, both emails the default, one notice."""
    version = force_version(api, FLOOD)
    first, second = api.book(10), api.book(11, customer={"email": "bo@example.com", "name": "Bo"})
    assert first["ref"] != second["ref"]
    sent = confirmations(api)
    assert len(sent) == 2
    for row in sent:
        assert row.payload is not None and len(row.payload) < 200_000 and b"AAAAAAAAAA" not in row.payload
    assert all(row.context.get("subject") for row in sent)
    with Session(api.app.engine) as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == FELL_BACK)).all()
        assert len(events) == 1
        assert events[0].before == {"kind": "confirmation", "locale": "en", "version": version}
        assert events[0].after is not None and events[0].after["limit"] == "output_size"
        (notice,) = fallback_notices(session, business_id(api))
    assert (notice.kind, notice.locale, notice.version, notice.limit) == (
        "confirmation",
        "en",
        version,
        "output_size",
    )
    actor = Actor(ActorKind.STAFF, "admin@contoso.example")
    reset_template(api.app.engine, business_id(api), "confirmation", "en", actor=actor, now=api.now)
    with Session(api.app.engine) as session:
        assert fallback_notices(session, business_id(api)) == []


class LockProbe(Renderer):
    """A renderer that, each time it renders, asks the database whether a write transaction is open."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.seen: list[bool] = []

    def write_transaction_open(self) -> bool:
        parsed = make_url(self.url)
        if parsed.get_backend_name() == "sqlite":
            probe = sqlite3.connect(str(parsed.database), timeout=0, isolation_level=None)
            try:
                probe.execute("BEGIN IMMEDIATE")  # fails at once while another connection holds the lock
                probe.execute("ROLLBACK")
                return False
            except sqlite3.OperationalError:
                return True
            finally:
                probe.close()
        engine = create_engine(self.url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                busy = connection.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%' "
                        "AND backend_xid IS NOT NULL"
                    )
                ).scalar_one()
            return bool(busy)
        finally:
            engine.dispose()

    def render(self, source: TemplateSource, context: Mapping[str, Any]) -> RenderedEmail:
        self.seen.append(self.write_transaction_open())
        return super().render(source, context)


def test_no_template_renders_while_the_booking_holds_the_write_lock(api: Api, db_url: str) -> None:
    """Every email of a booking (customer, staff, admins) renders with no write transaction open."""
    probe = LockProbe(db_url)
    api.app.notifier.builder.renderer = probe
    api.book(10)
    assert len(probe.seen) >= 3  # the confirmation and the staff and admin notifications
    assert probe.seen == [False] * len(probe.seen)


def test_emails_left_unrendered_by_a_dead_process_are_rendered_by_the_dispatcher(
    api: Api, monkeypatch: Any
) -> None:
    """The booking committed but its process died before rendering: the dispatcher renders and sends."""
    monkeypatch.setattr(Notifier, "render_committed", lambda self, engine, ids: None)
    api.book(10)
    (row,) = confirmations(api)
    assert row.payload is None and row.context.get("pending")
    transport = api.app.transport
    assert isinstance(transport, MemoryTransport)
    report = asyncio.run(api.app.dispatcher.run_once(datetime.now(UTC) + timedelta(minutes=1)))
    assert report.sent >= 3 and report.failed == 0
    sent = [message for message in transport.sent if message.recipient == "ada@example.com"]
    assert len(sent) == 1 and b"X-Mailflow-Kind: confirmation" in sent[0].data
    (row,) = confirmations(api)
    assert row.payload == sent[0].data and "pending" not in row.context
