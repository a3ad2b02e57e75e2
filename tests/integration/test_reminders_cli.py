"""Reminders driven through `mailflow run-once --now`, read back from the maildir."""

from __future__ import annotations

import email
import email.policy
import json
import mailbox
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import berlin

CREATE = (
    "bookings", "create", "--business", "contoso", "--service", "haircut", "--staff", "bob@contoso.example",
    "--customer-name", "Ada Lovelace", "--json",
)  # fmt: skip


@pytest.fixture
def cli(run_cli: Any, tmp_path: Path) -> Any:
    run_cli("db", "upgrade", check=True)
    run_cli("demo", check=True)
    return run_cli


def reminders_in_maildir(tmp_path: Path) -> list[str]:
    """The booking refs of every reminder delivered so far."""
    box = mailbox.Maildir(tmp_path / "data" / "outbox", factory=None, create=True)
    refs = []
    for key in box.iterkeys():
        message = email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
        if message["X-Mailflow-Kind"] == "reminder":
            refs.append(str(message["X-Mailflow-Booking"]))
    return refs


def run_at(cli: Any, moment: datetime) -> dict[str, Any]:
    return dict(json.loads(cli("run-once", "--now", moment.isoformat(), "--json", check=True).stdout))


def reminder_rows(tmp_path: Path) -> list[tuple[str, str, str]]:
    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'mailflow.db'}")
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "select b.ref, r.status, r.offset_minutes from reminder r "
                "join booking b on b.id = r.booking_id order by b.ref, r.offset_minutes"
            )
        ).all()
    engine.dispose()
    return [(str(a), str(b), str(c)) for a, b, c in rows]


def test_reminder_is_planned_moved_sent_late_and_once(cli: Any, tmp_path: Path, next_tuesday: date) -> None:
    """24 h before start by default; a move re-plans it; after downtime it still goes out, once."""
    created = json.loads(
        cli(
            *CREATE,
            "--customer-email",
            "ada@example.com",
            "--start",
            berlin(next_tuesday, 10).isoformat(),
            check=True,
        ).stdout
    )
    ref = created["ref"]
    due = berlin(next_tuesday, 10) - timedelta(hours=24)
    assert reminder_rows(tmp_path) == [(ref, "pending", "1440")]

    report = run_at(cli, due - timedelta(hours=1))
    assert report["reminders_queued"] == 0 and report["sent"] == 3  # the creation emails
    assert reminders_in_maildir(tmp_path) == []

    cli("bookings", "reschedule", ref, "--start", berlin(next_tuesday, 14).isoformat(), check=True)
    assert run_at(cli, due + timedelta(minutes=1))["reminders_queued"] == 0  # the old time no longer counts
    assert reminders_in_maildir(tmp_path) == []

    downtime_over = berlin(next_tuesday, 14) - timedelta(hours=2)  # 22 h after the new due time
    report = run_at(cli, downtime_over)
    assert report["reminders_queued"] == 1
    assert reminders_in_maildir(tmp_path) == [ref]
    assert run_at(cli, downtime_over + timedelta(minutes=30))["reminders_queued"] == 0
    assert reminders_in_maildir(tmp_path) == [ref]
    assert reminder_rows(tmp_path) == [(ref, "sent", "1440")]


def test_cancelled_booking_never_gets_a_reminder(cli: Any, tmp_path: Path, next_tuesday: date) -> None:
    """Cancelling drops the pending reminder; the sweep never sends it."""
    created = json.loads(
        cli(
            *CREATE,
            "--customer-email",
            "grace@example.com",
            "--start",
            berlin(next_tuesday, 11).isoformat(),
            check=True,
        ).stdout
    )
    cli("bookings", "cancel", created["ref"], check=True)
    assert reminder_rows(tmp_path) == [(created["ref"], "dropped", "1440")]
    assert run_at(cli, berlin(next_tuesday, 9))["reminders_queued"] == 0
    assert reminders_in_maildir(tmp_path) == []


def test_reminder_due_at_booking_time_is_skipped_and_started_bookings_get_none(
    cli: Any, tmp_path: Path, next_tuesday: date
) -> None:
    """An offset that is already due when booking is skipped; after the start nothing is sent."""
    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'mailflow.db'}")
    with engine.begin() as connection:  # a 60-day reminder cannot be met for a booking a week or two ahead
        connection.execute(
            text("update service set reminder_offsets_minutes = '[1440, 86400]' where slug = 'haircut'")
        )
    engine.dispose()
    created = json.loads(
        cli(
            *CREATE,
            "--customer-email",
            "max@example.com",
            "--start",
            berlin(next_tuesday, 12).isoformat(),
            check=True,
        ).stdout
    )
    ref = created["ref"]
    assert reminder_rows(tmp_path) == [(ref, "pending", "1440"), (ref, "skipped", "86400")]
    assert run_at(cli, berlin(next_tuesday, 12, 5))["reminders_queued"] == 0  # already started: too late
    assert reminders_in_maildir(tmp_path) == []
    assert reminder_rows(tmp_path) == [(ref, "dropped", "1440"), (ref, "skipped", "86400")]
