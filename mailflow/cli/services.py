"""``mailflow services``: create, change, list and archive services (DESIGN §10, "Set-up")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from mailflow.cli.common import (
    STAFF_ACTOR,
    BusinessOption,
    JsonOption,
    emit,
    given_options,
    language_texts,
    minutes_of,
    now,
    setup_app,
    split_values,
)
from mailflow.services.business import get_business
from mailflow.services.catalog import (
    archive_service,
    create_service,
    get_service,
    list_services,
    update_service,
)
from mailflow.services.common import format_minutes, parse_minutes

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from mailflow.services.catalog import ServiceView

services_cli = typer.Typer(help="Services: create, change, archive.", no_args_is_help=True)


def _reminders(value: str | None) -> list[int] | None:
    """``"24h,1h"`` -> ``[1440, 60]``; ``""`` or ``none`` -> no reminders."""
    if value is None:
        return None
    if value.strip().lower() in ("", "none", "off"):
        return []
    return [parse_minutes(part, field="reminders") for part in value.split(",") if part.strip()]


def _describe_service(view: ServiceView) -> str:
    other_names = ", ".join(f"{lang}: {text}" for lang, text in view.names.items() if text != view.name)
    lines = [
        f"{view.slug}  {view.name}" + (f" ({other_names})" if other_names else "")
        + ("" if view.active else "  ARCHIVED"),
        f"  {view.duration_minutes} min,"
        f" buffers {view.buffer_before_minutes}/{view.buffer_after_minutes} min,"
        f" notice {format_minutes(view.min_notice_minutes)}, horizon {view.horizon_days} days,"
        f" change cut-off {format_minutes(view.change_cutoff_minutes)}",
        "  customers may manage staff bookings: " + ("yes" if view.customer_can_manage else "no")
        + "; reminders: "
        + (", ".join(map(format_minutes, view.reminder_offsets_minutes)) or "none"),
        "  staff: " + (", ".join(view.staff) or "nobody"),
    ]  # fmt: skip
    if view.location:
        lines.append(f"  location: {view.location}")
    lines += [f"  description ({lang}): {text}" for lang, text in view.descriptions.items()]
    lines += [f"  change instructions ({lang}): {text}" for lang, text in view.change_instructions.items()]
    return "\n".join(lines)


def _service_values(
    engine: Engine,
    business: str | None,
    *,
    names: list[str] | None,
    descriptions: list[str] | None,
    change_instructions: list[str] | None,
    duration: str | None,
    staff: list[str] | None,
    buffer_before: str | None,
    buffer_after: str | None,
    min_notice: str | None,
    horizon_days: int | None,
    change_cutoff: str | None,
    customer_can_manage: bool | None,
    reminders: str | None,
    location: str | None,
) -> dict[str, Any]:
    """The service layer's ``values`` for the options given."""
    default = get_business(engine, business).default_locale
    return given_options(
        names=language_texts(names, default, "names"),
        descriptions=language_texts(descriptions, default, "descriptions"),
        change_instructions=language_texts(change_instructions, default, "change_instructions"),
        duration=minutes_of(duration, "duration"),
        staff=split_values(staff),
        buffer_before=minutes_of(buffer_before, "buffer_before"),
        buffer_after=minutes_of(buffer_after, "buffer_after"),
        min_notice=minutes_of(min_notice, "min_notice"),
        horizon_days=horizon_days,
        change_cutoff=minutes_of(change_cutoff, "change_cutoff"),
        customer_can_manage=customer_can_manage,
        reminders=_reminders(reminders),
        location=location,
    )


NameOption = typer.Option(
    None, "--name", metavar="[LANG=]TEXT", help="The name; bare: default language; repeatable."
)
DescriptionOption = typer.Option(None, "--description", metavar="[LANG=]TEXT", help="Repeatable.")
InstructionsOption = typer.Option(
    None, "--change-instructions", metavar="[LANG=]TEXT", help="How to change a booking; repeatable."
)
DurationOption = typer.Option(None, "--duration", metavar="MIN", help="Minutes (or 1h, 90m).")
StaffOption = typer.Option(None, "--staff", metavar="EMAIL[,EMAIL…]", help="Who can be booked for it.")
BufferBeforeOption = typer.Option(None, "--buffer-before", metavar="MIN")
BufferAfterOption = typer.Option(None, "--buffer-after", metavar="MIN")
MinNoticeOption = typer.Option(None, "--min-notice", metavar="MIN", help="Customers book this far ahead.")
HorizonOption = typer.Option(None, "--horizon-days", metavar="N", help="Customers book this far out.")
CutoffOption = typer.Option(None, "--change-cutoff", metavar="MIN", help="No customer changes after.")
ManageOption = typer.Option(
    None,
    "--customer-can-manage/--no-customer-can-manage",
    help="Whether customers may change bookings staff made for them.",
)
RemindersOption = typer.Option(
    None, "--reminders", metavar="24h,1h", help="Before the start, in m, h or d; none for no reminders."
)
LocationOption = typer.Option(None, "--location")


@services_cli.command("create")
def services_create(
    slug: str = typer.Argument(..., help="Lower-case letters, digits, hyphens, e.g. haircut."),
    names: list[str] = NameOption,
    descriptions: list[str] = DescriptionOption,
    change_instructions: list[str] = InstructionsOption,
    duration: str = DurationOption,
    staff: list[str] = StaffOption,
    buffer_before: str = BufferBeforeOption,
    buffer_after: str = BufferAfterOption,
    min_notice: str = MinNoticeOption,
    horizon_days: int = HorizonOption,
    change_cutoff: str = CutoffOption,
    customer_can_manage: bool = ManageOption,
    reminders: str = RemindersOption,
    location: str = LocationOption,
    business: str = BusinessOption,
    as_json: bool = JsonOption,
) -> None:
    """Create a service (--name, --duration and --staff are required)."""
    with setup_app(business) as app:
        values = _service_values(
            app.engine, business, names=names, descriptions=descriptions,
            change_instructions=change_instructions,
            duration=duration, staff=staff, buffer_before=buffer_before, buffer_after=buffer_after,
            min_notice=min_notice, horizon_days=horizon_days, change_cutoff=change_cutoff,
            customer_can_manage=customer_can_manage, reminders=reminders, location=location,
        )  # fmt: skip
        view = create_service(app.engine, business, slug=slug, values=values, actor=STAFF_ACTOR, now=now())
    emit(view.to_json(), as_json, lambda: _describe_service(view))


@services_cli.command("update")
def services_update(
    slug: str = typer.Argument(..., help="The service."),
    names: list[str] = NameOption,
    descriptions: list[str] = DescriptionOption,
    change_instructions: list[str] = InstructionsOption,
    duration: str = DurationOption,
    staff: list[str] = StaffOption,
    buffer_before: str = BufferBeforeOption,
    buffer_after: str = BufferAfterOption,
    min_notice: str = MinNoticeOption,
    horizon_days: int = HorizonOption,
    change_cutoff: str = CutoffOption,
    customer_can_manage: bool = ManageOption,
    reminders: str = RemindersOption,
    location: str = LocationOption,
    business: str = BusinessOption,
    as_json: bool = JsonOption,
) -> None:
    """Change a service; options left out keep their values (a new duration applies to new
    bookings; new reminders re-plan those of upcoming bookings)."""
    with setup_app(business) as app:
        values = _service_values(
            app.engine, business, names=names, descriptions=descriptions,
            change_instructions=change_instructions,
            duration=duration, staff=staff, buffer_before=buffer_before, buffer_after=buffer_after,
            min_notice=min_notice, horizon_days=horizon_days, change_cutoff=change_cutoff,
            customer_can_manage=customer_can_manage, reminders=reminders, location=location,
        )  # fmt: skip
        view = update_service(app.engine, business, slug, values, actor=STAFF_ACTOR, now=now())
    emit(view.to_json(), as_json, lambda: _describe_service(view))


@services_cli.command("list")
def services_list(business: str = BusinessOption, as_json: bool = JsonOption) -> None:
    """Every service, archived ones included."""
    with setup_app(business) as app:
        views = list_services(app.engine, business)
    emit(
        [view.to_json() for view in views],
        as_json,
        lambda: "\n".join(map(_describe_service, views)) or "no services yet",
    )


@services_cli.command("show")
def services_show(slug: str, business: str = BusinessOption, as_json: bool = JsonOption) -> None:
    """Print one service."""
    with setup_app(business) as app:
        view = get_service(app.engine, business, slug)
    emit(view.to_json(), as_json, lambda: _describe_service(view))


@services_cli.command("archive")
def services_archive(slug: str, business: str = BusinessOption, as_json: bool = JsonOption) -> None:
    """Take a service off the booking pages; its bookings stay (it is never deleted)."""
    with setup_app(business) as app:
        view = archive_service(app.engine, business, slug, actor=STAFF_ACTOR, now=now())
    emit(view.to_json(), as_json, lambda: _describe_service(view))
