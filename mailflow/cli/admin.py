"""``mailflow admin``: sign-in for staff and admins, and API keys (DESIGN §10)."""

from __future__ import annotations

import sys
from datetime import datetime

import typer

from mailflow.cli.common import STAFF_ACTOR, BusinessOption, JsonOption, setup_app
from mailflow.cli.common import emit as _emit
from mailflow.cli.common import now as _now
from mailflow.cli.common import open_app as _app

admin_cli = typer.Typer(help="Sign-in for staff and admins.", no_args_is_help=True)
api_key_cli = typer.Typer(help="Keys for the JSON API (/api/v1), one business each.", no_args_is_help=True)
admin_cli.add_typer(api_key_cli, name="api-key")


@admin_cli.command("create-user")
def admin_create_user(
    email: str = typer.Argument(..., help="The person's email address (their sign-in)."),
    business: str = BusinessOption,
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
    with setup_app(business, email="EMAIL") as app:
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
    data = {"email": user.email, "role": user.role, "business": user.business, "password": generated}

    def human() -> str:
        text = f"{data['email']} ({data['role']}) can sign in at /admin"
        return text + (f" with password: {generated}" if generated else "")

    _emit(data, as_json, human)


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
