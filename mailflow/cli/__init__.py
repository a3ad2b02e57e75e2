"""The ``mailflow`` command line (DESIGN §10): the root command, ``main`` and its exit codes.

One module per command group (``serve`` also holds ``db``, ``demo`` and ``run-once``;
``inbound`` also ``outbox``); each parses options, calls ``mailflow.services`` and prints
through ``mailflow.cli.common``. Groups import only ``common``, never this package's root.

Every command that prints data takes ``--json``; then stdout holds only JSON
and logs go to stderr. Errors are one line on stderr and a non-zero exit code,
never a traceback (set ``MAILFLOW_DEBUG=1`` to see one). ``MAILFLOW_LOG_LEVEL``,
``MAILFLOW_LOG_FORMAT`` and ``MAILFLOW_DEBUG`` are settings like the others, so a
config file sets them too. ``mailflow --config PATH <command>`` reads the settings
from PATH (it sets ``MAILFLOW_CONFIG`` for the command and what it starts).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

import click
import typer
from sqlalchemy.exc import OperationalError

from mailflow.cli import serve
from mailflow.cli.admin import admin_cli
from mailflow.cli.bookings import bookings_cli
from mailflow.cli.business import business_cli
from mailflow.cli.closures import closures_cli
from mailflow.cli.customers import customers_cli
from mailflow.cli.inbound import EX_NOUSER, EX_TEMPFAIL, inbound_cli, outbox_cli
from mailflow.cli.services import services_cli
from mailflow.cli.staff import staff_cli
from mailflow.cli.staff_calendars import calendar_feed, calendars_cli
from mailflow.cli.templates import templates_cli
from mailflow.cli.webhooks import webhooks_cli
from mailflow.config import CONFIG_VARIABLE, Settings, load_settings
from mailflow.errors import ConfigError, MailflowError
from mailflow.logs import configure as configure_logs

__all__ = ["cli", "main"]

cli = typer.Typer(
    name="mailflow",
    help="Email-driven workflow service for appointment-booking businesses.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@cli.callback()
def _global_options(
    config: Path = typer.Option(
        None,
        "--config",
        metavar="PATH",
        help="Read the MAILFLOW_* settings from this file (sets MAILFLOW_CONFIG; default: ./.env "
        "over /etc/mailflow/mailflow.env). Give it before the command.",
    ),
) -> None:
    """Email-driven workflow service for appointment-booking businesses."""
    # Applied by ``main`` before the settings are read (the log settings come from it too).


cli.command()(serve.serve)
cli.command()(serve.demo)
cli.command("run-once")(serve.run_once)
cli.add_typer(serve.db_cli, name="db")
cli.add_typer(bookings_cli, name="bookings")
cli.add_typer(templates_cli, name="templates")
cli.add_typer(inbound_cli, name="inbound")
cli.add_typer(outbox_cli, name="outbox")
cli.add_typer(customers_cli, name="customers")
cli.add_typer(admin_cli, name="admin")
cli.add_typer(business_cli, name="business")
cli.add_typer(services_cli, name="services")
staff_cli.command("calendar-feed")(calendar_feed)
staff_cli.add_typer(calendars_cli, name="calendars")
cli.add_typer(staff_cli, name="staff")
cli.add_typer(closures_cli, name="closures")
cli.add_typer(webhooks_cli, name="webhooks")


def _fail(message: str, code: int) -> NoReturn:
    sys.stderr.write(f"mailflow: error: {message}\n")
    raise SystemExit(code)


def config_option(argv: list[str]) -> str | None:
    """The value of the global ``--config`` among the options before the command, if given.

    >>> config_option(["--config", "/etc/mf.env", "inbound", "feed", "-"])
    '/etc/mf.env'
    >>> config_option(["bookings", "list", "--config", "x"]) is None  # a command's, not ours
    True
    """
    for index, arg in enumerate(argv):
        if arg == "--config":
            return argv[index + 1] if index + 1 < len(argv) else None
        if arg.startswith("--config="):
            return arg.removeprefix("--config=")
        if not arg.startswith("-"):
            return None
    return None


def command_of(argv: list[str]) -> list[str]:
    """The command words of ``argv``, after the global options.

    >>> command_of(["--config", "/etc/mf.env", "inbound", "feed", "-"])[:2]
    ['inbound', 'feed']
    """
    index = 0
    while index < len(argv) and argv[index].startswith("-"):
        index += 2 if argv[index] == "--config" else 1
    return argv[index:]


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``mailflow`` console script."""
    args = sys.argv[1:] if argv is None else argv
    if command_of(args)[:2] == ["inbound", "feed"]:
        _feed_main(args)
        return
    config = config_option(args)
    if config is not None:
        os.environ[CONFIG_VARIABLE] = config  # read by every load_settings of this process and its children
    settings: Settings | None
    try:
        settings = load_settings()
    except ConfigError as exc:
        if exc.variable in ("MAILFLOW_LOG_LEVEL", "MAILFLOW_LOG_FORMAT", "MAILFLOW_DEBUG"):
            _fail(exc.message, exc.exit_code)
        settings = None  # the command itself reports the bad setting (exit 78); --help still works
    configure_logs(settings.log_level if settings else "INFO", settings.log_format if settings else "text")
    try:
        # Standalone mode: usage errors (a wrong flag) print usage and exit 2 there.
        cli(args=argv, prog_name="mailflow")
    except MailflowError as exc:
        _fail(exc.message, exc.exit_code)
    except OperationalError as exc:
        detail = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        _fail(f"cannot use the database (MAILFLOW_DATABASE_URL): {detail}", 69)
    except Exception as exc:
        if settings is not None and settings.debug:
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        _fail(f"{type(exc).__name__}: {first} (set MAILFLOW_DEBUG=1 for details)", 70)


def _feed_main(args: list[str]) -> None:
    """``mailflow inbound feed`` as an MTA's pipe runs it: the message is stored (0), refused as
    no recipient of ours (67), or left with the MTA to try again (75) — whatever else goes wrong,
    a bad setting or flag included, because any other exit status bounces the customer's reply."""
    config = config_option(args)
    if config is not None:
        os.environ[CONFIG_VARIABLE] = config
    try:
        settings = load_settings()
        configure_logs(settings.log_level, settings.log_format)
        cli(args=args, prog_name="mailflow", standalone_mode=False)
    except SystemExit as exc:
        if exc.code in (0, None, EX_NOUSER, EX_TEMPFAIL):
            raise
        _fail(f"the message was not stored, retry later (exit {exc.code})", EX_TEMPFAIL)
    except (MailflowError, click.ClickException) as exc:  # --help returns, it raises nothing
        message = exc.message if isinstance(exc, MailflowError) else exc.format_message()
        _fail(f"the message was not stored, retry later: {message}", EX_TEMPFAIL)
    except Exception as exc:
        _fail(f"the message was not stored, retry later: {type(exc).__name__}: {exc}", EX_TEMPFAIL)
