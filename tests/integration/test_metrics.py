"""``/metrics``: store counts in Prometheus' format, right after each change; latency by route template."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from mailflow import services
from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.bootstrap import App, build
from mailflow.config import load_settings
from mailflow.inbound.process import process_pending, store_raw
from mailflow.runtime import run_once
from mailflow.web.app import create_web_app
from tests.conftest import SmtpSink, berlin


@pytest.fixture
def app(demo_app: App) -> App:
    return demo_app


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_counts_follow_bookings_delivery_and_replies(app: App, next_tuesday: date, now: datetime) -> None:
    client = TestClient(create_web_app(app.web))
    empty = scrape(client)
    assert (
        empty[("mailflow_outbox_depth", ())] == 0 and empty[("mailflow_outbox_oldest_age_seconds", ())] == 0
    )
    view = services.create_booking(
        app.engine,
        business="contoso",
        service="consultation",
        staff="bob@contoso.example",
        customer=services.CustomerInput(email="ada@example.com", name="Ada"),
        start=berlin(next_tuesday, 10),
        origin=Origin.SELF_SERVICE,
        actor=Actor(ActorKind.CUSTOMER_LINK, "ada@example.com"),
        now=now - timedelta(minutes=5),
        public_url=app.settings.public_url,
        **app.booking_kwargs(),
    )
    booked = scrape(client)
    assert booked[("mailflow_emails", (("kind", "confirmation"), ("status", "queued")))] == 1
    queued = sum(v for (name, labels), v in booked.items() if name == "mailflow_emails")
    assert booked[("mailflow_outbox_depth", ())] == queued >= 2  # the customer and the staff member
    assert booked[("mailflow_outbox_oldest_age_seconds", ())] >= 4 * 60
    assert booked[("mailflow_reminders_pending", ())] == 1 and booked[("mailflow_reminders_due", ())] == 0

    run_once(app, now)  # delivers to memory://
    sent = scrape(client)
    assert sent[("mailflow_outbox_depth", ())] == 0
    assert sent[("mailflow_emails", (("kind", "confirmation"), ("status", "sent")))] == 1

    store_raw(
        app.engine,
        b"Subject: hello\r\n\r\nno reply key here\r\n",
        envelope_from="",
        envelope_rcpt="",
        now=now,
    )
    waiting = scrape(client)
    assert (
        waiting[("mailflow_inbound_messages", (("command", ""), ("kind", ""), ("status", "received")))] == 1
    )
    process_pending(app.mailroom, now)
    judged = scrape(client)
    done = {labels: v for (name, labels), v in judged.items() if name == "mailflow_inbound_messages"}
    assert sum(done.values()) == 1 and all(dict(labels)["status"] == "done" for labels in done)

    client.get(f"/m/{view.manage_url.rsplit('/', 1)[1] if view.manage_url else 'x'}")
    text = client.get("/metrics").text
    assert 'route="/m/{token}"' in text and "mailflow_http_request_duration_seconds_bucket" in text
    assert view.manage_url and view.manage_url.rsplit("/", 1)[1] not in text, "a token must never be a label"


def test_readyz_says_when_the_relay_cannot_be_reached(
    db_url: str, tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    """/readyz checks the outbound transport: a relay that answers EHLO is ok; one nobody listens
    on, or a port that accepts connections but speaks no SMTP, makes it 503 with the reason."""
    import socket

    with socket.socket() as silent, socket.socket() as probe:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # takes the connection, never greets: no relay
        silent_port = silent.getsockname()[1]
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]  # bound, never listening: connections are refused
        answers = {}
        for name, port in (("up", smtp_sink.port), ("down", closed_port), ("silent", silent_port)):
            application = build(
                load_settings(
                    {
                        "MAILFLOW_DATABASE_URL": db_url,
                        "MAILFLOW_DATA_DIR": str(tmp_path),
                        "MAILFLOW_OUTBOUND_URL": f"smtp://127.0.0.1:{port}",
                    }
                )
            )
            answers[name] = TestClient(create_web_app(application.web)).get("/readyz")
            application.close()
    assert answers["up"].status_code == 200 and answers["up"].json() == {"status": "ok"}
    for name, port in (("down", closed_port), ("silent", silent_port)):
        assert answers[name].status_code == 503, name
        assert f"cannot reach the relay 127.0.0.1:{port}" in answers[name].json()["detail"]["transport"]


def test_readyz_says_when_the_maildir_cannot_be_written(db_url: str, tmp_path: Path) -> None:
    """A maildir under a regular file can never be made (not even by root): /readyz says so."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    answers = {}
    for name, path in (("fine", tmp_path / "outbox"), ("blocked", blocker / "outbox")):
        application = build(
            load_settings(
                {
                    "MAILFLOW_DATABASE_URL": db_url,
                    "MAILFLOW_DATA_DIR": str(tmp_path),
                    "MAILFLOW_OUTBOUND_URL": f"maildir://{path}",
                }
            )
        )
        answers[name] = TestClient(create_web_app(application.web)).get("/readyz")
        application.close()
    assert answers["fine"].status_code == 200
    assert answers["blocked"].status_code == 503
    assert answers["blocked"].json()["detail"]["transport"] == f"maildir {blocker / 'outbox'} is not writable"
