"""``mailflow staff calendar-feed`` and ``mailflow staff calendars``: staff calendars out and in
(DESIGN §10, "Integrations"; issue 19). The root registers them under ``mailflow staff``."""

from __future__ import annotations

import typer

from mailflow.cli.common import STAFF_ACTOR, BusinessOption, JsonOption, emit, now, setup_app
from mailflow.services.calendar_feed import new_feed_url

__all__ = ["calendar_feed"]

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

