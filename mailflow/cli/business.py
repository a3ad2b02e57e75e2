"""``mailflow business``: the business's profile (DESIGN §10, "Set-up")."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from mailflow.cli.common import (
    STAFF_ACTOR,
    JsonOption,
    emit,
    given_options,
    language_texts,
    now,
    setup_app,
    split_values,
)
from mailflow.services.business import create_business, get_business, update_business

if TYPE_CHECKING:
    from mailflow.services.business import BusinessView

business_cli = typer.Typer(help="The business's profile.", no_args_is_help=True)


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
    with setup_app(slug) as app:
        view = create_business(
            app.engine,
            slug=slug,
            name=name,
            timezone=timezone,
            locale=locale,
            languages=split_values([languages]),
            phone=phone,
            email=email,
            address=address,
            sender_name=sender_name,
            sender_email=sender_email,
            change_instructions=language_texts(change_instructions, locale, "change_instructions"),
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
    with setup_app(slug) as app:
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
    with setup_app(slug) as app:
        default = locale or get_business(app.engine, slug).default_locale
        changes = given_options(
            name=name,
            timezone=timezone,
            locale=locale,
            languages=split_values([languages]) if languages is not None else None,
            phone=phone,
            email=email,
            address=address,
            sender_name=sender_name,
            sender_email=sender_email,
            change_instructions=language_texts(change_instructions, default, "change_instructions"),
        )
        view = update_business(app.engine, slug, changes, actor=STAFF_ACTOR, now=now())
    emit(view.to_json(), as_json, lambda: _describe_business(view))
