"""``mailflow staff``: staff members, their weekly hours and time off (DESIGN §10, "Set-up")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from mailflow.cli.common import (
    STAFF_ACTOR,
    BusinessOption,
    JsonOption,
    affected_lines,
    emit,
    given_options,
    now,
    parse_moment,
    setup_app,
)
from mailflow.services.staff import (
    DAYS,
    add_staff,
    deactivate_staff,
    list_staff,
    parse_periods,
    set_hours,
    update_staff,
)
from mailflow.services.time_off import add_time_off, list_time_off, remove_time_off

if TYPE_CHECKING:
    from mailflow.services.staff import StaffView
    from mailflow.services.time_off import TimeOffView

staff_cli = typer.Typer(help="Staff, weekly hours and time off.", no_args_is_help=True)
time_off_cli = typer.Typer(help="A staff member's time off.", no_args_is_help=True)
staff_cli.add_typer(time_off_cli, name="time-off")


def _describe_staff(view: StaffView) -> str:
    state = "active" if view.active else "deactivated"
    lines = [f"{view.email}  {view.name}  ({view.role}, {view.locale}, {view.timezone}, {state})"]
    for day in DAYS:
        periods = view.hours.get(day)
        if periods:
            lines.append(f"  {day} " + ", ".join(f"{start}-{end}" for start, end in periods))
    if not view.hours:
        lines.append("  no working hours: nobody can book them yet (`mailflow staff hours`)")
    lines.append("  services: " + (", ".join(view.services) or "none"))
    return "\n".join(lines)


def _describe_time_off(view: TimeOffView) -> str:
    data = view.to_json()
    reason = f"  ({view.reason})" if view.reason else ""
    return f"time off {view.id}: {view.staff} {data['start']} - {data['end']}{reason}"


EmailArgument = typer.Argument(..., metavar="EMAIL", help="The staff member's email address.")


@staff_cli.command("add")
def staff_add(
    email: str = EmailArgument,
    name: str = typer.Option("", "--name", help="Their name, as customers see it."),
    role: str = typer.Option("staff", "--role", help="staff or admin."),
    locale: str = typer.Option(None, "--locale", help="Their language (default: the business's)."),
    timezone: str = typer.Option(None, "--timezone", help="Their zone (default: the business's)."),
    business: str = BusinessOption,
    as_json: bool = JsonOption,
) -> None:
    """Add a staff member (then give them hours with `mailflow staff hours`)."""
    with setup_app(business, email="EMAIL") as app:
        view = add_staff(
            app.engine, business, email=email, name=name, role=role, locale=locale, timezone=timezone,
            actor=STAFF_ACTOR, now=now(),
        )  # fmt: skip
    emit(view.to_json(), as_json, lambda: _describe_staff(view))


@staff_cli.command("update")
def staff_update(
    email: str = EmailArgument,
    name: str = typer.Option(None, "--name"),
    role: str = typer.Option(None, "--role", help="staff or admin."),
    locale: str = typer.Option(None, "--locale"),
    timezone: str = typer.Option(None, "--timezone"),
    active: bool = typer.Option(False, "--active", help="Take a deactivated member back."),
    business: str = BusinessOption,
    as_json: bool = JsonOption,
) -> None:
    """Change a staff member; options left out keep their values."""
    changes = given_options(
        name=name, role=role, locale=locale, timezone=timezone, active=True if active else None
    )
    with setup_app(business, email="EMAIL") as app:
        view = update_staff(app.engine, business, email, changes, actor=STAFF_ACTOR, now=now())
    emit(view.to_json(), as_json, lambda: _describe_staff(view))


@staff_cli.command("list")
def staff_list(business: str = BusinessOption, as_json: bool = JsonOption) -> None:
    """Every staff member with their hours and services."""
    with setup_app(business) as app:
        views = list_staff(app.engine, business)
    emit(
        [view.to_json() for view in views],
        as_json,
        lambda: "\n".join(map(_describe_staff, views)) or "no staff yet",
    )


@staff_cli.command("deactivate")
def staff_deactivate(
    email: str = EmailArgument, business: str = BusinessOption, as_json: bool = JsonOption
) -> None:
    """Take a staff member off the booking pages and out of sign-in; lists their upcoming bookings."""
    with setup_app(business, email="EMAIL") as app:
        changed = deactivate_staff(app.engine, business, email, actor=STAFF_ACTOR, now=now())
    emit(
        changed.to_json(),
        as_json,
        lambda: "\n".join(
            [_describe_staff(changed.item), *affected_lines(changed.affected, "their upcoming work")]
        ),
    )


def _day_option(day: str) -> Any:
    return typer.Option(None, f"--{day}", metavar="09:00-12:00,13:00-17:00|off")


@staff_cli.command("hours")
def staff_hours(
    email: str = EmailArgument,
    mon: str = _day_option("mon"),
    tue: str = _day_option("tue"),
    wed: str = _day_option("wed"),
    thu: str = _day_option("thu"),
    fri: str = _day_option("fri"),
    sat: str = _day_option("sat"),
    sun: str = _day_option("sun"),
    business: str = BusinessOption,
    as_json: bool = JsonOption,
) -> None:
    """Set weekly working hours in their time zone; days not named keep theirs, off clears one."""
    given = given_options(mon=mon, tue=tue, wed=wed, thu=thu, fri=fri, sat=sat, sun=sun)
    with setup_app(business, email="EMAIL") as app:
        hours = {day: parse_periods(text, f"hours.{day}") for day, text in given.items()}
        view = set_hours(app.engine, business, email, hours, actor=STAFF_ACTOR, now=now())
    emit(view.to_json(), as_json, lambda: _describe_staff(view))


@time_off_cli.command("add")
def time_off_add(
    email: str = EmailArgument,
    start: str = typer.Option(
        ..., "--from", metavar="ISO", help="Without an offset: their local time; a date: its start."
    ),
    end: str = typer.Option(..., "--to", metavar="ISO", help="Exclusive; a date alone: the end of that day."),
    reason: str = typer.Option("", "--reason"),
    business: str = BusinessOption,
    as_json: bool = JsonOption,
) -> None:
    """Block a staff member's time; lists the confirmed bookings inside it."""
    with setup_app(business, email="EMAIL") as app:
        changed = add_time_off(
            app.engine, business, email, start=parse_moment(start, "--from"),
            end=parse_moment(end, "--to", end=True),
            reason=reason, actor=STAFF_ACTOR, now=now(),
        )  # fmt: skip
    emit(
        changed.to_json(),
        as_json,
        lambda: "\n".join(
            [_describe_time_off(changed.item), *affected_lines(changed.affected, "this time off")]
        ),
    )


@time_off_cli.command("list")
def time_off_list(
    email: str = EmailArgument, business: str = BusinessOption, as_json: bool = JsonOption
) -> None:
    """A staff member's time off, by start."""
    with setup_app(business, email="EMAIL") as app:
        views = list_time_off(app.engine, business, email)
    emit(
        [view.to_json() for view in views],
        as_json,
        lambda: "\n".join(map(_describe_time_off, views)) or "no time off",
    )


@time_off_cli.command("remove")
def time_off_remove(
    time_off_id: int = typer.Argument(..., metavar="ID", help="From `staff time-off list`."),
    business: str = BusinessOption,
    as_json: bool = JsonOption,
) -> None:
    """Remove one period of time off."""
    with setup_app(business) as app:
        view = remove_time_off(app.engine, business, time_off_id, actor=STAFF_ACTOR, now=now())
    emit(view.to_json(), as_json, lambda: "removed " + _describe_time_off(view))
