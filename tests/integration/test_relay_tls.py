"""Outbound through a relay with its own TLS certificate (issue 21, item 7): a real aiosmtpd that
requires STARTTLS with a self-signed certificate, as a local Postfix with Debian's snakeoil does."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from mailflow.bootstrap import App, build
from mailflow.config import load_settings
from mailflow.demo import seed_demo
from mailflow.errors import ConfigError
from mailflow.outbound.transports import transport_from_url
from mailflow.runtime import run_once
from mailflow.store.migrate import upgrade
from mailflow.store.tables import OutboxMessage
from tests.conftest import RecordingHandler, berlin, book_self_service, free_port, self_signed_certificate


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate for localhost and 127.0.0.1 (its own CA), key beside it."""
    return self_signed_certificate(tmp_path_factory.mktemp("relay-tls"), "relay.localhost")


class Relay:
    def __init__(self, certificate: Path) -> None:
        from aiosmtpd.controller import Controller

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certificate, certificate.with_name("key.pem"))
        self.port = free_port()
        self.handler = RecordingHandler()
        self.controller: Any = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, tls_context=context, require_starttls=True
        )
        self.controller.start()

    def url(self, query: str = "") -> str:
        return f"smtp://127.0.0.1:{self.port}?timeout=5{query}"


@pytest.fixture
def relay(certificate: Path) -> Iterator[Relay]:
    running = Relay(certificate)
    yield running
    running.controller.stop()


def app_for(url: str, sqlite_url: str, tmp_path: Path, now: datetime) -> App:
    app = build(
        load_settings(
            {
                "MAILFLOW_DATABASE_URL": sqlite_url,
                "MAILFLOW_OUTBOUND_URL": url,
                "MAILFLOW_DATA_DIR": str(tmp_path),
            }
        )
    )
    upgrade(app.engine)
    seed_demo(app.engine, now)
    return app


def test_an_untrusted_certificate_keeps_mail_queued_says_why_and_fails_readiness(
    relay: Relay, sqlite_url: str, tmp_path: Path, now: datetime, next_tuesday: date
) -> None:
    """The system's CAs do not know the relay's certificate: every email stays queued (to go out
    once trusted), its error and /readyz's transport check name the certificate and the fix."""
    app = app_for(relay.url(), sqlite_url, tmp_path, now)
    book_self_service(app, berlin(next_tuesday, 10), "ada@example.com", now)
    report = run_once(app, now)
    assert report.dispatch.sent == 0 and relay.handler.messages == []
    with Session(app.engine) as session:
        rows = session.exec(select(OutboxMessage)).all()
    assert rows and {row.status for row in rows} == {"queued"}
    assert all(
        "TLS certificate" in (row.last_error or "") and "ca_file" in (row.last_error or "") for row in rows
    )
    health = app.health["transport"]()
    assert "TLS certificate" in health and "ca_file" in health
    app.close()
    # A web process that delivers nothing (roles split) finds it out by its own probe: STARTTLS.
    web = app_for(relay.url(), sqlite_url, tmp_path, now)
    assert "TLS certificate" in web.health["transport"]()
    web.close()


@pytest.mark.parametrize("query", ["&ca_file={ca}", "&verify=false"])
def test_ca_file_or_verify_false_on_loopback_gets_the_mail_through(
    query: str,
    relay: Relay,
    certificate: Path,
    sqlite_url: str,
    tmp_path: Path,
    now: datetime,
    next_tuesday: date,
) -> None:
    """With the relay's certificate as CA file, or checks off for a relay on loopback, the emails go
    out over STARTTLS and /readyz is ok."""
    app = app_for(relay.url(query.format(ca=certificate)), sqlite_url, tmp_path, now)
    book_self_service(app, berlin(next_tuesday, 10), "ada@example.com", now)
    report = run_once(app, now)
    assert report.dispatch.sent >= 2 and report.dispatch.failed == 0
    assert "ada@example.com" in {rcpt for _, rcpts, _ in relay.handler.messages for rcpt in rcpts}
    assert app.health["transport"]() == "ok"
    app.close()


def test_verify_false_off_loopback_needs_the_operators_consent(tmp_path: Path) -> None:
    """``?verify=false`` for a relay elsewhere is refused unless MAILFLOW_OUTBOUND_ALLOW_UNVERIFIED=1;
    a CA file that cannot be read, and a bad verify value, name MAILFLOW_OUTBOUND_URL."""
    with pytest.raises(ConfigError, match=r"MAILFLOW_OUTBOUND_URL.*ALLOW_UNVERIFIED"):
        transport_from_url("smtp://relay.example.com:587?verify=false")
    transport_from_url("smtp://relay.example.com:587?verify=false", allow_unverified=True)
    transport_from_url("smtp://localhost:25?verify=false")
    with pytest.raises(ConfigError, match=r"MAILFLOW_OUTBOUND_URL.*CA file"):
        transport_from_url(f"smtp://relay.example.com?ca_file={tmp_path}/missing.pem")
    with pytest.raises(ConfigError, match="verify must be true or false"):
        transport_from_url("smtp://relay.example.com?verify=maybe")
    with pytest.raises(ConfigError, match="MAILFLOW_OUTBOUND_URL"):
        build(
            load_settings(
                {
                    "MAILFLOW_OUTBOUND_URL": "smtp://relay.example.com?verify=false",
                    "MAILFLOW_DATA_DIR": str(tmp_path),
                }
            )
        )
    allowed = build(
        load_settings(
            {
                "MAILFLOW_OUTBOUND_URL": "smtp://relay.example.com?verify=false",
                "MAILFLOW_OUTBOUND_ALLOW_UNVERIFIED": "1",
                "MAILFLOW_DATA_DIR": str(tmp_path),
            }
        )
    )
    allowed.close()
