"""``mailflow templates``: the email templates — list, export, import, validate, preview, versions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mailflow.booking.model import Actor, ActorKind
from mailflow.cli.common import STAFF_ACTOR, BusinessOption, JsonOption
from mailflow.cli.common import emit as _emit
from mailflow.cli.common import now as _now
from mailflow.cli.common import open_app as _app
from mailflow.errors import InvalidInput

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from mailflow.outbound.templates import TemplateSource
    from mailflow.services.templates import CurrentTemplate

templates_cli = typer.Typer(
    help="Email templates: list, export, import, validate, preview, versions.", no_args_is_help=True
)
LocaleOption = typer.Option(..., "--locale", help="Template language, e.g. de.")


@contextmanager
def _templates(business: str | None) -> Iterator[tuple[Engine, int]]:
    """The engine and the id of the business templates belong to."""
    from mailflow.services.templates import business_id_of

    with _app() as app:
        yield app.engine, business_id_of(app.engine, business)


def _all_keys() -> list[tuple[str, str]]:
    from mailflow.outbound.samples import KINDS
    from mailflow.outbound.templates import default_locales

    return [(kind, locale) for locale in default_locales() for kind in KINDS]


def _read_dir(directory: Path) -> list[TemplateSource]:
    from mailflow.outbound.templates import PART_SUFFIXES, TemplateSource, read_parts

    if not directory.is_dir():
        raise InvalidInput(f"{directory} is not a directory")
    sources = []
    for kind, locale in _all_keys():
        if (directory / locale / f"{kind}{PART_SUFFIXES['mjml']}").exists():
            subject, mjml, text = read_parts(directory / locale, kind)
            sources.append(TemplateSource(kind=kind, locale=locale, subject=subject, mjml=mjml, text=text))
    if not sources:
        raise InvalidInput(f"no templates in {directory}: expected DIR/<locale>/<kind>.mjml")
    return sources


def _state(current: CurrentTemplate) -> dict[str, Any]:
    """What is in force for one template: ``source`` ("default" or "version N"), ``version``
    (null for the default) and how many ``versions`` are saved."""
    source = current.source
    return {
        "kind": source.kind,
        "locale": source.locale,
        "source": source.origin,
        "version": source.version,
        "versions": len(current.history),
    }


@templates_cli.command("list")
def templates_list(business: str = BusinessOption, as_json: bool = JsonOption) -> None:
    """Every template kind and locale, and whether a saved version or the default is in force."""
    from mailflow.services.templates import list_templates

    with _templates(business) as (engine, business_id):
        rows = [_state(current) for current in list_templates(engine, business_id)]
    _emit(
        rows,
        as_json,
        lambda: "\n".join(
            f"{r['kind']:<22} {r['locale']:<4} {r['source']:<11} {r['versions']} saved" for r in rows
        ),
    )


@templates_cli.command("export")
def templates_export(directory: Path, business: str = BusinessOption, as_json: bool = JsonOption) -> None:
    """Write the templates in force to DIR/<locale>/<kind>.subject.txt, .mjml, .txt."""
    from mailflow.outbound.templates import write_parts
    from mailflow.services.templates import list_templates

    with _templates(business) as (engine, business_id):
        sources = [t.source for t in list_templates(engine, business_id)]
    for source in sources:
        write_parts(directory, source)
    _emit(
        {"directory": str(directory), "templates": len(sources)},
        as_json,
        lambda: f"exported {len(sources)} templates to {directory}",
    )


@templates_cli.command("validate")
def templates_validate(
    directory: Path = typer.Argument(None, help="Check these files instead of the templates in force."),
    business: str = BusinessOption,
    as_json: bool = JsonOption,
) -> None:
    """Check templates (in force, or the files in DIR); exit 1 when any has a problem."""
    from mailflow.outbound import template_store
    from mailflow.services.templates import list_templates

    if directory is not None:
        sources = _read_dir(directory)
    else:
        with _templates(business) as (engine, business_id):
            sources = [t.source for t in list_templates(engine, business_id)]
    report = [
        {
            "kind": s.kind,
            "locale": s.locale,
            "part": p.part,
            "line": p.line,
            "message": p.message,
            "text": str(p),
        }
        for s in sources
        for p in template_store.validate(s)
    ]
    summary = f"{len(sources)} templates checked, {len(report)} problems"
    _emit(
        {"checked": len(sources), "problems": report},
        as_json,
        lambda: "\n".join([f"{r['kind']}/{r['locale']} {r['text']}" for r in report] + [summary]),
    )
    if report:
        raise typer.Exit(1)


@templates_cli.command("import")
def templates_import(
    directory: Path,
    business: str = BusinessOption,
    author: str = typer.Option("cli", "--author", help="Recorded with each new version."),
    as_json: bool = JsonOption,
) -> None:
    """Save the templates in DIR as new versions; all are validated first, none saved if one fails."""
    from mailflow.outbound import template_store

    sources = _read_dir(directory)
    problems = [f"{s.kind}/{s.locale} {p}" for s in sources for p in template_store.validate(s)]
    if problems:
        raise InvalidInput(f"nothing imported, {len(problems)} problem(s): " + "; ".join(problems))
    from mailflow.services.templates import import_templates

    with _templates(business) as (engine, business_id):
        new = import_templates(engine, business_id, sources, actor=Actor(ActorKind.STAFF, author), now=_now())
    saved = [{"kind": s.kind, "locale": s.locale, "version": s.version} for s in new]
    _emit(
        {"saved": saved, "unchanged": len(sources) - len(saved)},
        as_json,
        lambda: (
            "\n".join([f"{s['kind']}/{s['locale']}: saved as version {s['version']}" for s in saved])
            + f"\n{len(saved)} saved, {len(sources) - len(saved)} unchanged"
        ),
    )


@templates_cli.command("preview")
def templates_preview(
    kind: str,
    locale: str = LocaleOption,
    variant: str = typer.Option("manage", "--variant", help="manage or no-manage"),
    out: Path = typer.Option(None, "--out", help="Write the HTML here instead of stdout."),
    business: str = BusinessOption,
    as_json: bool = JsonOption,
) -> None:
    """Render a template in force with sample data, with or without the Manage button."""
    from mailflow.outbound.render import Renderer
    from mailflow.outbound.samples import VARIANTS, sample_context
    from mailflow.services.templates import business_id_of, current_template

    if variant not in VARIANTS:
        raise InvalidInput(f"--variant must be manage or no-manage, not {variant!r}")
    with _app() as app:
        source = current_template(app.engine, business_id_of(app.engine, business), kind, locale).source
        public_url = app.settings.public_url
    email = Renderer().render(source, sample_context(kind, variant, locale, public_url))
    if out is not None:
        out.write_text(email.html, encoding="utf-8")
    if as_json:
        _emit(
            {"subject": email.subject, "html": email.html, "text": email.text, "source": source.origin},
            True,
            str,
        )
    elif out is not None:
        print(f"{email.subject}\n(HTML written to {out})")
    else:
        print(email.html)


@templates_cli.command("history")
def templates_history(
    kind: str, locale: str = LocaleOption, business: str = BusinessOption, as_json: bool = JsonOption
) -> None:
    """The saved versions of one template, oldest first."""
    from mailflow.services.templates import template_history

    with _templates(business) as (engine, business_id):
        versions = template_history(engine, business_id, kind, locale)
    rows = [
        {"version": v.version, "created_at": v.created_at.isoformat(), "created_by": v.created_by,
         "current": v.current, "subject": v.subject}
        for v in versions
    ]  # fmt: skip
    _emit(
        rows,
        as_json,
        lambda: (
            "\n".join(
                f"{'*' if r['current'] else ' '} v{r['version']}  {r['created_at']}  "
                f"{r['created_by']}  {r['subject']}"
                for r in rows
            )
            or "no saved versions: the default is in force"
        ),
    )


@templates_cli.command("rollback")
def templates_rollback(
    kind: str,
    locale: str = LocaleOption,
    version: int = typer.Option(..., "--version", help="The saved version to put in force."),
    business: str = BusinessOption,
    as_json: bool = JsonOption,
) -> None:
    """Put an earlier saved version in force again."""
    from mailflow.services.templates import current_template, rollback_template

    with _templates(business) as (engine, business_id):
        rollback_template(engine, business_id, kind, locale, version, actor=STAFF_ACTOR, now=_now())
        state = _state(current_template(engine, business_id, kind, locale))
    _emit(state, as_json, lambda: f"{kind}/{locale}: version {version} in force")


@templates_cli.command("reset")
def templates_reset(
    kind: str, locale: str = LocaleOption, business: str = BusinessOption, as_json: bool = JsonOption
) -> None:
    """Put the shipped default in force again (saved versions are kept)."""
    from mailflow.services.templates import current_template, reset_template

    with _templates(business) as (engine, business_id):
        reset_template(engine, business_id, kind, locale, actor=STAFF_ACTOR, now=_now())
        state = _state(current_template(engine, business_id, kind, locale))
    _emit(state, as_json, lambda: f"{kind}/{locale}: default in force")
