"""Smoke tests of the CLI as a real process (``python -m mailflow``): most CLI tests call
``mailflow.cli.main`` in-process, these check what only a process shows — the entry point
imports and runs, exit codes and one-line errors reach the shell, standard input is piped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


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
    assert bad.stderr.strip() == "mailflow: error: MAILFLOW_LOG_FORMAT must be text or json, not 'xml'"


def test_inbound_feed_reads_a_piped_message(run_cli: Any, tmp_path: Path) -> None:
    """`inbound feed -` stores what an MTA pipes on standard input and exits 0."""
    run_cli("db", "upgrade", check=True)
    message = "From: max@example.de\r\nTo: reply+abc@mailflow.localhost\r\nSubject: Hi\r\n\r\nHallo\r\n"
    fed = run_cli(
        "inbound", "feed", "-", "--rcpt", "reply+abc@mailflow.localhost", input=message, real_process=True
    )
    assert fed.returncode == 0, fed.stderr
    assert "stored as inbound message" in fed.stderr
    listed = run_cli("inbound", "list", "--json", check=True)
    assert len(json.loads(listed.stdout)) == 1
