"""Smoke tests of the CLI as a real process (``python -m mailflow``): most CLI tests call
``mailflow.cli.main`` in-process, these check what only a process shows — the entry point
imports and runs, exit codes and one-line errors reach the shell, standard input is piped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


def test_help_lists_every_command_group(run_cli: Any) -> None:
    """`python -m mailflow --help` starts, exits 0 and names the command groups."""
    result = run_cli("--help", real_process=True, check=True)
    for group in ("serve", "db", "demo", "run-once", "bookings", "inbound", "templates", "business"):
        assert group in result.stdout


def test_an_error_is_one_line_and_an_exit_code(run_cli: Any) -> None:
    """A refusal (unmigrated database) and a bad setting are one stderr line with their exit code."""
    unmigrated = run_cli("bookings", "list", real_process=True)
    assert unmigrated.returncode != 0 and unmigrated.stdout == ""
    assert unmigrated.stderr.strip().splitlines() == [unmigrated.stderr.strip()]
    assert "run `mailflow db upgrade`" in unmigrated.stderr and "Traceback" not in unmigrated.stderr
    bad = run_cli("bookings", "list", env={"MAILFLOW_LOG_FORMAT": "xml"}, real_process=True)
    assert bad.returncode == 78
    assert bad.stderr.strip() == "mailflow: error: MAILFLOW_LOG_FORMAT: expected text or json, got 'xml'"


def test_inbound_feed_reads_a_piped_message(run_cli: Any, tmp_path: Path) -> None:
    """`inbound feed -` stores what an MTA pipes on standard input and exits 0."""
    run_cli("db", "upgrade", check=True)
    message = "From: max@example.de\r\nTo: reply+abc@mailflow.localhost\r\nSubject: Hi\r\n\r\nHallo\r\n"
    fed = run_cli(
        "inbound", "feed", "-", "--rcpt", "postmaster@mailflow.localhost", input=message, real_process=True
    )
    assert fed.returncode == 0, fed.stderr
    assert "stored as inbound message" in fed.stderr
    listed = run_cli("inbound", "list", "--json", check=True)
    assert len(json.loads(listed.stdout)) == 1


REPLY = "From: max@example.de\r\nTo: reply+abc@mailflow.localhost\r\nSubject: Hi\r\n\r\nHallo\r\n"


@pytest.mark.parametrize(
    ("database", "says"),
    [
        ("postgresql+psycopg://mailflow@127.0.0.1:1/mailflow", "OperationalError"),  # nothing listens
        (None, "mailflow db upgrade"),  # a new SQLite file: not migrated
    ],
)
def test_inbound_feed_exits_75_when_the_message_cannot_be_stored(
    run_cli: Any, database: str | None, says: str
) -> None:
    """Database unreachable or not migrated: exit 75 (EX_TEMPFAIL), one line on stderr, so the
    MTA keeps the customer's reply and retries instead of bouncing it (issue 16, item 9)."""
    env = {"MAILFLOW_DATABASE_URL": database} if database else {}

    fed = run_cli("inbound", "feed", "-", "--rcpt", "reply+abc@mailflow.localhost", input=REPLY, env=env,
                  real_process=True)  # fmt: skip

    assert fed.returncode == 75, (fed.returncode, fed.stderr)
    lines = fed.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in fed.stderr
    assert (
        lines[0].startswith("mailflow: error: the message was not stored, retry later") and says in lines[0]
    )


def test_inbound_feed_retried_after_the_upgrade_stores_the_message(run_cli: Any) -> None:
    """What the MTA does next: the retry after `db upgrade` stores the reply and exits 0."""
    first = run_cli("inbound", "feed", "-", input=REPLY, real_process=True)
    assert first.returncode == 75
    run_cli("db", "upgrade", check=True)

    again = run_cli("inbound", "feed", "-", input=REPLY, real_process=True)

    assert again.returncode == 0, again.stderr
    assert len(json.loads(run_cli("inbound", "list", "--json", check=True).stdout)) == 1


def test_inbound_feed_stores_one_row_per_recipient_of_ours(run_cli: Any) -> None:
    """An MTA may pass several recipients: `--rcpt` repeated stores the message once for each
    address of ours (an unknown reply key is left out)."""
    run_cli("db", "upgrade", check=True)
    rcpts = ["postmaster@mailflow.localhost", "reply+unknownkey@mailflow.localhost", "Postmaster"]

    fed = run_cli("inbound", "feed", "-", *[part for r in rcpts for part in ("--rcpt", r)], input=REPLY)

    assert fed.returncode == 0, fed.stderr
    assert len(json.loads(run_cli("inbound", "list", "--json", check=True).stdout)) == 2


@pytest.mark.parametrize(
    "rcpt",
    [
        "reply+unknownkey@mailflow.localhost",
        "bounce+anything@mailflow.localhost",
        "someone@elsewhere.example",
    ],
)
def test_inbound_feed_exits_67_when_no_recipient_is_ours(run_cli: Any, rcpt: str) -> None:
    """No recipient of ours (an unknown key, a forged return path, another domain): exit 67
    (EX_NOUSER), one line, nothing stored: the MTA bounces it as LMTP's 550 would."""
    run_cli("db", "upgrade", check=True)

    fed = run_cli("inbound", "feed", "-", "--rcpt", rcpt, input=REPLY, real_process=True)

    assert fed.returncode == 67, (fed.returncode, fed.stderr)
    assert fed.stderr.strip() == f"mailflow: error: no such recipient here: {rcpt}"
    assert json.loads(run_cli("inbound", "list", "--json", check=True).stdout) == []


def test_inbound_feed_takes_the_recipients_an_mta_expands_into_more_arguments(run_cli: Any) -> None:
    """Postfix expands `--rcpt ${recipient}` for two recipients into `--rcpt A B` (issue 21, item 4):
    the extra argument is a recipient too, and the message is stored once for each."""
    run_cli("db", "upgrade", check=True)

    fed = run_cli(
        "inbound", "feed", "-", "--rcpt", "postmaster@mailflow.localhost", "Postmaster",
        input=REPLY, real_process=True,
    )  # fmt: skip

    assert fed.returncode == 0, fed.stderr
    assert len(json.loads(run_cli("inbound", "list", "--json", check=True).stdout)) == 2


@pytest.mark.parametrize(
    ("extra", "env", "says"),
    [
        (["--no-such-flag"], {}, "No such option"),
        ([], {"MAILFLOW_LOG_LEVEL": "LOUD"}, "MAILFLOW_LOG_LEVEL"),
        ([], {"MAILFLOW_CONFIG": "/nonexistent/mailflow.env"}, "MAILFLOW_CONFIG"),
        ([], {"MAILFLOW_SLOT_GRID_MINUTES": "many"}, "MAILFLOW_SLOT_GRID_MINUTES"),
    ],
)
def test_inbound_feed_exits_75_on_a_wrong_flag_or_setting(
    run_cli: Any, extra: list[str], env: dict[str, str], says: str
) -> None:
    """Issue 21, item 3: a wrong flag or setting is no reason to bounce a customer's reply: exit 75
    (the MTA keeps it and retries once the operator fixed it), one line naming the problem."""
    run_cli("db", "upgrade", check=True)

    fed = run_cli(
        "inbound", "feed", "-", *extra, "--rcpt", "postmaster@mailflow.localhost",
        input=REPLY, env=env, real_process=True,
    )  # fmt: skip

    assert fed.returncode == 75, (fed.returncode, fed.stderr)
    lines = fed.stderr.strip().splitlines()
    assert len(lines) == 1 and "retry later" in lines[0] and says in lines[0], fed.stderr


def test_inbound_feed_needs_no_secret_key_and_writes_nothing_beside_the_database(
    run_cli: Any, tmp_path: Path
) -> None:
    """Issue 21, item 2: the MTA's user has only the database. With a data directory of its own
    (no secret key in it, nothing written to it), a reply and a return path of the right form are
    stored; the worker, which has the key, checks the return path's signature."""
    run_cli("db", "upgrade", check=True)
    home = tmp_path / "mta-home"
    home.mkdir()
    env = {
        "MAILFLOW_DATA_DIR": str(home),
        "MAILFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'mailflow.db'}",
    }

    fed = run_cli(
        "inbound", "feed", "-", "--rcpt", "bounce+12.abcdefghijklmnop@mailflow.localhost",
        input=REPLY, env=env, real_process=True,
    )  # fmt: skip

    assert fed.returncode == 0, fed.stderr
    assert list(home.iterdir()) == []
    assert len(json.loads(run_cli("inbound", "list", "--json", check=True).stdout)) == 1
