"""Daylight saving through the CLI, on SQLite and PostgreSQL (issue 16, item 3).

Europe/Berlin in 2027: on Sunday 28 March the clocks go forward from 02:00 to
03:00 (02:30 does not exist); on Sunday 31 October they go back from 03:00 to
02:00 (02:30 happens twice). Bob works Sundays 00:00-06:00, across both changes.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

BOB = "bob@salon.example"


@pytest.fixture
def cli(run_cli: Any, db_url: str) -> Any:
    """The CLI on a business set up through the CLI: Bob on Sundays 00:00-06:00, a 30-minute
    consultation with a 24-hour reminder."""

    def run(*args: str, check: bool = False) -> Any:
        return run_cli(*args, env={"MAILFLOW_DATABASE_URL": db_url}, check=check)

    run("db", "upgrade", check=True)
    run("business", "create", "salon", "--name", "City Salon", "--timezone", "Europe/Berlin", check=True)
    run("staff", "add", BOB, "--name", "Bob", check=True)
    run("staff", "hours", BOB, "--sun", "00:00-06:00", "--mon", "09:00-17:00", check=True)
    run(
        "services", "create", "consultation", "--name", "Consultation", "--duration", "30",
        "--staff", BOB, "--reminders", "24h", check=True,
    )  # fmt: skip
    run(
        "services",
        "create",
        "treatment",
        "--name",
        "Treatment",
        "--duration",
        "90",
        "--staff",
        BOB,
        check=True,
    )
    return run


def book(cli: Any, start: str, service: str = "consultation") -> Any:
    return cli(
        "bookings", "create", "--service", service, "--staff", BOB,
        "--customer-email", "ada@example.com", "--customer-name", "Ada", "--start", start, "--json",
    )  # fmt: skip


def one_line_error(result: Any) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return str(lines[0])


def bookings(cli: Any) -> list[dict[str, Any]]:
    listed = cli("bookings", "list", "--json", check=True)
    found: list[dict[str, Any]] = json.loads(listed.stdout)
    return found


def test_a_time_the_clocks_skip_is_refused_saying_they_go_forward(cli: Any) -> None:
    """2027-03-28T02:30 does not exist in Berlin: exit 2, one line, nothing booked."""
    line = one_line_error(book(cli, "2027-03-28T02:30"))
    assert "does not exist" in line and "clocks go forward" in line and "03:30" in line
    assert bookings(cli) == []


def test_a_repeated_time_needs_an_offset_and_names_both(cli: Any) -> None:
    """2027-10-31T02:30 happens twice: refused naming +02:00 and +01:00; with an offset, 30 minutes."""
    line = one_line_error(book(cli, "2027-10-31T02:30"))
    assert "2027-10-31T02:30+02:00" in line and "2027-10-31T02:30+01:00" in line
    assert bookings(cli) == []
    first = book(cli, "2027-10-31T02:30+02:00")
    assert first.returncode == 0, first.stderr
    second = book(cli, "2027-10-31T02:30+01:00")
    assert second.returncode == 0, second.stderr
    ends = [json.loads(result.stdout)["end"] for result in (first, second)]
    assert ends == ["2027-10-31T02:00:00+01:00", "2027-10-31T03:00:00+01:00"]


def test_durations_count_elapsed_time_across_both_changes(cli: Any) -> None:
    """A 90-minute booking lasts 90 minutes whichever change it crosses, and blocks exactly that."""
    spring = json.loads(book(cli, "2027-03-28T01:45", "treatment").stdout)  # 00:45Z
    assert spring["end"] == "2027-03-28T04:15:00+02:00"  # 02:15Z, not the wall clock's 03:15
    clash = book(cli, "2027-03-28T04:00")  # 02:00Z, inside 00:45Z-02:15Z
    assert clash.returncode == 5, clash.stderr
    autumn = json.loads(book(cli, "2027-10-31T01:45", "treatment").stdout)  # 23:45Z, summer time
    start, end = (datetime.fromisoformat(autumn[key]) for key in ("start", "end"))
    assert end - start == timedelta(minutes=90)
    assert autumn["end"] == "2027-10-31T02:15:00+01:00"  # 01:15Z, the second 02:15
    after = book(cli, "2027-10-31T02:15+01:00")  # free again from 01:15Z
    assert after.returncode == 0, after.stderr
    assert len(bookings(cli)) == 3


@pytest.mark.parametrize(
    ("start", "due", "early"),
    [
        ("2027-03-28T05:00", "2027-03-27T03:00:00+00:00", "2027-03-27T02:59:00+00:00"),
        ("2027-10-31T05:00", "2027-10-30T04:00:00+00:00", "2027-10-30T03:59:00+00:00"),
    ],
)
def test_a_24_hour_reminder_comes_24_hours_ahead_across_a_change(
    cli: Any, start: str, due: str, early: str
) -> None:
    """The reminder of a Sunday 05:00 booking goes out exactly 24 hours before it, not 23 or 25."""
    assert book(cli, start).returncode == 0

    def reminders() -> list[Any]:
        listed = json.loads(cli("outbox", "list", "--json", check=True).stdout)
        return [row for row in listed if row["kind"] == "reminder"]

    cli("run-once", "--now", early, check=True)
    assert reminders() == []
    cli("run-once", "--now", due, check=True)
    assert len(reminders()) == 1


def test_time_off_in_a_gap_is_refused_and_an_ambiguous_end_too(cli: Any) -> None:
    """Time off from a local time that does not exist, or to one that happens twice, is refused."""
    gap = cli("staff", "time-off", "add", BOB, "--from", "2027-03-28T02:30", "--to", "2027-03-28T05:00")
    assert "clocks go forward" in one_line_error(gap)
    twice = cli("staff", "time-off", "add", BOB, "--from", "2027-10-31T00:00", "--to", "2027-10-31T02:15")
    assert "+02:00" in one_line_error(twice)
    fine = cli(
        "staff", "time-off", "add", BOB, "--from", "2027-10-31T00:00", "--to", "2027-10-31T02:15+01:00",
        "--json",
    )  # fmt: skip
    assert fine.returncode == 0, fine.stderr
