"""``mailflow webhooks``: the endpoints that hear of the business's events (DESIGN §10, "Integrations")."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from mailflow.cli.common import STAFF_ACTOR, BusinessOption, JsonOption, emit, now, setup_app
from mailflow.services.webhooks import EVENTS, add_endpoint, list_endpoints, remove_endpoint

if TYPE_CHECKING:
    from mailflow.services.webhooks import EndpointView

webhooks_cli = typer.Typer(help="Webhook endpoints: signed events for other systems.", no_args_is_help=True)


def _describe(view: EndpointView) -> str:
    state = "enabled" if view.enabled else f"disabled ({view.disabled_reason or 'by hand'})"
    events = "all events" if list(view.events) == list(EVENTS) else ", ".join(view.events)
    return f"webhook {view.id}: {view.url}  [{events}]  {state}"


@webhooks_cli.command("add")
def webhooks_add(
    url: str = typer.Argument(..., metavar="URL", help="An http:// or https:// URL (private addresses too)."),
    events: str = typer.Option(
        None, "--events", metavar="E1,E2", help=f"Comma-separated, from: {', '.join(EVENTS)} (default: all)."
    ),
    business: str = BusinessOption,
    as_json: bool = JsonOption,
) -> None:
    """Add an endpoint; prints its id and signing secret (shown only this once)."""
    wanted = None if events is None else events.split(",")
    with setup_app(business, events="--events", url="URL") as app:
        view, secret = add_endpoint(
            app.engine, business, url=url, events=wanted, actor=STAFF_ACTOR, now=now()
        )
    emit(
        {"id": view.id, "secret": secret},
        as_json,
        lambda: f"added {_describe(view)}\nsigning secret (shown only now): {secret}",
    )


@webhooks_cli.command("list")
def webhooks_list(business: str = BusinessOption, as_json: bool = JsonOption) -> None:
    """Every endpoint, oldest first (never their secrets)."""
    with setup_app(business) as app:
        views = list_endpoints(app.engine, business)
    emit(
        [view.to_json() for view in views],
        as_json,
        lambda: "\n".join(map(_describe, views)) or "no webhooks",
    )


@webhooks_cli.command("remove")
def webhooks_remove(
    endpoint_id: int = typer.Argument(..., metavar="ID", help="From `webhooks list`."),
    business: str = BusinessOption,
    as_json: bool = JsonOption,
) -> None:
    """Remove an endpoint and its delivery log; what still waited is never sent."""
    with setup_app(business) as app:
        view = remove_endpoint(app.engine, business, endpoint_id, actor=STAFF_ACTOR, now=now())
    emit(view.to_json(), as_json, lambda: "removed " + _describe(view))
