"""``mailflow staff calendar-feed`` and ``mailflow staff calendars``: staff calendars out and in
(DESIGN §10, "Integrations"; issue 19). The root registers them under ``mailflow staff``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from mailflow.cli.common import STAFF_ACTOR, BusinessOption, JsonOption, emit, now, setup_app
from mailflow.services.calendar_feed import new_feed_url
from mailflow.services.staff_calendars import (
    add_calendar,
    list_calendars,
    remove_calendar,
    sync_calendar,
    sync_calendars,
)

if TYPE_CHECKING:
    from mailflow.services.staff_calendars import CalendarView

__all__ = ["calendar_feed", "calendars_cli"]

EmailArgument = typer.Argument(..., metavar="EMAIL", help="The staff member's email address.")


def calendar_feed(
    email: str = EmailArgument, business: str = BusinessOption, as_json: bool = JsonOption
) -> None:
    """A new private calendar feed URL for a staff member (an admin's covers the whole business);
    their previous URL stops working."""
    with setup_app(business, email="EMAIL") as app:
        url = new_feed_url(
            app.engine, business, email, public_url=app.settings.public_url, actor=STAFF_ACTOR, now=now()
        )
    emit({"url": url}, as_json, lambda: url)


calendars_cli = typer.Typer(help="A staff member's own calendars, read for busy times.", no_args_is_help=True)


def _describe(view: CalendarView) -> str:
    synced = view.last_success_at.isoformat() if view.last_success_at else "never"
    who = f" as {view.username}" if view.username else ""
    lines = [f"calendar {view.id}: {view.staff} {view.kind} {view.display_url}{who}"]
    lines.append(f"  last successful sync: {synced}, busy times: {view.busy_count}")
    if view.last_error:
        lines.append(f"  last error: {view.last_error}")
    return "\n".join(lines)


@calendars_cli.command("add")
def calendars_add(
    email: str = EmailArgument,
    url: str = typer.Argument(
        ..., metavar="URL", help="The secret iCal address, or a CalDAV calendar's URL."
    ),
    username: str = typer.Option(None, "--username", help="CalDAV user name (makes it a CalDAV calendar)."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the CalDAV password from stdin."
    ),
    kind: str = typer.Option(
        None, "--kind", help="ics or caldav (default: caldav with --username, else ics)."
    ),
    business: str = BusinessOption,
    as_json: bool = JsonOption,
) -> None:
    """Add one of a staff member's own calendars and sync it at once; its busy times block customer slots."""
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    with setup_app(business, email="EMAIL", url="URL") as app:
        sync = app.use_cases.calendars
        added = add_calendar(
            app.engine, business, email, url, username=username, password=password, kind=kind,
            sync=sync, actor=STAFF_ACTOR, now=now(),
        )  # fmt: skip
        view = sync_calendar(app.engine, added.id, sync=sync, now=now()) or added
    emit(view.to_json(), as_json, lambda: _describe(view))


@calendars_cli.command("list")
def calendars_list(
    email: str = EmailArgument, business: str = BusinessOption, as_json: bool = JsonOption
) -> None:
    """A staff member's calendars with their last sync and error."""
    with setup_app(business, email="EMAIL") as app:
        views = list_calendars(app.engine, business, email)
    emit(
        [view.to_json() for view in views],
        as_json,
        lambda: "\n".join(map(_describe, views)) or "no calendars",
    )


@calendars_cli.command("sync")
def calendars_sync(
    email: str = typer.Argument(None, metavar="[EMAIL]", help="Only this staff member's calendars."),
    business: str = BusinessOption,
    as_json: bool = JsonOption,
) -> None:
    """Fetch calendars now (every staff member's, or one's); a failure keeps the last busy times."""
    with setup_app(business, email="EMAIL") as app:
        views = sync_calendars(app.engine, business, email, sync=app.use_cases.calendars, now=now())
    emit(
        [view.to_json() for view in views],
        as_json,
        lambda: "\n".join(map(_describe, views)) or "no calendars",
    )


@calendars_cli.command("remove")
def calendars_remove(
    calendar_id: int = typer.Argument(..., metavar="ID", help="From `staff calendars list`."),
    business: str = BusinessOption,
    as_json: bool = JsonOption,
) -> None:
    """Remove a calendar and the busy times it gave."""
    with setup_app(business) as app:
        view = remove_calendar(app.engine, business, calendar_id, actor=STAFF_ACTOR, now=now())
    emit(view.to_json(), as_json, lambda: "removed " + _describe(view))
