"""A relay that answers 451 for a while, or 421 and hangs up in the middle of a batch.

A real aiosmtpd relay on loopback; its DATA answer is scripted. Every email is
delivered exactly once in the end: accepted ones are never sent again, deferred
ones wait for their retry time and are never given up while the relay only
defers.
"""

from __future__ import annotations

import email
import email.policy
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from mailflow import services
from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.bootstrap import App, build
from mailflow.config import load_settings
from mailflow.demo import seed_demo
from mailflow.runtime import run_once
from mailflow.store.tables import OutboxMessage
from tests.conftest import SmtpSink, berlin


class ScriptedRelay(SmtpSink):
    """Answers DATA from a script: ``"451"`` defers, ``"421"`` defers and closes the connection."""

    def __init__(self) -> None:
        super().__init__()
        self.script: list[str] = []
        handler = self.handler
        accept = handler.handle_DATA

        async def handle_data(server: Any, session: Any, envelope: Any) -> str:
            step = self.script.pop(0) if self.script else "250"
            if step == "451":
                return "451 4.3.0 try again later"
            if step == "421":
                server.transport.close()  # hang up after the answer, as a relay shutting down would
                return "421 4.3.2 shutting down"
            return str(await accept(server, session, envelope))

        handler.handle_DATA = handle_data  # type: ignore[method-assign]


def make(db_url: str, relay: ScriptedRelay, tmp_path: Path, now: datetime, day: date) -> tuple[App, set[str]]:
    app = build(
        load_settings(
            {
                "MAILFLOW_DATABASE_URL": db_url,
                "MAILFLOW_OUTBOUND_URL": relay.url,
                "MAILFLOW_DATA_DIR": str(tmp_path),
            }
        )
    )
    seed_demo(app.engine, now)
    for hour in (9, 11, 13, 15):
        services.create_booking(
            app.engine,
            business="contoso",
            service="consultation",
            staff="bob@contoso.example",
            customer=services.CustomerInput(email=f"c{hour}@example.org", name=f"C {hour}"),
            start=berlin(day, hour),
            origin=Origin.SELF_SERVICE,
            actor=Actor(ActorKind.CUSTOMER_LINK, f"c{hour}@example.org"),
            now=now,
            public_url=app.settings.public_url,
            **app.booking_kwargs(),
        )
    with Session(app.engine) as session:
        return app, {row.message_id for row in session.exec(select(OutboxMessage))}


def received(relay: ScriptedRelay) -> list[str]:
    ids = []
    for _sender, _rcpts, data in relay.handler.messages:
        ids.append(str(email.message_from_bytes(data, policy=email.policy.default)["Message-ID"]))
    return ids


def deliver_until_done(app: App, now: datetime) -> None:
    for round_ in range(1, 12):
        report = run_once(app, now + timedelta(hours=3 * round_)).dispatch
        assert report.failed == 0, report.failures
        if report.retried == 0:
            return
    raise AssertionError("still retrying after 11 rounds")


def test_451_for_a_while_then_each_email_once(
    db_url: str, tmp_path: Path, next_tuesday: date, now: datetime
) -> None:
    relay = ScriptedRelay()
    relay.start()
    try:
        app, queued = make(db_url, relay, tmp_path, now, next_tuesday)
        relay.script = ["451"] * (len(queued) + 3)  # all of the first round and some of the second
        first = run_once(app, now).dispatch
        assert (first.sent, first.retried, first.failed) == (0, len(queued), 0)
        with Session(app.engine) as session:
            rows = session.exec(select(OutboxMessage)).all()
            assert all(r.status == "queued" and "451" in (r.last_error or "") for r in rows)
            assert all(r.next_attempt_at > now for r in rows), "deferred mail waits, it is not hammered"
        deliver_until_done(app, now)
        app.close()
    finally:
        relay.stop()
    got = received(relay)
    assert sorted(got) == sorted(queued) and len(set(got)) == len(got)


def test_421_and_hang_up_mid_batch_loses_and_repeats_nothing(
    db_url: str, tmp_path: Path, next_tuesday: date, now: datetime
) -> None:
    relay = ScriptedRelay()
    relay.start()
    try:
        app, queued = make(db_url, relay, tmp_path, now, next_tuesday)
        relay.script = ["250", "250", "421"]  # two accepted, then the relay goes away mid-batch
        first = run_once(app, now).dispatch
        assert first.sent == 2 and first.retried == len(queued) - 2 and first.failed == 0
        assert len(received(relay)) == 2
        deliver_until_done(app, now)
        app.close()
    finally:
        relay.stop()
    got = received(relay)
    assert sorted(got) == sorted(queued) and len(set(got)) == len(got)
