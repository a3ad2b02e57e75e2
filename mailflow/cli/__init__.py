"""The ``mailflow`` command line (DESIGN §10).

Every command that prints data takes ``--json``; then stdout holds only JSON
and logs go to stderr. Errors are one line on stderr and a non-zero exit code,
never a traceback (set ``MAILFLOW_DEBUG=1`` to see one).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from zoneinfo import ZoneInfo

import typer
from sqlalchemy.exc import OperationalError

from mailflow import services
from mailflow.app import App, parse_roles
from mailflow.app import serve as serve_app
from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.cli.common import STAFF_ACTOR, JsonOption
from mailflow.cli.common import emit as _emit
from mailflow.cli.common import now as _now
from mailflow.cli.common import open_app as _app
from mailflow.cli.staff import business_cli, closures_cli, services_cli, staff_cli
from mailflow.errors import InvalidInput, MailflowError
from mailflow.logs import configure as configure_logs
from mailflow.store import migrate

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from mailflow.outbound.templates import TemplateSource

cli = typer.Typer(
    name="mailflow",
    help="Email-driven workflow service for appointment-booking businesses.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_cli = typer.Typer(help="Database schema.", no_args_is_help=True)
bookings_cli = typer.Typer(help="Bookings, as staff.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
templates_cli = typer.Typer(
    help="Email templates: list, export, import, validate, preview, versions.", no_args_is_help=True
)
cli.add_typer(bookings_cli, name="bookings")
cli.add_typer(templates_cli, name="templates")


def _describe(view: services.BookingView) -> str:
    data = view.to_json()
    lines = [
        f"{data['ref']}  {data['status']}  {data['service']} with {data['staff']}",
        f"  {data['start']} - {data['end']}",
        f"  customer: {data['customer']['name']} <{data['customer']['email']}>"
        f" ({data['customer']['locale']}, {data['customer']['timezone']})",
        f"  origin: {data['origin']}, sequence {data['sequence']}",
    ]
    if view.manage_url:
        lines.append(f"  manage: {view.manage_url}")
    return "\n".join(lines)


def parse_when(value: str, option: str, zone: str) -> datetime:
    """An ISO 8601 date-time; one without an offset is read in ``zone``."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(
            f"{option}: {value!r} is not an ISO 8601 date-time such as 2026-03-03T10:00:00+01:00"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=ZoneInfo(zone))


def _parse_bound(value: str | None, option: str, zone: str) -> datetime | None:
    if value is None:
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        return parse_when(value, option, zone)
    return datetime.combine(day, time(0), ZoneInfo(zone))


@cli.command()
def serve(
    demo: bool = typer.Option(False, "--demo", help="Migrate, seed the demo business and sample bookings."),
    roles: str = typer.Option(
        "web,worker,smtp,imap", "--roles", help="Comma-separated: web,worker,smtp,imap."
    ),
) -> None:
    """Run mailflow (web, workers, inbound mail) in one process."""
    chosen = parse_roles(roles)
    with _app(migrated=False) as app:
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


@cli.command()
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


def _zone_for(app: App, business: str | None) -> str:
    from mailflow.store import queries
    from mailflow.store.engine import read_session

    with read_session(app.engine) as session:
        if business is None:
            try:
                return queries.business_by_slug(session, None).timezone
            except MailflowError:
                return "UTC"
        return queries.business_by_slug(session, business).timezone


@bookings_cli.command("create")
def bookings_create(
    business: str = typer.Option(None, "--business", help="Business slug (optional when there is one)."),
    service_slug: str = typer.Option(..., "--service", help="Service slug."),
    staff: str = typer.Option(..., "--staff", help="Staff member's email."),
    customer_email: str = typer.Option(..., "--customer-email"),
    customer_name: str = typer.Option(..., "--customer-name"),
    locale: str = typer.Option(None, "--locale", help="Customer's language, e.g. de."),
    timezone: str = typer.Option(None, "--timezone", help="Customer's IANA time zone."),
    phone: str = typer.Option("", "--phone"),
    start: str = typer.Option(
        ..., "--start", help="ISO 8601; without an offset it is the business's local time."
    ),
    origin: Origin = typer.Option(Origin.STAFF, "--origin", case_sensitive=False),
    as_json: bool = JsonOption,
) -> None:
    """Create a booking and print it with its manage link."""
    with _app() as app:
        when = parse_when(start, "--start", _zone_for(app, business))
        view = services.create_booking(
            app.engine,
            business=business,
            service=service_slug,
            staff=staff,
            customer=services.CustomerInput(
                email=customer_email, name=customer_name, phone=phone, locale=locale, timezone=timezone
            ),
            start=when,
            origin=origin,
            actor=STAFF_ACTOR,
            now=_now(),
            public_url=app.settings.public_url,
            **app.booking_kwargs(),
        )
    _emit(view.to_json(), as_json, lambda: _describe(view))


@bookings_cli.command("show")
def bookings_show(ref: str, as_json: bool = JsonOption) -> None:
    """Print one booking."""
    with _app() as app:
        view = services.get_booking(app.engine, ref)
    _emit(view.to_json(), as_json, lambda: _describe(view))


@bookings_cli.command("list")
def bookings_list(
    start_from: str = typer.Option(None, "--from", help="Only bookings starting at or after (date or ISO)."),
    start_to: str = typer.Option(None, "--to", help="Only bookings starting before (date or ISO)."),
    as_json: bool = JsonOption,
) -> None:
    """Print every booking, cancelled ones included, by start time."""
    with _app() as app:
        zone = _zone_for(app, None)
        views = services.list_bookings(
            app.engine,
            start_from=_parse_bound(start_from, "--from", zone),
            start_to=_parse_bound(start_to, "--to", zone),
        )
    _emit(
        [view.to_json() for view in views],
        as_json,
        lambda: "\n".join(_describe(view) for view in views) or "no bookings",
    )


@bookings_cli.command("cancel")
def bookings_cancel(
    ref: str,
    reason: str = typer.Option(None, "--reason", help="Told to the customer."),
    as_json: bool = JsonOption,
) -> None:
    """Cancel a booking as staff."""
    with _app() as app:
        view = services.cancel_booking(
            app.engine, ref, reason=reason, actor=STAFF_ACTOR, now=_now(), notifier=app.notifier
        )
    _emit(view.to_json(), as_json, lambda: _describe(view))


@bookings_cli.command("reschedule")
def bookings_reschedule(
    ref: str,
    start: str = typer.Option(
        ..., "--start", help="ISO 8601; without an offset it is the business's local time."
    ),
    staff: str = typer.Option(None, "--staff", help="Move to this staff member (email)."),
    as_json: bool = JsonOption,
) -> None:
    """Move a booking as staff (staff are not held to the customer policy)."""
    with _app() as app:
        current = services.get_booking(app.engine, ref)
        view = services.reschedule_booking(
            app.engine,
            ref,
            start=parse_when(start, "--start", current.business_timezone),
            staff=staff,
            actor=STAFF_ACTOR,
            now=_now(),
            **app.booking_kwargs(),
        )
    _emit(view.to_json(), as_json, lambda: _describe(view))


@cli.command("run-once")
def run_once(
    now: str = typer.Option(None, "--now", help="The clock for this run (ISO 8601); default: the real time."),
    as_json: bool = JsonOption,
) -> None:
    """Run the reminder sweep, inbound processing and outbox dispatch once each, in that order."""
    from mailflow.app import run_once as run_jobs_once

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


inbound_cli = typer.Typer(help="Replies and other mail coming in.", no_args_is_help=True)
cli.add_typer(inbound_cli, name="inbound")


@inbound_cli.command("feed")
def inbound_feed(
    file: Path = typer.Argument(..., help="A raw message (.eml), or - for standard input."),
    rcpt: str = typer.Option("", "--rcpt", help="The envelope recipient, e.g. reply+KEY@domain."),
    sender: str = typer.Option("", "--from", help="The envelope sender (return path)."),
) -> None:
    """Take a message as if an MTA piped it: exit 0 once it is stored, whatever the verdict."""
    from mailflow.services.inbound import store_raw

    raw = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
    with _app() as app:
        row_id = store_raw(app.engine, raw, envelope_from=sender, envelope_rcpt=rcpt, now=_now())
    sys.stderr.write(f"stored as inbound message {row_id}\n")


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
            result = {"file": str(file), **inspect_message(app, raw, rcpt)}
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
        data: list[dict[str, Any]] = [
            {
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
            for view in list_inbound(app.engine, limit=limit)
        ]
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


def _last_verdicts(verdicts: list[dict[str, str]]) -> str:
    return "; ".join(f"{v['rule']}={v['verdict']}" for v in verdicts[-3:])


@inbound_cli.command("retry")
def inbound_retry(message_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Run the pipeline again for a message that ended with an error."""
    from mailflow.inbound.process import process_one
    from mailflow.services.inbound import retry_inbound

    with _app() as app:
        now = _now()
        retry_inbound(app.engine, message_id, STAFF_ACTOR, now, app.settings.claim_lease)
        outcome = process_one(app, message_id, now)
    print(
        f"inbound message {message_id}: "
        + "; ".join(v["rule"] + "=" + v["verdict"] for v in outcome.verdicts)
    )


outbox_cli = typer.Typer(help="The outgoing email queue.", no_args_is_help=True)
cli.add_typer(outbox_cli, name="outbox")


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


# --- templates -------------------------------------------------------------------

BusinessOption = typer.Option(None, "--business", help="Business slug (optional when there is one).")
LocaleOption = typer.Option(..., "--locale", help="Template language, e.g. de.")


@contextmanager
def _templates(business: str | None) -> Iterator[tuple[Engine, int]]:
    """The engine and the id of the business templates belong to."""
    from mailflow.services.templates import business_id_of

    with _app() as app:
        yield app.engine, business_id_of(app.engine, business)


def _all_keys() -> list[tuple[str, str]]:
    from mailflow.outbound.samples import KINDS
    from mailflow.outbound.templates import default_locales

    return [(kind, locale) for locale in default_locales() for kind in KINDS]


def _read_dir(directory: Path) -> list[TemplateSource]:
    from mailflow.outbound.templates import PART_SUFFIXES, TemplateSource, read_parts

    if not directory.is_dir():
        raise InvalidInput(f"{directory} is not a directory")
    sources = []
    for kind, locale in _all_keys():
        if (directory / locale / f"{kind}{PART_SUFFIXES['mjml']}").exists():
            subject, mjml, text = read_parts(directory / locale, kind)
            sources.append(TemplateSource(kind=kind, locale=locale, subject=subject, mjml=mjml, text=text))
    if not sources:
        raise InvalidInput(f"no templates in {directory}: expected DIR/<locale>/<kind>.mjml")
    return sources


@templates_cli.command("list")
def templates_list(business: str = BusinessOption, as_json: bool = JsonOption) -> None:
    """Every template kind and locale, and whether a saved version or the default is in force."""
    from mailflow.services.templates import list_templates

    with _templates(business) as (engine, business_id):
        rows = [
            {"kind": t.source.kind, "locale": t.source.locale, "source": t.source.origin,
             "versions": len(t.history)}
            for t in list_templates(engine, business_id)
        ]  # fmt: skip
    _emit(
        rows,
        as_json,
        lambda: "\n".join(
            f"{r['kind']:<22} {r['locale']:<4} {r['source']:<11} {r['versions']} saved" for r in rows
        ),
    )


@templates_cli.command("export")
def templates_export(directory: Path, business: str = BusinessOption, as_json: bool = JsonOption) -> None:
    """Write the templates in force to DIR/<locale>/<kind>.subject.txt, .mjml, .txt."""
    from mailflow.outbound.templates import write_parts
    from mailflow.services.templates import list_templates

    with _templates(business) as (engine, business_id):
        sources = [t.source for t in list_templates(engine, business_id)]
    for source in sources:
        write_parts(directory, source)
    _emit(
        {"directory": str(directory), "templates": len(sources)},
        as_json,
        lambda: f"exported {len(sources)} templates to {directory}",
    )


@templates_cli.command("validate")
def templates_validate(
    directory: Path = typer.Argument(None, help="Check these files instead of the templates in force."),
    business: str = BusinessOption,
    as_json: bool = JsonOption,
) -> None:
    """Check templates (in force, or the files in DIR); exit 1 when any has a problem."""
    from mailflow.outbound import template_store
    from mailflow.services.templates import list_templates

    if directory is not None:
        sources = _read_dir(directory)
    else:
        with _templates(business) as (engine, business_id):
            sources = [t.source for t in list_templates(engine, business_id)]
    report = [
        {
            "kind": s.kind,
            "locale": s.locale,
            "part": p.part,
            "line": p.line,
            "message": p.message,
            "text": str(p),
        }
        for s in sources
        for p in template_store.validate(s)
    ]
    summary = f"{len(sources)} templates checked, {len(report)} problems"
    _emit(
        {"checked": len(sources), "problems": report},
        as_json,
        lambda: "\n".join([f"{r['kind']}/{r['locale']} {r['text']}" for r in report] + [summary]),
    )
    if report:
        raise typer.Exit(1)


@templates_cli.command("import")
def templates_import(
    directory: Path,
    business: str = BusinessOption,
    author: str = typer.Option("cli", "--author", help="Recorded with each new version."),
    as_json: bool = JsonOption,
) -> None:
    """Save the templates in DIR as new versions; all are validated first, none saved if one fails."""
    from mailflow.outbound import template_store

    sources = _read_dir(directory)
    problems = [f"{s.kind}/{s.locale} {p}" for s in sources for p in template_store.validate(s)]
    if problems:
        raise InvalidInput(f"nothing imported, {len(problems)} problem(s): " + "; ".join(problems))
    from mailflow.services.templates import import_templates

    with _templates(business) as (engine, business_id):
        new = import_templates(engine, business_id, sources, actor=Actor(ActorKind.STAFF, author), now=_now())
    saved = [{"kind": s.kind, "locale": s.locale, "version": s.version} for s in new]
    _emit(
        {"saved": saved, "unchanged": len(sources) - len(saved)},
        as_json,
        lambda: (
            "\n".join([f"{s['kind']}/{s['locale']}: saved as version {s['version']}" for s in saved])
            + f"\n{len(saved)} saved, {len(sources) - len(saved)} unchanged"
        ),
    )


@templates_cli.command("preview")
def templates_preview(
    kind: str,
    locale: str = LocaleOption,
    variant: str = typer.Option("manage", "--variant", help="manage or no-manage"),
    out: Path = typer.Option(None, "--out", help="Write the HTML here instead of stdout."),
    business: str = BusinessOption,
    as_json: bool = JsonOption,
) -> None:
    """Render a template in force with sample data, with or without the Manage button."""
    from mailflow.outbound.render import Renderer
    from mailflow.outbound.samples import sample_context
    from mailflow.services.templates import current_template

    if variant not in ("manage", "no-manage"):
        raise InvalidInput(f"--variant must be manage or no-manage, not {variant!r}")
    with _templates(business) as (engine, business_id):
        source = current_template(engine, business_id, kind, locale).source
    email = Renderer().render(source, sample_context(kind, variant, locale))
    if out is not None:
        out.write_text(email.html, encoding="utf-8")
    if as_json:
        _emit(
            {"subject": email.subject, "html": email.html, "text": email.text, "source": source.origin},
            True,
            str,
        )
    elif out is not None:
        print(f"{email.subject}\n(HTML written to {out})")
    else:
        print(email.html)


@templates_cli.command("history")
def templates_history(
    kind: str, locale: str = LocaleOption, business: str = BusinessOption, as_json: bool = JsonOption
) -> None:
    """The saved versions of one template, oldest first."""
    from mailflow.services.templates import template_history

    with _templates(business) as (engine, business_id):
        versions = template_history(engine, business_id, kind, locale)
    rows = [
        {"version": v.version, "created_at": v.created_at.isoformat(), "created_by": v.created_by,
         "current": v.current, "subject": v.subject}
        for v in versions
    ]  # fmt: skip
    _emit(
        rows,
        as_json,
        lambda: (
            "\n".join(
                f"{'*' if r['current'] else ' '} v{r['version']}  {r['created_at']}  "
                f"{r['created_by']}  {r['subject']}"
                for r in rows
            )
            or "no saved versions: the default is in force"
        ),
    )


@templates_cli.command("rollback")
def templates_rollback(
    kind: str,
    locale: str = LocaleOption,
    version: int = typer.Option(..., "--version", help="The saved version to put in force."),
    business: str = BusinessOption,
) -> None:
    """Put an earlier saved version in force again."""
    from mailflow.services.templates import rollback_template

    with _templates(business) as (engine, business_id):
        rollback_template(engine, business_id, kind, locale, version, actor=STAFF_ACTOR, now=_now())
    print(f"{kind}/{locale}: version {version} in force")


@templates_cli.command("reset")
def templates_reset(kind: str, locale: str = LocaleOption, business: str = BusinessOption) -> None:
    """Put the shipped default in force again (saved versions are kept)."""
    from mailflow.services.templates import reset_template

    with _templates(business) as (engine, business_id):
        reset_template(engine, business_id, kind, locale, actor=STAFF_ACTOR, now=_now())
    print(f"{kind}/{locale}: default in force")


customers_cli = typer.Typer(help="Data protection: what is held about a customer.", no_args_is_help=True)
cli.add_typer(customers_cli, name="customers")


@customers_cli.command("export")
def customers_export(
    address: str = typer.Argument(..., metavar="EMAIL", help="The customer's email address."),
    business: str | None = typer.Option(None, "--business", help="Only this business (slug)."),
    as_json: bool = JsonOption,
) -> None:
    """Everything held about a customer, as JSON: details, bookings, emails, replies, history."""
    from mailflow.services.customers import export_customer

    with _app() as app:
        data = export_customer(app.engine, address, business)
    # The export is data for the person asking: JSON either way.
    _emit(data, True, lambda: "")


@customers_cli.command("erase")
def customers_erase(
    address: str = typer.Argument(..., metavar="EMAIL", help="The customer's email address."),
    business: str | None = typer.Option(None, "--business", help="Only this business (slug)."),
    as_json: bool = JsonOption,
) -> None:
    """Remove or anonymise a customer's personal data everywhere, keeping counts for reports."""
    from mailflow.services.customers import erase_customer

    with _app() as app:
        summary = erase_customer(app.engine, address, _now(), business)
    _emit(
        summary,
        as_json,
        lambda: (
            f"erased {summary['customers']} customer record(s): {summary['bookings']} booking(s), "
            f"{summary['emails']} email(s), {summary['replies']} repl(ies), "
            f"{summary['manage_links']} manage link(s) revoked"
        ),
    )


admin_cli = typer.Typer(help="Sign-in for staff and admins.", no_args_is_help=True)
cli.add_typer(admin_cli, name="admin")


@admin_cli.command("create-user")
def admin_create_user(
    email: str = typer.Argument(..., help="The person's email address (their sign-in)."),
    business: str = typer.Option("contoso", "--business", help="Business slug."),
    role: str = typer.Option("staff", "--role", help="admin (everything) or staff (own bookings)."),
    name: str = typer.Option("", "--name", help="Display name for a new staff member."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of standard input."
    ),
    reset: bool = typer.Option(False, "--reset", help="Replace the password of someone who can sign in."),
    as_json: bool = JsonOption,
) -> None:
    """Let EMAIL sign in at /admin (existing staff, or a new member); prints a generated password once."""
    from mailflow.services.accounts import create_user

    given = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    with _app() as app:
        user = create_user(
            app.engine,
            business,
            email,
            role=role,
            name=name,
            password=given,
            reset=reset,
            actor=STAFF_ACTOR,
            now=_now(),
        )
    generated = user.password
    data = {"email": user.email, "role": user.role, "business": business, "password": generated}

    def human() -> str:
        text = f"{data['email']} ({data['role']}) can sign in at /admin"
        return text + (f" with password: {generated}" if generated else "")

    _emit(data, as_json, human)


api_key_cli = typer.Typer(help="Keys for the JSON API (/api/v1), one business each.", no_args_is_help=True)
admin_cli.add_typer(api_key_cli, name="api-key")


@api_key_cli.command("create")
def api_key_create(
    business: str = typer.Option(..., "--business", help="Business slug."),
    label: str = typer.Option("", "--label", help="What the key is for, shown in lists."),
    as_json: bool = JsonOption,
) -> None:
    """Create an API key and print it once as {"key": ...}: only its hash is stored."""
    from mailflow.services.api_keys import create_api_key

    with _app() as app:
        row, key = create_api_key(app.engine, business, label=label, actor=STAFF_ACTOR, now=_now())
    data = {"key": key, "id": row.id, "prefix": row.prefix, "business": business, "label": row.label}
    # The key is the output in both modes (scripts read it); the reminder goes to stderr.
    _emit(data, True, str)
    if not as_json:
        sys.stderr.write("store this key now: it is shown only once\n")


@api_key_cli.command("list")
def api_key_list(
    business: str = typer.Option(..., "--business", help="Business slug."), as_json: bool = JsonOption
) -> None:
    """The business's API keys (prefix, label, last use, revoked), never the keys themselves."""
    from mailflow.services.api_keys import list_api_keys

    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    with _app() as app:
        rows = [
            {"id": k.id, "prefix": k.prefix, "label": k.label, "created_at": when(k.created_at),
             "created_by": k.created_by, "last_used_at": when(k.last_used_at),
             "revoked_at": when(k.revoked_at)}
            for k in list_api_keys(app.engine, business)
        ]  # fmt: skip
    _emit(
        rows,
        as_json,
        lambda: (
            "\n".join(
                f"{r['id']:>4} {r['prefix']}…  {r['label'] or '-':<20} "
                f"last used {r['last_used_at'] or 'never'}" + ("  REVOKED" if r["revoked_at"] else "")
                for r in rows
            )
            or "no API keys"
        ),
    )


@api_key_cli.command("revoke")
def api_key_revoke(
    key: str = typer.Argument(..., metavar="ID_OR_PREFIX", help="The key's id or prefix (from list)."),
    business: str = typer.Option(..., "--business", help="Business slug."),
    as_json: bool = JsonOption,
) -> None:
    """Revoke an API key: requests with it get 401 from now on."""
    from mailflow.services.api_keys import revoke_api_key

    with _app() as app:
        row = revoke_api_key(app.engine, business, key, actor=STAFF_ACTOR, now=_now())
    data = {
        "id": row.id,
        "prefix": row.prefix,
        "revoked_at": row.revoked_at and row.revoked_at.isoformat(),
    }
    _emit(data, as_json, lambda: f"API key {data['prefix']}… revoked")


def _fail(message: str, code: int) -> NoReturn:
    sys.stderr.write(f"mailflow: error: {message}\n")
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``mailflow`` console script."""
    try:
        configure_logs(
            os.environ.get("MAILFLOW_LOG_LEVEL", "INFO"),
            os.environ.get("MAILFLOW_LOG_FORMAT", "text").lower(),
        )
    except ValueError as exc:
        _fail(str(exc), 78)
    try:
        # Standalone mode: usage errors (a wrong flag) print usage and exit 2 there.
        cli(args=argv, prog_name="mailflow")
    except MailflowError as exc:
        _fail(exc.message, exc.exit_code)
    except OperationalError as exc:
        detail = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        _fail(f"cannot use the database (MAILFLOW_DATABASE_URL): {detail}", 69)
    except Exception as exc:
        if os.environ.get("MAILFLOW_DEBUG"):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        _fail(f"{type(exc).__name__}: {first} (set MAILFLOW_DEBUG=1 for details)", 70)


# --- set-up (business, services, staff, closures): mailflow/cli/staff.py ----------------------
cli.add_typer(business_cli, name="business")
cli.add_typer(services_cli, name="services")
cli.add_typer(staff_cli, name="staff")
cli.add_typer(closures_cli, name="closures")
