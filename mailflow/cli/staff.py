"""Set-up commands (DESIGN §10, "Set-up"): ``business``, ``services``, ``staff``, ``closures``.

Each command parses its options, calls one function of ``mailflow.services`` and prints
the object made or changed (``--json``: the service view's ``to_json()``, the API's JSON).
``--business`` may be left out while exactly one business exists.

Texts a customer reads come per language: a bare ``--name TEXT`` is in the business's
default language, ``--name de=TEXT`` in German. A value counts as ``LANG=TEXT`` when the part
before the first ``=`` is a 2-3 letter lower-case code; to give a text that itself looks like
that, put the language in front (``--name en=ab=cd``). ``LANG=`` (empty) removes a language
on ``update``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import typer

from mailflow.cli.common import STAFF_ACTOR, JsonOption, emit, now, open_app
from mailflow.errors import InvalidInput, NotFound
from mailflow.services.business import (
    create_business,
    get_business,
    list_businesses,
    update_business,
)
from mailflow.services.catalog import (
    archive_service,
    create_service,
    get_service,
    list_services,
    update_service,
)
from mailflow.services.closures import (
    add_closure,
    import_holidays,
    list_closures,
    remove_closure,
)
from mailflow.services.common import format_minutes, parse_minutes
from mailflow.services.staff import (
    DAYS,
    add_staff,
    add_time_off,
    deactivate_staff,
    list_staff,
    list_time_off,
    parse_periods,
    remove_time_off,
    set_hours,
    update_staff,
)

if TYPE_CHECKING:
    from mailflow.app import App
    from mailflow.services.bookings import BookingView
    from mailflow.services.business import BusinessView
    from mailflow.services.catalog import ServiceView
    from mailflow.services.closures import ClosureView
    from mailflow.services.staff import StaffView, TimeOffView

__all__ = ["business_cli", "closures_cli", "services_cli", "staff_cli"]

business_cli = typer.Typer(help="The business's profile.", no_args_is_help=True)
services_cli = typer.Typer(help="Services: create, change, archive.", no_args_is_help=True)
staff_cli = typer.Typer(help="Staff, weekly hours and time off.", no_args_is_help=True)
time_off_cli = typer.Typer(help="A staff member's time off.", no_args_is_help=True)
closures_cli = typer.Typer(help="Days the business is closed, public holidays.", no_args_is_help=True)
staff_cli.add_typer(time_off_cli, name="time-off")

BusinessOption = typer.Option(None, "--business", help="Business slug (optional when there is one).")
LANGUAGE_TEXT = re.compile(r"([a-z]{2,3})=(.*)", re.DOTALL)
# The options that differ from "--" + the service layer's field name.
OPTIONS = {
    "slug": "SLUG",
    "names": "--name",
    "descriptions": "--description",
    **{f"hours.{day}": f"--{day}" for day in DAYS},
}


# --- parsing and presenting -------------------------------------------------------------


@contextmanager
def _setup(business: str | None = None, **fields: str) -> Iterator[App]:
    """The app, with errors phrased for the command line: a bad value names its option
    (``fields`` maps a service field to an option where the defaults do not fit), and a
    ``--business`` left out while there is not exactly one business lists those there are."""
    with open_app() as app:
        try:
            yield app
        except InvalidInput as exc:
            raise _naming_option(exc, fields) from None
        except NotFound as exc:
            if business is None and exc.what == "business":
                slugs = [view.slug for view in list_businesses(app.engine)]
                exc.message = (
                    f"there are {len(slugs)} businesses ({', '.join(slugs)}): name one with --business"
                    if slugs
                    else "there is no business yet: create one with `mailflow business create`"
                )
            raise


def _naming_option(exc: InvalidInput, fields: dict[str, str]) -> InvalidInput:
    if exc.field is None:
        return exc
    option = fields.get(exc.field) or OPTIONS.get(exc.field) or "--" + exc.field.replace("_", "-")
    message = exc.message.removeprefix(f"{exc.field}: ")
    if message.startswith(option):
        return exc
    return InvalidInput(f"{option}: {message}", field=exc.field)


def _texts(values: list[str] | None, default: str, field: str) -> dict[str, str] | None:
    """``["Haircut", "de=Haarschnitt"]`` -> ``{"en": "Haircut", "de": "Haarschnitt"}`` (None
    when the option was not given)."""
    if not values:
        return None
    texts: dict[str, str] = {}
    for value in values:
        match = LANGUAGE_TEXT.fullmatch(value)
        language, text = (match.group(1), match.group(2)) if match else (default, value)
        if language in texts:
            raise InvalidInput(f"two texts in {language!r}", field=field)
        texts[language] = text
    return texts


def _split(values: list[str] | None) -> list[str] | None:
    """Repeated and comma-separated values as one list (None when not given)."""
    if values is None:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _minutes(value: str | None, field: str) -> int | None:
    return None if value is None else parse_minutes(value, field=field)


def _reminders(value: str | None) -> list[int] | None:
    """``"24h,1h"`` -> ``[1440, 60]``; ``""`` or ``none`` -> no reminders."""
    if value is None:
        return None
    if value.strip().lower() in ("", "none", "off"):
        return []
    return [parse_minutes(part, field="reminders") for part in value.split(",") if part.strip()]


def _when(value: str, option: str, *, end: bool = False) -> datetime:
    """An ISO 8601 date-time, naive when given without an offset (the service reads it in the
    staff member's zone); a date alone is that day's start, or with ``end`` its end."""
    text = value.strip()
    try:
        return _day_bound(date.fromisoformat(text), end)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{option}: {value!r} is not an ISO 8601 date-time such as 2026-12-24T09:00",
            field=option.removeprefix("--"),
        ) from None


def _day_bound(day: date, end: bool) -> datetime:
    return datetime.combine(day + timedelta(days=1) if end else day, time(0))


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(
            f"{option}: {value!r} is not a date such as 2026-12-24", field=option.removeprefix("--")
        ) from None


def _given(**values: Any) -> dict[str, Any]:
    """The options that were given (not None)."""
    return {name: value for name, value in values.items() if value is not None}


def _bookings_line(booking: BookingView) -> str:
    data = booking.to_json()
    return (
        f"  {data['ref']}  {data['start']}  {data['service']} with {data['staff']}"
        f"  for {data['customer']['name']} <{data['customer']['email']}>"
    )


def _affected(bookings: list[BookingView], where: str) -> list[str]:
    if not bookings:
        return [f"no confirmed bookings fall in {where}"]
    count = f"{len(bookings)} confirmed booking" + ("s fall" if len(bookings) > 1 else " falls")
    return [f"{count} in {where} (move or cancel them):", *map(_bookings_line, bookings)]


def _describe_business(view: BusinessView) -> str:
    others = [language for language in view.locales if language != view.default_locale]
    lines = [
        f"{view.slug}  {view.name}",
        f"  time zone: {view.timezone}; languages: {view.default_locale} (default)"
        + "".join(f", {language}" for language in others),
    ]
    lines += [f"  {label}: {value}" for label, value in (
        ("phone", view.phone), ("email", view.email), ("address", view.address),
    ) if value]  # fmt: skip
    if view.sender_name or view.sender_email:
        lines.append(f"  sender: {view.sender_name} <{view.sender_email or view.email}>")
    lines += [f"  change instructions ({lang}): {text}" for lang, text in view.change_instructions.items()]
    return "\n".join(lines)


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


def _describe_closure(view: ClosureView) -> str:
    days = view.start.isoformat() + ("" if view.end == view.start else f" - {view.end.isoformat()}")
    return f"closure {view.id}: {days}" + (f"  {view.label}" if view.label else "")


# --- business -----------------------------------------------------------------------------


@business_cli.command("create")
def business_create(
    slug: str = typer.Argument(..., help="Lower-case letters, digits, hyphens, e.g. city-salon."),
    name: str = typer.Option("", "--name", help="The business's name (required)."),
    timezone: str = typer.Option("", "--timezone", help="IANA time zone, e.g. Europe/Berlin (required)."),
    locale: str = typer.Option("en", "--locale", help="The default language."),
    languages: str = typer.Option("", "--languages", help="Languages offered, e.g. en,de."),
    phone: str = typer.Option("", "--phone"),
    email: str = typer.Option("", "--email"),
    address: str = typer.Option("", "--address"),
    sender_name: str = typer.Option("", "--sender-name", help="The From name of emails."),
    sender_email: str = typer.Option("", "--sender-email", help="The From address of emails."),
    change_instructions: list[str] = typer.Option(
        None, "--change-instructions", metavar="[LANG=]TEXT", help="How to change a booking; repeatable."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Create a business (then add staff, their hours and services)."""
    with _setup(slug) as app:
        view = create_business(
            app.engine,
            slug=slug,
            name=name,
            timezone=timezone,
            locale=locale,
            languages=_split([languages]),
            phone=phone,
            email=email,
            address=address,
            sender_name=sender_name,
            sender_email=sender_email,
            change_instructions=_texts(change_instructions, locale, "change_instructions"),
            actor=STAFF_ACTOR,
            now=now(),
        )
    emit(view.to_json(), as_json, lambda: _describe_business(view))


@business_cli.command("show")
def business_show(
    slug: str = typer.Argument(None, help="The business (optional when there is one)."),
    as_json: bool = JsonOption,
) -> None:
    """Print the business's profile."""
    with _setup(slug) as app:
        view = get_business(app.engine, slug)
    emit(view.to_json(), as_json, lambda: _describe_business(view))


@business_cli.command("update")
def business_update(
    slug: str = typer.Argument(None, help="The business (optional when there is one)."),
    name: str = typer.Option(None, "--name"),
    timezone: str = typer.Option(None, "--timezone", help="IANA time zone, e.g. Europe/Berlin."),
    locale: str = typer.Option(None, "--locale", help="The default language."),
    languages: str = typer.Option(None, "--languages", help="Languages offered, e.g. en,de."),
    phone: str = typer.Option(None, "--phone"),
    email: str = typer.Option(None, "--email"),
    address: str = typer.Option(None, "--address"),
    sender_name: str = typer.Option(None, "--sender-name"),
    sender_email: str = typer.Option(None, "--sender-email"),
    change_instructions: list[str] = typer.Option(
        None, "--change-instructions", metavar="[LANG=]TEXT", help="Repeatable; LANG= removes one."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Change the profile; options left out keep their values."""
    with _setup(slug) as app:
        default = locale or get_business(app.engine, slug).default_locale
        changes = _given(
            name=name,
            timezone=timezone,
            locale=locale,
            languages=_split([languages]) if languages is not None else None,
            phone=phone,
            email=email,
            address=address,
            sender_name=sender_name,
            sender_email=sender_email,
            change_instructions=_texts(change_instructions, default, "change_instructions"),
        )
        view = update_business(app.engine, slug, changes, actor=STAFF_ACTOR, now=now())
    emit(view.to_json(), as_json, lambda: _describe_business(view))


# --- services -----------------------------------------------------------------------------


def _service_values(
    app: App,
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
    default = get_business(app.engine, business).default_locale
    return _given(
        names=_texts(names, default, "names"),
        descriptions=_texts(descriptions, default, "descriptions"),
        change_instructions=_texts(change_instructions, default, "change_instructions"),
        duration=_minutes(duration, "duration"),
        staff=_split(staff),
        buffer_before=_minutes(buffer_before, "buffer_before"),
        buffer_after=_minutes(buffer_after, "buffer_after"),
        min_notice=_minutes(min_notice, "min_notice"),
        horizon_days=horizon_days,
        change_cutoff=_minutes(change_cutoff, "change_cutoff"),
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
    with _setup(business) as app:
        values = _service_values(
            app, business, names=names, descriptions=descriptions, change_instructions=change_instructions,
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
    with _setup(business) as app:
        values = _service_values(
            app, business, names=names, descriptions=descriptions, change_instructions=change_instructions,
            duration=duration, staff=staff, buffer_before=buffer_before, buffer_after=buffer_after,
            min_notice=min_notice, horizon_days=horizon_days, change_cutoff=change_cutoff,
            customer_can_manage=customer_can_manage, reminders=reminders, location=location,
        )  # fmt: skip
        view = update_service(app.engine, business, slug, values, actor=STAFF_ACTOR, now=now())
    emit(view.to_json(), as_json, lambda: _describe_service(view))


@services_cli.command("list")
def services_list(business: str = BusinessOption, as_json: bool = JsonOption) -> None:
    """Every service, archived ones included."""
    with _setup(business) as app:
        views = list_services(app.engine, business)
    emit(
        [view.to_json() for view in views],
        as_json,
        lambda: "\n".join(map(_describe_service, views)) or "no services yet",
    )


@services_cli.command("show")
def services_show(slug: str, business: str = BusinessOption, as_json: bool = JsonOption) -> None:
    """Print one service."""
    with _setup(business) as app:
        view = get_service(app.engine, business, slug)
    emit(view.to_json(), as_json, lambda: _describe_service(view))


@services_cli.command("archive")
def services_archive(slug: str, business: str = BusinessOption, as_json: bool = JsonOption) -> None:
    """Take a service off the booking pages; its bookings stay (it is never deleted)."""
    with _setup(business) as app:
        view = archive_service(app.engine, business, slug, actor=STAFF_ACTOR, now=now())
    emit(view.to_json(), as_json, lambda: _describe_service(view))


# --- staff --------------------------------------------------------------------------------

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
    with _setup(business, email="EMAIL") as app:
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
    changes = _given(name=name, role=role, locale=locale, timezone=timezone, active=True if active else None)
    with _setup(business, email="EMAIL") as app:
        view = update_staff(app.engine, business, email, changes, actor=STAFF_ACTOR, now=now())
    emit(view.to_json(), as_json, lambda: _describe_staff(view))


@staff_cli.command("list")
def staff_list(business: str = BusinessOption, as_json: bool = JsonOption) -> None:
    """Every staff member with their hours and services."""
    with _setup(business) as app:
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
    with _setup(business, email="EMAIL") as app:
        changed = deactivate_staff(app.engine, business, email, actor=STAFF_ACTOR, now=now())
    emit(
        changed.to_json(),
        as_json,
        lambda: "\n".join(
            [_describe_staff(changed.item), *_affected(changed.affected, "their upcoming work")]
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
    given = _given(mon=mon, tue=tue, wed=wed, thu=thu, fri=fri, sat=sat, sun=sun)
    with _setup(business, email="EMAIL") as app:
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
    with _setup(business, email="EMAIL") as app:
        changed = add_time_off(
            app.engine, business, email, start=_when(start, "--from"), end=_when(end, "--to", end=True),
            reason=reason, actor=STAFF_ACTOR, now=now(),
        )  # fmt: skip
    emit(
        changed.to_json(),
        as_json,
        lambda: "\n".join([_describe_time_off(changed.item), *_affected(changed.affected, "this time off")]),
    )


@time_off_cli.command("list")
def time_off_list(
    email: str = EmailArgument, business: str = BusinessOption, as_json: bool = JsonOption
) -> None:
    """A staff member's time off, by start."""
    with _setup(business, email="EMAIL") as app:
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
    with _setup(business) as app:
        view = remove_time_off(app.engine, business, time_off_id, actor=STAFF_ACTOR, now=now())
    emit(view.to_json(), as_json, lambda: "removed " + _describe_time_off(view))


# --- closures -----------------------------------------------------------------------------


def _describe_added(
    closures: list[ClosureView], skipped: list[ClosureView], affected: list[BookingView]
) -> str:
    lines = [f"added {_describe_closure(view)}" for view in closures] or ["no closures added"]
    lines += [f"skipped {view.start.isoformat()} {view.label} (already closed)" for view in skipped]
    return "\n".join([*lines, *_affected(affected, "the closed days")])


@closures_cli.command("add")
def closures_add(
    start: str = typer.Option(..., "--from", metavar="DATE", help="First closed day, e.g. 2026-12-24."),
    end: str = typer.Option(None, "--to", metavar="DATE", help="Last closed day (default: --from)."),
    label: str = typer.Option("", "--label", help="Shown to staff, e.g. Christmas."),
    business: str = BusinessOption,
    as_json: bool = JsonOption,
) -> None:
    """Close the business on whole days (its time zone); lists the confirmed bookings on them."""
    with _setup(business) as app:
        added = add_closure(
            app.engine, business, start=_day(start, "--from"), end=_day(end, "--to") if end else None,
            label=label,
            actor=STAFF_ACTOR, now=now(),
        )  # fmt: skip
    emit(added.to_json(), as_json, lambda: _describe_added(added.closures, added.skipped, added.affected))


@closures_cli.command("list")
def closures_list(business: str = BusinessOption, as_json: bool = JsonOption) -> None:
    """Every closure, by first day."""
    with _setup(business) as app:
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
    with _setup(business) as app:
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
    with _setup(business) as app:
        added = import_holidays(
            app.engine, business, country=country, subdivision=subdivision, year=year,
            actor=STAFF_ACTOR, now=now(),
        )  # fmt: skip
    emit(added.to_json(), as_json, lambda: _describe_added(added.closures, added.skipped, added.affected))
