"""``mailflow bookings``: create, show, list, cancel and reschedule bookings as staff (DESIGN §10)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from mailflow import services
from mailflow.booking.model import Origin
from mailflow.cli.common import STAFF_ACTOR, JsonOption, naming_option, parse_bound, parse_when
from mailflow.cli.common import emit as _emit
from mailflow.cli.common import now as _now
from mailflow.cli.common import open_app as _app
from mailflow.errors import InvalidInput, MailflowError
from mailflow.services.business import get_business

if TYPE_CHECKING:
    from sqlalchemy import Engine

bookings_cli = typer.Typer(help="Bookings, as staff.", no_args_is_help=True)


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
    lines += [f"  warning: {warning.text('en')}" for warning in view.warnings]
    return "\n".join(lines)


def _warn(view: services.BookingView, as_json: bool) -> None:
    """Warnings on stderr too with ``--json`` (stdout holds only the JSON, which has them)."""
    if as_json:
        for warning in view.warnings:
            sys.stderr.write(f"warning: {warning.text('en')}\n")


def _zone_for(engine: Engine, business: str | None) -> str:
    """The business's time zone; UTC when none is named and there is not exactly one."""
    try:
        return get_business(engine, business).timezone
    except MailflowError:
        if business is None:
            return "UTC"
        raise


@contextmanager
def _options_named() -> Iterator[None]:
    """A bad value's message names the option it came from (``--customer-name: …``)."""
    try:
        yield
    except InvalidInput as exc:
        raise naming_option(exc, {}) from None


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
    with _app() as app, _options_named():
        when = parse_when(start, "--start", _zone_for(app.engine, business))
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
            public_url=app.use_cases.public_url,
            **app.use_cases.booking_kwargs(),
        )
    _emit(view.to_json(), as_json, lambda: _describe(view))
    _warn(view, as_json)


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
        zone = _zone_for(app.engine, None)
        views = services.list_bookings(
            app.engine,
            start_from=parse_bound(start_from, "--from", zone),
            start_to=parse_bound(start_to, "--to", zone),
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
            **app.use_cases.booking_kwargs(),
        )
    _emit(view.to_json(), as_json, lambda: _describe(view))
    _warn(view, as_json)
