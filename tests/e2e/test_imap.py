"""The IMAP poller against a real Dovecot: messages taken once and moved, IDLE, restarts, bad passwords."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

from mailflow.bootstrap import App
from mailflow.config import parse_imap_url
from mailflow.inbound import imap as imap_module
from mailflow.inbound.imap import ImapPoller
from mailflow.store.tables import InboundMessage
from tests.conftest import Dovecot, demo_app_on


def message(index: int) -> bytes:
    return (
        f"From: max@example.de\r\nTo: bookings@contoso.example\r\nSubject: Frage {index}\r\n"
        f"Message-ID: <imap-{index}@example.de>\r\n\r\nHallo {index}\r\n"
    ).encode()


@pytest.fixture
def app(sqlite_engine: object, sqlite_url: str, tmp_path: Path, now: datetime) -> Iterator[App]:
    with demo_app_on(sqlite_url, tmp_path, now, {"MAILFLOW_OUTBOUND_URL": "memory://imap"}) as application:
        yield application


def stored(app: App) -> list[str]:
    with Session(app.engine) as session:
        return [row.message_id or "" for row in session.exec(select(InboundMessage))]


def wait_until(condition: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def poller(app: App, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch) -> Iterator[ImapPoller]:
    # Polling every 30 s would hide whether IDLE works: make polling slow, so only IDLE is quick.
    monkeypatch.setattr(imap_module, "POLL_SECONDS", 120.0)
    monkeypatch.setattr(imap_module, "BACKOFF_FIRST", 0.2)
    instance = ImapPoller(app.engine, parse_imap_url(dovecot.url()))
    thread = instance.start()
    yield instance
    instance.stop.set()
    thread.join(timeout=10)


def test_appended_messages_are_stored_once_and_moved(app: App, dovecot: Dovecot, poller: ImapPoller) -> None:
    """Three messages in INBOX end up stored once each and in mailflow/processed, INBOX empty."""
    client = dovecot.client()
    for index in range(3):
        client.append("INBOX", message(index))
    # Bounded well below POLL_SECONDS (120 s here): only IDLE and the rounds can take them in time.
    assert wait_until(lambda: len(stored(app)) == 3, 30), (stored(app), poller.status, dovecot.log_tail())
    assert sorted(stored(app)) == [f"<imap-{i}@example.de>" for i in range(3)]
    client.select_folder("INBOX")
    assert wait_until(lambda: client.noop() is not None and client.search("ALL") == [], 5)
    processed = next(name for _, _, name in client.list_folders() if name.lower().endswith("processed"))
    client.select_folder(processed)
    assert len(client.search("ALL")) == 3
    client.logout()
    time.sleep(0.5)
    assert len(stored(app)) == 3  # nothing taken twice
    assert poller.status == "ok"


def test_idle_picks_up_a_new_message_without_polling(app: App, dovecot: Dovecot, poller: ImapPoller) -> None:
    """With polling slowed to two minutes, a message appended later is taken at once through IDLE."""
    assert wait_until(lambda: poller.status == "ok", 10)
    time.sleep(0.5)  # let the poller settle into IDLE
    client = dovecot.client()
    client.append("INBOX", message(42))
    client.logout()
    assert wait_until(lambda: "<imap-42@example.de>" in stored(app), 10)


def test_mail_announced_while_a_search_runs_is_taken_without_waiting_for_idle(
    app: App, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race CI met twice: a message delivered while the poller's UNSEEN search runs is not in
    its result, and Dovecot announces it (EXISTS) with that command's answer, never again in IDLE.
    Here the first search of the poller's thread gets such a message and its announcement (a
    NOOP right after it): the poller must take it at once, not after the next IDLE cycle."""
    from imapclient import IMAPClient

    monkeypatch.setattr(imap_module, "POLL_SECONDS", 120.0)
    real_search = IMAPClient.search
    raced: list[bool] = []

    def racing_search(self: IMAPClient, *args: object, **kwargs: object) -> object:
        found = real_search(self, *args, **kwargs)
        if not raced and threading.current_thread().name == "mailflow-imap":
            raced.append(True)
            other = dovecot.client()
            other.append("INBOX", message(7))
            other.logout()
            self.noop()  # the announcement arrives after the search has answered
        return found

    monkeypatch.setattr(IMAPClient, "search", racing_search)
    instance = ImapPoller(app.engine, parse_imap_url(dovecot.url()))
    thread = instance.start()
    try:
        assert wait_until(lambda: "<imap-7@example.de>" in stored(app), 10), (raced, instance.status)
    finally:
        instance.stop.set()
        thread.join(timeout=10)


def test_poller_survives_dovecot_restarting(
    app: App, dovecot: Dovecot, poller: ImapPoller, caplog: pytest.LogCaptureFixture
) -> None:
    """Dovecot stops and starts again: the poller reports the outage, reconnects and goes on."""
    assert wait_until(lambda: poller.status == "ok", 10)
    caplog.set_level(logging.WARNING, logger="mailflow.imap")
    dovecot.stop()

    # Reported in the log (and in the status while it lasts): a stopping Dovecot still takes
    # logins for a moment, so the status may be "ok" again by the time anyone looks. A connection
    # whose server process lingers is given up at the client's socket timeout (30 s).
    def reported() -> bool:
        return any("cannot reach" in record.getMessage() for record in caplog.records)

    assert wait_until(reported, 35), poller.status
    dovecot.start()
    assert wait_until(lambda: poller.status == "ok", 15), poller.status
    client = dovecot.client()
    client.append("INBOX", message(7))
    client.logout()
    assert wait_until(lambda: "<imap-7@example.de>" in stored(app), 15)


def test_wrong_password_is_reported_and_retried_slowly(
    app: App, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad password shows in the status; attempts back off instead of hammering the server."""
    monkeypatch.setattr(imap_module, "BACKOFF_FIRST", 0.5)
    bad = ImapPoller(app.engine, parse_imap_url(dovecot.url(password="wrong")))
    thread = bad.start()
    try:
        assert wait_until(lambda: bad.status.startswith("cannot log in"), 10), bad.status
        time.sleep(3)
        attempts = dovecot.log().count("auth failed") + dovecot.log().count("Aborted login")
        assert 1 <= attempts <= 4, dovecot.log()[-2000:]
    finally:
        bad.stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert threading.active_count() >= 1
