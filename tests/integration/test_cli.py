"""The CLI as scripts use it (run in-process through `main`): exit codes, JSON on stdout, one-line errors."""

from __future__ import annotations

import json
import logging
import os
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import berlin

CREATE = (
    "bookings", "create", "--business", "contoso", "--service", "haircut", "--staff", "bob@contoso.example",
    "--customer-email", "ada@example.com", "--customer-name", "Ada Lovelace",
)  # fmt: skip


def _one_line_error(result: Any) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return str(lines[0])


def test_unmigrated_database_says_run_db_upgrade(run_cli: Any) -> None:
    """Any command on an empty database exits non-zero with the upgrade hint."""
    for args in (("bookings", "list"), ("demo",), ("bookings", "show", "BK-AAAAAA")):
        message = _one_line_error(run_cli(*args))
        assert "run `mailflow db upgrade`" in message


def test_demo_twice_leaves_one_copy(run_cli: Any) -> None:
    """demo is idempotent: the second run reports the business already present."""
    run_cli("db", "upgrade", check=True)
    first = json.loads(run_cli("demo", "--json", check=True).stdout)
    second = json.loads(run_cli("demo", "--json", check=True).stdout)
    password = first.pop("password")
    assert isinstance(password, str) and len(password) >= 10  # the admin's, shown this once
    assert first == {"business": "contoso", "created": True, "admin": "admin@contoso.example"}
    assert second == {
        "business": "contoso",
        "created": False,
        "admin": "admin@contoso.example",
        "password": None,
    }
    assert json.loads(run_cli("bookings", "list", "--json", check=True).stdout) == []


@pytest.fixture
def seeded(run_cli: Any) -> Any:
    run_cli("db", "upgrade", check=True)
    run_cli("demo", check=True)
    return run_cli


def test_create_show_reschedule_cancel_in_json(seeded: Any, next_tuesday: date) -> None:
    """The booking JSON has the shape of DESIGN §10 through the whole life of a booking."""
    start = berlin(next_tuesday, 10).isoformat()
    created = json.loads(seeded(*CREATE, "--start", start, "--locale", "de", "--json", check=True).stdout)
    assert set(created) == {
        "ref", "status", "origin", "service", "staff", "customer", "start", "end", "sequence", "manage_url",
    }  # fmt: skip
    assert created["status"] == "confirmed" and created["origin"] == "staff"
    assert created["customer"]["locale"] == "de"
    assert created["start"] == start
    assert created["manage_url"].startswith("http://127.0.0.1:8000/m/")
    ref = created["ref"]

    shown = json.loads(seeded("bookings", "show", ref, "--json", check=True).stdout)
    assert "manage_url" not in shown
    assert {k: v for k, v in created.items() if k != "manage_url"} == shown

    moved = json.loads(
        seeded(
            "bookings", "reschedule", ref, "--start", berlin(next_tuesday, 14).isoformat(),
            "--staff", "carla@contoso.example", "--json", check=True,
        ).stdout
    )  # fmt: skip
    assert (moved["staff"], moved["sequence"], moved["start"]) == (
        "carla@contoso.example",
        1,
        berlin(next_tuesday, 14).isoformat(),
    )
    cancelled = json.loads(seeded("bookings", "cancel", ref, "--reason", "ill", "--json", check=True).stdout)
    assert (cancelled["status"], cancelled["sequence"]) == ("cancelled", 2)
    listed = json.loads(seeded("bookings", "list", "--json", check=True).stdout)
    assert [b["ref"] for b in listed] == [ref]


def test_list_bounds_beyond_the_calendar_list_without_overflow(seeded: Any, next_tuesday: date) -> None:
    """--from 0001-01-01 or --to 9999-12-31 are the calendar's ends, not an OverflowError (exit 70)."""
    ref = json.loads(
        seeded(*CREATE, "--start", berlin(next_tuesday, 10).isoformat(), "--json", check=True).stdout
    )["ref"]
    wide = seeded("bookings", "list", "--from", "0001-01-01", "--to", "9999-12-31", "--json", check=True)
    assert [b["ref"] for b in json.loads(wide.stdout)] == [ref]
    beyond = seeded("bookings", "list", "--from", "9999-01-01", "--json", check=True)
    assert json.loads(beyond.stdout) == []


def test_start_without_offset_is_business_local_time(seeded: Any, next_tuesday: date) -> None:
    """--start 2026-…T10:00 means 10:00 in Berlin, printed with the offset."""
    naive = f"{next_tuesday.isoformat()}T10:00"
    created = json.loads(seeded(*CREATE, "--start", naive, "--json", check=True).stdout)
    assert created["start"] == berlin(next_tuesday, 10).isoformat()


def test_outside_hours_taken_slot_and_bad_start_fail_clearly(seeded: Any, next_tuesday: date) -> None:
    """Each refusal is one line on stderr with a non-zero exit and nothing on stdout."""
    evening = seeded(*CREATE, "--start", berlin(next_tuesday, 20).isoformat(), "--json")
    assert "outside the staff member's working hours" in _one_line_error(evening)
    assert evening.stdout == ""

    seeded(*CREATE, "--start", berlin(next_tuesday, 10).isoformat(), check=True)
    taken = seeded(*CREATE, "--start", berlin(next_tuesday, 10, 15).isoformat(), "--json")
    assert "already taken" in _one_line_error(taken)

    bad = seeded(*CREATE, "--start", "next tuesday")
    message = _one_line_error(bad)
    assert "--start" in message and "ISO 8601" in message
    assert bad.returncode == 2


def test_wrong_flag_and_bad_origin_are_usage_errors(seeded: Any) -> None:
    """Click's usage errors exit 2 and name the problem."""
    wrong = seeded("bookings", "list", "--frm", "2026-01-01")
    assert wrong.returncode == 2 and "--frm" in wrong.stderr
    bad_origin = seeded(*CREATE, "--start", "2030-01-01T10:00", "--origin", "robot")
    assert bad_origin.returncode == 2 and "robot" in bad_origin.stderr


def test_unknown_booking_and_bad_settings_are_one_line(seeded: Any) -> None:
    """A missing booking exits 4; a bad variable exits non-zero naming it."""
    missing = seeded("bookings", "show", "BK-ZZZZZZ")
    assert "BK-ZZZZZZ" in _one_line_error(missing) and missing.returncode == 4
    bad = seeded("bookings", "list", env={"MAILFLOW_PUBLIC_URL": "not a url"})
    assert _one_line_error(bad).startswith("mailflow: error: MAILFLOW_PUBLIC_URL:")


def test_list_filters_by_local_dates(seeded: Any, next_tuesday: date) -> None:
    """--from/--to take dates in the business's time zone."""
    seeded(*CREATE, "--start", berlin(next_tuesday, 10).isoformat(), check=True)
    day = next_tuesday.isoformat()
    inside = json.loads(seeded("bookings", "list", "--from", day, "--json", check=True).stdout)
    before = json.loads(seeded("bookings", "list", "--to", day, "--json", check=True).stdout)
    assert len(inside) == 1 and before == []


def test_postgres_url_works_through_the_cli(run_cli: Any, postgres_url: str, next_tuesday: date) -> None:
    """The same commands run against PostgreSQL when MAILFLOW_DATABASE_URL names it."""
    env = {"MAILFLOW_DATABASE_URL": postgres_url}
    run_cli("demo", env=env, check=True)
    created = json.loads(
        run_cli(
            *CREATE, "--start", berlin(next_tuesday, 11).isoformat(), "--json", env=env, check=True
        ).stdout
    )
    listed = json.loads(run_cli("bookings", "list", "--json", env=env, check=True).stdout)
    assert [b["ref"] for b in listed] == [created["ref"]]


def test_admin_create_user_prints_a_password_once_and_refuses_a_second_time(seeded: Any) -> None:
    """create-user gives a generated password once; again only with --reset; bad input is one line."""
    made = json.loads(
        seeded("admin", "create-user", "Dana@Contoso.example", "--role", "admin", "--json", check=True).stdout
    )
    assert made["email"] == "dana@contoso.example" and made["role"] == "admin"
    assert isinstance(made["password"], str) and len(made["password"]) >= 10
    assert "--reset" in _one_line_error(seeded("admin", "create-user", "dana@contoso.example"))
    reset = json.loads(seeded("admin", "create-user", "dana@contoso.example", "--reset", "--json").stdout)
    assert reset["password"] not in (None, made["password"])
    assert "at least 10" in _one_line_error(
        seeded("admin", "create-user", "eve@contoso.example", "--password-stdin", input="short\n")
    )
    assert "unknown role" in _one_line_error(
        seeded("admin", "create-user", "x@contoso.example", "--role", "x")
    )
    chosen = seeded(
        "admin",
        "create-user",
        "eve@contoso.example",
        "--password-stdin",
        "--json",
        input="a long passphrase\n",
    )
    assert json.loads(chosen.stdout)["password"] is None  # a chosen password is never echoed


def test_admin_create_user_takes_the_only_business_and_asks_when_there_are_more(seeded: Any) -> None:
    """Without --business create-user picks the one business there is; with a second one it names
    both and creates nothing, instead of falling back to the demo business."""
    made = json.loads(seeded("admin", "create-user", "dana@contoso.example", "--json", check=True).stdout)
    assert made["business"] == "contoso"
    seeded("business", "create", "salon", "--name", "City Salon", "--timezone", "Europe/Berlin", check=True)
    message = _one_line_error(seeded("admin", "create-user", "eve@salon.example", "--json"))
    assert "2 businesses (contoso, salon): name one with --business" in message
    made = json.loads(
        seeded(
            "admin", "create-user", "eve@salon.example", "--business", "salon", "--json", check=True
        ).stdout
    )
    assert made["business"] == "salon"
    staff = json.loads(seeded("staff", "list", "--business", "contoso", "--json", check=True).stdout)
    assert "eve@salon.example" not in [member["email"] for member in staff]


def test_an_in_process_run_leaves_environment_directory_and_logging_as_they_were(run_cli: Any) -> None:
    """The fixture runs `main` in-process: a run's variables, working directory and log handlers
    do not outlive it, and its logs go to its own stderr while stdout stays JSON."""
    environ, cwd, handlers = dict(os.environ), Path.cwd(), logging.getLogger().handlers[:]
    bad = run_cli("bookings", "list", env={"MAILFLOW_PUBLIC_URL": "not a url"})
    assert bad.returncode != 0 and "MAILFLOW_PUBLIC_URL" in bad.stderr
    assert (dict(os.environ), Path.cwd(), logging.getLogger().handlers) == (environ, cwd, handlers)
    run_cli("db", "upgrade", check=True)
    assert json.loads(run_cli("bookings", "list", "--json", check=True).stdout) == []
    logged = run_cli("run-once", "--json", env={"MAILFLOW_LOG_LEVEL": "DEBUG"}, check=True)
    assert json.loads(logged.stdout)["sent"] == 0 and " DEBUG " in logged.stderr
