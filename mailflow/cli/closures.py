"""``mailflow closures``: days the business is closed, public holidays (DESIGN §10, "Set-up")."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from mailflow.cli.common import (
    STAFF_ACTOR,
    BusinessOption,
    JsonOption,
    affected_lines,
    emit,
    now,
    parse_day,
    setup_app,
)
from mailflow.services.closures import add_closure, import_holidays, list_closures, remove_closure

if TYPE_CHECKING:
    from mailflow.services.bookings import BookingView
    from mailflow.services.closures import ClosureView

closures_cli = typer.Typer(help="Days the business is closed, public holidays.", no_args_is_help=True)


def _describe_closure(view: ClosureView) -> str:
    days = view.start.isoformat() + ("" if view.end == view.start else f" - {view.end.isoformat()}")
    return f"closure {view.id}: {days}" + (f"  {view.label}" if view.label else "")


def _describe_added(
    closures: list[ClosureView], skipped: list[ClosureView], affected: list[BookingView]
) -> str:
    lines = [f"added {_describe_closure(view)}" for view in closures] or ["no closures added"]
    lines += [f"skipped {view.start.isoformat()} {view.label} (already closed)" for view in skipped]
    return "\n".join([*lines, *affected_lines(affected, "the closed days")])


@closures_cli.command("add")
def closures_add(
    start: str = typer.Option(..., "--from", metavar="DATE", help="First closed day, e.g. 2026-12-24."),
    end: str = typer.Option(None, "--to", metavar="DATE", help="Last closed day (default: --from)."),
    label: str = typer.Option("", "--label", help="Shown to staff, e.g. Christmas."),
    business: str = BusinessOption,
    as_json: bool = JsonOption,
) -> None:
    """Close the business on whole days (its time zone); lists the confirmed bookings on them."""
    with setup_app(business) as app:
        added = add_closure(
            app.engine, business, start=parse_day(start, "--from"),
            end=parse_day(end, "--to") if end else None, label=label,
            actor=STAFF_ACTOR, now=now(),
        )  # fmt: skip
    emit(added.to_json(), as_json, lambda: _describe_added(added.closures, added.skipped, added.affected))


@closures_cli.command("list")
def closures_list(business: str = BusinessOption, as_json: bool = JsonOption) -> None:
    """Every closure, by first day."""
    with setup_app(business) as app:
        views = list_closures(app.engine, business)
    emit(
        [view.to_json() for view in views],
        as_json,
        lambda: "\n".join(map(_describe_closure, views)) or "no closures",
    )


@closures_cli.command("remove")
def closures_remove(
    closure_id: int = typer.Argument(..., metavar="ID", help="From `closures list`."),
    business: str = BusinessOption,
    as_json: bool = JsonOption,
) -> None:
    """Open the business again on a closure's days."""
    with setup_app(business) as app:
        view = remove_closure(app.engine, business, closure_id, actor=STAFF_ACTOR, now=now())
    emit(view.to_json(), as_json, lambda: "removed " + _describe_closure(view))


@closures_cli.command("import-holidays")
def closures_import_holidays(
    country: str = typer.Option(..., "--country", metavar="CC", help="ISO country code, e.g. DE."),
    subdivision: str = typer.Option(None, "--subdivision", metavar="SUB", help="Region, e.g. BY."),
    year: int = typer.Option(..., "--year", metavar="YYYY"),
    business: str = BusinessOption,
    as_json: bool = JsonOption,
) -> None:
    """Close the business on a year's public holidays (days already closed are skipped)."""
    with setup_app(business) as app:
        added = import_holidays(
            app.engine, business, country=country, subdivision=subdivision, year=year,
            actor=STAFF_ACTOR, now=now(),
        )  # fmt: skip
    emit(added.to_json(), as_json, lambda: _describe_added(added.closures, added.skipped, added.affected))
