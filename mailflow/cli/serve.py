"""Running mailflow and its database: ``serve``, ``db``, ``demo`` and ``run-once`` (DESIGN §10)."""

from __future__ import annotations

from datetime import UTC

import typer

from mailflow.cli.common import JsonOption, parse_when
from mailflow.cli.common import emit as _emit
from mailflow.cli.common import now as _now
from mailflow.cli.common import open_app as _app
from mailflow.config import load_settings
from mailflow.runtime import parse_roles
from mailflow.runtime import serve as serve_app
from mailflow.store import migrate

db_cli = typer.Typer(help="Database schema.", no_args_is_help=True)


def serve(
    demo: bool = typer.Option(False, "--demo", help="Migrate, seed the demo business and sample bookings."),
    roles: str = typer.Option(
        "web,worker,smtp,imap", "--roles", help="Comma-separated: web,worker,smtp,imap."
    ),
) -> None:
    """Run mailflow (web, workers, inbound mail) in one process."""
    chosen = parse_roles(roles)
    settings = load_settings()
    if demo and settings.dev_mail is None:  # the demo shows its emails at /dev/mail unless told otherwise
        settings = settings.model_copy(update={"dev_mail": True})
    with _app(migrated=False, settings=settings) as app:
        serve_app(app, demo=demo, roles=chosen)


@db_cli.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Create or update the database schema."""
    with _app(migrated=False) as app:
        before = migrate.current_revision(app.engine)
        migrate.upgrade(app.engine, revision)
        after = migrate.current_revision(app.engine)
    print(f"database at revision {after}" + ("" if before == after else f" (was {before or 'empty'})"))


@db_cli.command("downgrade")
def db_downgrade(
    revision: str = typer.Argument(..., help="Target revision; 'base' empties the database."),
) -> None:
    """Take the schema back to an earlier revision (data in dropped tables is lost)."""
    with _app(migrated=False) as app:
        migrate.downgrade(app.engine, revision)
        print(f"database at revision {migrate.current_revision(app.engine) or 'base (empty)'}")


def demo(as_json: bool = JsonOption) -> None:
    """Seed the demo business 'contoso' (idempotent; no bookings)."""
    from mailflow.demo import ADMIN_EMAIL, SLUG, ensure_admin_password, seed_demo

    with _app() as app:
        created = seed_demo(app.engine, _now())
        password = ensure_admin_password(app.engine)

    def human() -> str:
        lines = [f"demo business {SLUG} " + ("created" if created else "already present")]
        if password:
            lines.append(f"sign in at /admin as {ADMIN_EMAIL} with password: {password}")
            lines.append("(shown this once; `mailflow admin create-user --reset` sets a new one)")
        return "\n".join(lines)

    _emit({"business": SLUG, "created": created, "admin": ADMIN_EMAIL, "password": password}, as_json, human)


def run_once(
    now: str = typer.Option(None, "--now", help="The clock for this run (ISO 8601); default: the real time."),
    as_json: bool = JsonOption,
) -> None:
    """Run the reminder sweep, inbound processing and outbox dispatch once each, in that order."""
    from mailflow.runtime import run_once as run_jobs_once

    with _app() as app:
        clock = parse_when(now, "--now", "UTC").astimezone(UTC) if now else _now()
        report = run_jobs_once(app, clock).to_json()
    _emit(
        report,
        as_json,
        lambda: (
            f"reminders queued: {report['reminders_queued']}, sent: {report['sent']}, "
            f"to retry: {report['retried']}, failed: {report['failed']}"
        ),
    )
