"""Templates as the business sees them: its saved version if any, else the shipped default.

Saving an edit validates it and stores a new version; rollback points the
template at any earlier version; reset returns to the shipped default. No
version is ever deleted, so every step can be undone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from mailflow.errors import InvalidInput, MailflowError, NotFound
from mailflow.outbound.render import Renderer
from mailflow.outbound.samples import KINDS, sample_context
from mailflow.outbound.templates import TemplateSource, default_locales, default_source
from mailflow.outbound.validate import Problem, validate_template
from mailflow.store.tables import Template, TemplateVersion, pk


class TemplateInvalid(MailflowError):
    """An edit did not pass validation; ``problems`` lists every finding."""

    def __init__(self, kind: str, locale: str, problems: list[Problem]) -> None:
        listing = "; ".join(str(problem) for problem in problems)
        super().__init__(f"template {kind}/{locale} is invalid: {listing}")
        self.problems = problems


@dataclass(frozen=True, slots=True)
class VersionInfo:
    version: int
    created_at: datetime
    created_by: str
    current: bool
    subject: str


def check_key(kind: str, locale: str) -> None:
    """Refuse a kind or locale mailflow has no template for."""
    if kind not in KINDS:
        raise InvalidInput(f"unknown template kind {kind!r}: use one of {', '.join(KINDS)}")
    if locale not in default_locales():
        raise InvalidInput(f"unknown template locale {locale!r}: use one of {', '.join(default_locales())}")


def _row(session: Session, business_id: int, kind: str, locale: str) -> Template | None:
    return session.exec(
        select(Template).where(
            Template.business_id == business_id, Template.kind == kind, Template.locale == locale
        )
    ).first()


def _version(session: Session, template: Template, number: int) -> TemplateVersion:
    row = session.exec(
        select(TemplateVersion).where(
            TemplateVersion.template_id == template.id, TemplateVersion.version == number
        )
    ).first()
    if row is None:
        raise NotFound("template version", f"{template.kind}/{template.locale} v{number}")
    return row


def _source(template: Template, row: TemplateVersion) -> TemplateSource:
    return TemplateSource(
        kind=template.kind,
        locale=template.locale,
        subject=row.subject,
        mjml=row.mjml,
        text=row.text,
        version=row.version,
    )


_IN_FORCE = "mailflow.templates_in_force"


def _in_force(session: Session, business_id: int) -> dict[tuple[str, str], Template]:
    """The business's edited templates, read once per transaction (an email queued with a
    booking change reads them again and again; every change below forgets them)."""
    known: dict[int, dict[tuple[str, str], Template]] = session.info.setdefault(_IN_FORCE, {})
    if business_id not in known:
        rows = session.exec(
            select(Template).where(
                Template.business_id == business_id, col(Template.current_version).is_not(None)
            )
        ).all()
        known[business_id] = {(row.kind, row.locale): row for row in rows}
    return known[business_id]


def _forget(session: Session) -> None:
    session.info.pop(_IN_FORCE, None)


def effective_source(session: Session, business_id: int, kind: str, locale: str) -> TemplateSource:
    """The template in force: the business's current version, else the shipped default."""
    check_key(kind, locale)
    template = _in_force(session, business_id).get((kind, locale))
    if template is None or template.current_version is None:
        return default_source(kind, locale)
    return _source(template, _version(session, template, template.current_version))


def validate(source: TemplateSource, renderer: Renderer | None = None) -> list[Problem]:
    """Validate ``source`` against the sample contexts of its kind."""
    return validate_template(source, sample_context, renderer)


def save_version(
    session: Session,
    business_id: int,
    source: TemplateSource,
    *,
    author: str,
    now: datetime,
    renderer: Renderer | None = None,
) -> TemplateSource:
    """Validate and store ``source`` as the new current version; ``TemplateInvalid`` saves nothing."""
    check_key(source.kind, source.locale)
    problems = validate(source, renderer)
    if problems:
        raise TemplateInvalid(source.kind, source.locale, problems)
    _forget(session)
    template = _row(session, business_id, source.kind, source.locale)
    if template is None:
        template = Template(business_id=business_id, kind=source.kind, locale=source.locale)
        session.add(template)
        session.flush()
    latest = session.exec(
        select(TemplateVersion.version)
        .where(TemplateVersion.template_id == template.id)
        .order_by(col(TemplateVersion.version).desc())
    ).first()
    number = (latest or 0) + 1
    row = TemplateVersion(
        template_id=pk(template),
        version=number,
        subject=source.subject.strip(),
        mjml=source.mjml,
        text=source.text,
        created_at=now,
        created_by=author,
    )
    session.add(row)
    template.current_version = number
    session.add(template)
    session.flush()
    return _source(template, row)


def history(session: Session, business_id: int, kind: str, locale: str) -> list[VersionInfo]:
    """Every saved version, oldest first, marking the current one."""
    check_key(kind, locale)
    template = _row(session, business_id, kind, locale)
    if template is None:
        return []
    rows = session.exec(
        select(TemplateVersion)
        .where(TemplateVersion.template_id == template.id)
        .order_by(col(TemplateVersion.version))
    ).all()
    return [
        VersionInfo(
            version=row.version,
            created_at=row.created_at,
            created_by=row.created_by,
            current=row.version == template.current_version,
            subject=row.subject,
        )
        for row in rows
    ]


def rollback(session: Session, business_id: int, kind: str, locale: str, version: int) -> TemplateSource:
    """Make saved ``version`` current again (re-validated: it must still render)."""
    check_key(kind, locale)
    _forget(session)
    template = _row(session, business_id, kind, locale)
    if template is None:
        raise NotFound("template version", f"{kind}/{locale} v{version}")
    source = _source(template, _version(session, template, version))
    problems = validate(source)
    if problems:
        raise TemplateInvalid(kind, locale, problems)
    template.current_version = version
    session.add(template)
    session.flush()
    return source


def reset(session: Session, business_id: int, kind: str, locale: str) -> TemplateSource:
    """Use the shipped default again; saved versions stay for a later rollback."""
    check_key(kind, locale)
    _forget(session)
    template = _row(session, business_id, kind, locale)
    if template is not None:
        template.current_version = None
        session.add(template)
        session.flush()
    return default_source(kind, locale)
