"""``mailflow customers``: data protection (export, erase) and clearing a bounce flag."""

from __future__ import annotations

import typer

from mailflow.cli.common import STAFF_ACTOR, BusinessOption, JsonOption
from mailflow.cli.common import emit as _emit
from mailflow.cli.common import now as _now
from mailflow.cli.common import open_app as _app

customers_cli = typer.Typer(help="Data protection: what is held about a customer.", no_args_is_help=True)


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


@customers_cli.command("clear-bouncing")
def customers_clear_bouncing(
    address: str = typer.Argument(..., metavar="EMAIL", help="The customer's email address."),
    business: str | None = BusinessOption,
    as_json: bool = JsonOption,
) -> None:
    """Send to an address again after it bounced: its bounce flag is cleared."""
    from mailflow.services.bounces import clear_bouncing

    with _app() as app:
        view = clear_bouncing(app.engine, business, address, actor=STAFF_ACTOR, now=_now())
    _emit(view.to_json(), as_json, lambda: f"{view.email}: bouncing={str(view.bouncing).lower()}")
