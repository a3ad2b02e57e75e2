"""Every CLI command that takes ``--json`` prints JSON a script can parse, and nothing else on stdout.

One scenario on the demo business runs each such command once, in an order where each finds what it
needs (a booking to cancel, a time off to remove); the command tree is walked so that a new command
with ``--json`` and no step here fails the test until it gets one.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import typer.main

from mailflow.cli import cli
from tests.conftest import berlin

BOB = "bob@contoso.example"
DORA = "dora@contoso.example"
REPLY = "From: ada@example.com\r\nTo: reply+abc@mailflow.localhost\r\nSubject: Re\r\n\r\ncancel\r\n"


def json_commands() -> set[str]:
    """Every command of the tree (``"staff time-off add"``) that has a ``--json`` option."""

    def walk(command: Any, path: tuple[str, ...]) -> Iterator[str]:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                yield from walk(sub, (*path, name))
        elif any("--json" in getattr(param, "opts", ()) for param in command.params):
            yield " ".join(path)

    return set(walk(typer.main.get_command(cli), ()))


Step = tuple[str, tuple[str, ...]]


def scenario(tmp: Path, day: date) -> Iterator[Step | Callable[[dict[str, Any]], Step]]:
    """The steps: a command name and its arguments, or a function of the outputs so far giving one."""
    start, later = berlin(day, 10).isoformat(), berlin(day, 14).isoformat()
    yield "demo", ()
    yield "business show", ()
    yield "business update", ("--phone", "+49 30 7654321")
    yield "services list", ()
    yield "services show", ("haircut",)
    yield "services create", ("color", "--name", "Color", "--duration", "60", "--staff", BOB)
    yield "services update", ("color", "--duration", "90")
    yield "services archive", ("color",)
    yield "staff list", ()
    yield "staff add", (DORA, "--name", "Dora")
    yield "staff update", (DORA, "--name", "Dora D")
    yield "staff hours", (DORA, "--mon", "09:00-12:00")
    yield "staff time-off add", (DORA, "--from", f"{day}T09:00", "--to", f"{day}T10:00")
    yield "staff time-off list", (DORA,)
    yield lambda out: ("staff time-off remove", (str(out["staff time-off add"]["id"]),))
    yield "staff calendar-feed", (DORA,)
    yield "staff calendars add", (DORA, "http://127.0.0.1:9/busy.ics")  # nothing listens: sync fails, kept
    yield "staff calendars list", (DORA,)
    yield "staff calendars sync", (DORA,)
    yield lambda out: ("staff calendars remove", (str(out["staff calendars add"]["id"]),))
    yield "staff deactivate", (DORA,)
    yield "closures add", ("--from", str(day + timedelta(days=60)), "--label", "Inventory")
    yield "closures list", ()
    yield lambda out: ("closures remove", (str(out["closures add"]["closures"][0]["id"]),))
    yield "closures import-holidays", ("--country", "DE", "--year", str(day.year + 1))
    create = ("--service", "haircut", "--staff", BOB, "--customer-email", "ada@example.com")
    yield "bookings create", (*create, "--customer-name", "Ada", "--start", start)
    yield "bookings list", ()
    yield lambda out: ("bookings show", (out["bookings create"]["ref"],))
    yield lambda out: ("bookings reschedule", (out["bookings create"]["ref"], "--start", later))
    yield lambda out: ("bookings cancel", (out["bookings create"]["ref"], "--reason", "ill"))
    yield "run-once", ()
    yield "outbox list", ()
    yield "templates list", ()
    yield "templates export", (str(tmp / "export"),)
    yield "templates validate", ()
    yield "templates import", (str(tmp / "export"),)
    yield "templates preview", ("confirmation", "--locale", "en", "--variant", "manage")
    yield "templates history", ("confirmation", "--locale", "en")
    yield "templates reset", ("confirmation", "--locale", "en")
    yield "templates rollback", ("confirmation", "--locale", "en", "--version", "1")
    yield "inbound inspect", (str(tmp / "reply.eml"),)
    yield "inbound list", ()
    yield lambda out: ("inbound retry", (str(out["inbound list"][0]["id"]),))
    yield "customers export", ("ada@example.com",)
    yield "customers clear-bouncing", ("ada@example.com",)
    yield "customers erase", ("ada@example.com",)
    yield "admin create-user", ("eve@contoso.example", "--business", "contoso")
    yield "admin api-key create", ("--business", "contoso", "--label", "site")
    yield "admin api-key list", ("--business", "contoso")
    yield lambda out: (
        "admin api-key revoke",
        (out["admin api-key create"]["prefix"], "--business", "contoso"),
    )
    yield "webhooks add", ("https://hooks.example.com/mailflow",)
    yield "webhooks list", ()
    yield lambda out: ("webhooks remove", (str(out["webhooks add"]["id"]),))
    yield "business create", ("salon", "--name", "City Salon", "--timezone", "Europe/Berlin")  # last: a 2nd


def test_every_json_command_prints_parseable_json(run_cli: Any, tmp_path: Path, next_tuesday: date) -> None:
    """Each command with --json exits 0 with only JSON on stdout (JSON lines for inbound inspect)."""
    run_cli("db", "upgrade", check=True)
    (tmp_path / "reply.eml").write_text(REPLY, encoding="utf-8")
    run_cli(
        "inbound", "feed", str(tmp_path / "reply.eml"), "--rcpt", "postmaster@mailflow.localhost", check=True
    )
    outputs: dict[str, Any] = {}
    for step in scenario(tmp_path, next_tuesday):
        name, args = step(outputs) if callable(step) else step
        if name == "templates import":  # an edit, so the import saves version 1
            subject = tmp_path / "export" / "en" / "confirmation.subject.txt"
            subject.write_text("Booked: {{ booking.service_name }}\n", encoding="utf-8")
        if name == "inbound retry":  # a message that crashed the pipeline, as the retry is for
            fail_one_inbound_message(tmp_path / "data" / "mailflow.db")
        result = run_cli(*name.split(), *args, "--json", check=True)
        if name == "inbound inspect":
            outputs[name] = [json.loads(line) for line in result.stdout.splitlines()]
        else:
            outputs[name] = json.loads(result.stdout)
    assert set(outputs) == json_commands()
    assert outputs["inbound retry"]["id"] == outputs["inbound list"][0]["id"]
    assert outputs["inbound retry"]["status"] == "done" and outputs["inbound retry"]["verdicts"]
    assert outputs["templates reset"]["source"] == "default"
    assert outputs["templates rollback"] == {
        "kind": "confirmation", "locale": "en", "source": "version 1", "version": 1, "versions": 1,
    }  # fmt: skip


def fail_one_inbound_message(database: Path) -> None:
    """Mark the stored message as failed, as a crash in the pipeline leaves it."""
    with sqlite3.connect(database) as db:
        db.execute("UPDATE inboundmessage SET status = 'error', error = 'RuntimeError: boom'")
