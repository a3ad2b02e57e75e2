"""Mail in and out: ``mailflow inbound`` (feed, inspect, list, retry) and ``mailflow outbox``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mailflow.cli.common import STAFF_ACTOR, JsonOption
from mailflow.cli.common import emit as _emit
from mailflow.cli.common import now as _now
from mailflow.cli.common import open_app as _app
from mailflow.errors import InvalidInput

if TYPE_CHECKING:
    from mailflow.config import Settings
    from mailflow.services.mail_log import InboundView

inbound_cli = typer.Typer(help="Replies and other mail coming in.", no_args_is_help=True)
outbox_cli = typer.Typer(help="The outgoing email queue.", no_args_is_help=True)


EX_NOUSER = 67
"""sysexits.h: the MTA bounces the message, "no such recipient" (LMTP answers 550 there)."""
EX_TEMPFAIL = 75
"""sysexits.h: the MTA keeps the message in its queue and tries again later."""


@inbound_cli.command("feed")
def inbound_feed(
    file: str = typer.Argument(..., help="A raw message (.eml), or - for standard input."),
    more: list[str] = typer.Argument(
        None, metavar="[RECIPIENT]...", help="More envelope recipients (an MTA's ${recipient} list)."
    ),
    rcpts: list[str] = typer.Option(
        [], "--rcpt", help="An envelope recipient, e.g. reply+KEY@domain; repeat it for several."
    ),
    sender: str = typer.Option("", "--from", help="The envelope sender (return path)."),
) -> None:
    """Take a message as if an MTA piped it: exit 0 once it is stored, whatever the verdict;
    exit 75 (EX_TEMPFAIL) when it cannot be stored now, so the MTA retries instead of bouncing;
    exit 67 (EX_NOUSER) when no recipient given is an address of ours.

    Needs only the database (and reads the secret key only when it may: without it, a
    ``bounce+`` address of the right form is stored and its signature checked by the worker).
    """
    from mailflow.config import load_settings
    from mailflow.inbound.recipients import recipient_is_ours
    from mailflow.outbound.return_path import ReturnPaths
    from mailflow.services.inbound_store import Received, store_many
    from mailflow.store.engine import make_engine
    from mailflow.store.migrate import ensure_migrated

    recipients = [*rcpts, *(more or [])]
    try:
        raw = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
        settings = load_settings()
        engine = make_engine(settings.database_url)
        try:
            ensure_migrated(engine)
            paths = ReturnPaths(readable_secret_key(settings) or "", settings.inbound_domain)
            domain = settings.inbound_domain
            ours = [rcpt for rcpt in recipients if recipient_is_ours(engine, paths, domain, rcpt)]
            if recipients and not ours:
                sys.stderr.write(f"mailflow: error: no such recipient here: {', '.join(recipients)}\n")
                raise SystemExit(EX_NOUSER)
            # One row per recipient of ours (an MTA may pass several), all or none.
            received = [Received(raw, sender, rcpt) for rcpt in ours or [""]]
            row_ids = store_many(engine, received, _now())
        finally:
            engine.dispose()
    except SystemExit:
        raise
    except Exception as exc:
        # Whatever the cause (database unreachable, read-only or not migrated, a setting, a bug),
        # any other non-zero exit makes the MTA bounce the customer's reply: it must retry instead.
        sys.stderr.write(f"mailflow: error: the message was not stored, retry later: {_first_line(exc)}\n")
        raise SystemExit(EX_TEMPFAIL) from None
    sys.stderr.write(f"stored as inbound message {', '.join(map(str, row_ids))}\n")


def readable_secret_key(settings: Settings) -> str | None:
    """The secret key when this process may read it (set, or its file readable), else None;
    never generates one (the MTA's user must not write into the data directory)."""
    if settings.secret_key:
        return settings.secret_key
    try:
        return (settings.data_dir / "secret_key").read_text().strip() or None
    except OSError:
        return None


def _first_line(exc: Exception) -> str:
    """One line saying what went wrong (a database error's first line, not its SQL)."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")


@inbound_cli.command("inspect")
def inbound_inspect(
    files: list[Path] = typer.Argument(..., help="One or more raw messages."),
    rcpt: str = typer.Option("", "--rcpt", help="The envelope recipient to assume."),
    as_json: bool = JsonOption,
) -> None:
    """A dry run over messages: kind, command, slot, stripped text and target; changes nothing."""
    from mailflow.inbound.process import inspect_message

    with _app() as app:
        for file in files:
            try:
                raw = file.read_bytes()
            except OSError as exc:
                raise InvalidInput(f"cannot read {file}: {exc.strerror}") from None
            result = {"file": str(file), **inspect_message(app.mailroom, raw, rcpt)}
            if as_json:
                sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
            else:
                first = (result["text"].splitlines() or [""])[0][:60]
                sys.stdout.write(
                    f"{file}: {result['kind']} command={result['command']} slot={result['slot']} "
                    f"target={result['target']} text={first!r}\n"
                )


@inbound_cli.command("list")
def inbound_list(limit: int = typer.Option(50, "--limit", min=1), as_json: bool = JsonOption) -> None:
    """Recent inbound messages with their verdicts, newest first."""
    from mailflow.services.mail_log import list_inbound

    with _app() as app:
        data = [_inbound_row(view) for view in list_inbound(app.engine, limit=limit)]
    _emit(
        data,
        as_json,
        lambda: (
            "\n".join(
                f"{r['id']:>6} {r['status']:<10} {r['kind'] or '-':<15} {r['command'] or '-':<12} "
                f"{r['booking'] or '-':<10} {_last_verdicts(r['verdicts'])}"
                for r in data
            )
            or "no inbound messages"
        ),
    )


def _inbound_row(view: InboundView) -> dict[str, Any]:
    """One inbound message as ``inbound list --json`` and ``inbound retry --json`` print it."""
    return {
        "id": view.id,
        "received_at": view.received_at.isoformat(),
        "status": view.status,
        "kind": view.kind,
        "command": view.command,
        "booking": view.booking,
        "message_id": view.message_id,
        "error": view.error,
        "verdicts": view.verdicts,
    }


def _last_verdicts(verdicts: list[dict[str, str]]) -> str:
    return "; ".join(f"{v['rule']}={v['verdict']}" for v in verdicts[-3:])


@inbound_cli.command("retry")
def inbound_retry(message_id: int = typer.Argument(..., metavar="ID"), as_json: bool = JsonOption) -> None:
    """Run the pipeline again for a message that ended with an error."""
    from mailflow.inbound.process import process_one
    from mailflow.services.inbound_store import retry_inbound
    from mailflow.services.mail_log import get_inbound

    with _app() as app:
        now = _now()
        retry_inbound(app.engine, message_id, STAFF_ACTOR, now, app.settings.claim_lease)
        outcome = process_one(app.mailroom, message_id, now)
        row = _inbound_row(get_inbound(app.engine, message_id))
    _emit(
        row,
        as_json,
        lambda: (
            f"inbound message {message_id}: "
            + "; ".join(v["rule"] + "=" + v["verdict"] for v in outcome.verdicts)
        ),
    )


@outbox_cli.command("list")
def outbox_list(
    status: str = typer.Option(None, "--status", help="queued, sending, sent or failed."),
    limit: int = typer.Option(200, "--limit", min=1),
    as_json: bool = JsonOption,
) -> None:
    """Queued, sent and failed emails, newest first, with retry times and errors."""
    from mailflow.outbound.outbox import OutboxStatus
    from mailflow.services.mail_log import list_outbox

    if status is not None and status not in {s.value for s in OutboxStatus}:
        raise InvalidInput(f"--status must be one of {', '.join(s.value for s in OutboxStatus)}")
    with _app() as app:
        rows = [
            {
                "id": view.id,
                "kind": view.kind,
                "recipient": view.recipient,
                "booking": view.booking,
                "status": view.status,
                "attempts": view.attempts,
                "next_attempt_at": view.next_attempt_at.isoformat() if view.next_attempt_at else None,
                "sent_at": view.sent_at.isoformat() if view.sent_at else None,
                "last_error": view.last_error,
                "message_id": view.message_id,
                "subject": view.subject,
            }
            for view in list_outbox(app.engine, status=status, limit=limit)
        ]
    _emit(
        rows,
        as_json,
        lambda: (
            "\n".join(
                f"{r['id']:>6} {r['status']:<8} {r['kind']:<20} {r['recipient']:<30} "
                f"{r['booking'] or '-':<10} {r['last_error'] or ''}"
                for r in rows
            )
            or "the outbox is empty"
        ),
    )
