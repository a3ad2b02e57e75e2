"""One config file for the server, the CLI and an MTA's pipe: ``--config PATH`` or ``MAILFLOW_CONFIG``.

A command run from another directory, with none of the server's environment (as Postfix's pipe
runs it), reads the same settings as the server when it is given the file: the same database, the
same links in the emails it queues.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

from tests.conftest import berlin, run_mailflow_in_process, run_mailflow_subprocess

CREATE = (
    "bookings", "create", "--business", "contoso", "--service", "haircut", "--staff", "bob@contoso.example",
    "--customer-email", "ada@example.com", "--customer-name", "Ada Lovelace",
)  # fmt: skip


def bare_environment() -> dict[str, str]:
    """The process environment without any MAILFLOW_* variable (an MTA passes none)."""
    return {key: value for key, value in os.environ.items() if not key.startswith("MAILFLOW_")}


def test_config_option_gives_the_cli_the_servers_settings(tmp_path: Path, next_tuesday: date) -> None:
    """`mailflow --config FILE …` from an unrelated directory uses the file's database and public URL."""
    config = tmp_path / "mailflow.env"
    data = tmp_path / "srv"
    config.write_text(f"MAILFLOW_DATA_DIR={data}\nMAILFLOW_PUBLIC_URL=https://book.example.com\n")
    elsewhere = tmp_path / "queue"
    elsewhere.mkdir()
    env = bare_environment()

    def run(*args: str, environ: dict[str, str] = env) -> str:
        result = run_mailflow_in_process(list(args), environ, elsewhere)
        assert result.returncode == 0, result.stderr
        return result.stdout

    run("--config", str(config), "db", "upgrade")
    run("--config", str(config), "demo")
    start = berlin(next_tuesday, 10).isoformat()
    created = json.loads(run("--config", str(config), *CREATE, "--start", start, "--json"))
    assert created["manage_url"].startswith("https://book.example.com/m/")
    assert (data / "mailflow.db").exists() and not (elsewhere / "mailflow-data").exists()
    listed = json.loads(run("bookings", "list", "--json", environ={**env, "MAILFLOW_CONFIG": str(config)}))
    assert [booking["ref"] for booking in listed] == [created["ref"]]


def test_a_missing_config_file_is_a_one_line_error_in_a_real_process(tmp_path: Path) -> None:
    """A config file that is not there stops the command (exit 78, naming MAILFLOW_CONFIG), with
    no fallback to the defaults."""
    missing = tmp_path / "nope.env"
    result = run_mailflow_subprocess(
        ["--config", str(missing), "bookings", "list"], bare_environment(), tmp_path
    )
    assert result.returncode == 78
    assert result.stderr.strip() == f"mailflow: error: MAILFLOW_CONFIG: {missing} does not exist"
    assert not (tmp_path / "mailflow-data").exists()
