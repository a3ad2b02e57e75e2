"""Templates as the business sees them: its saved version if any, else the shipped default.

Saving an edit validates it and stores a new version; rollback points the
template at any earlier version; reset returns to the shipped default. No
version is ever deleted, so every step can be undone.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, func, select

from mailflow.errors import InvalidInput, MailflowError, NotFound
from mailflow.outbound.render import RenderedEmail, Renderer
from mailflow.outbound.samples import KINDS, PUBLIC_URL, sample_context
from mailflow.outbound.templates import TemplateSource, default_locales, default_source
from mailflow.outbound.validate import Problem, validate_template
from mailflow.store.tables import MAX_INTEGER, Template, TemplateVersion, pk


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
    note: str = ""


@dataclass(frozen=True, slots=True)
class TemplateState:
    """What is in force for one ``(kind, locale)``: the default, or saved version ``current``."""

    kind: str
    locale: str
    current: int | None
    versions: int

    @property
    def label(self) -> str:
        if self.current is None:
            return "default" if not self.versions else f"default ({self.versions} saved versions kept)"
        return f"edited, version {self.current}"


@dataclass(frozen=True, slots=True)
class PartDiff:
    """The unified diff of one part (``subject``, ``body`` or ``text``); empty ``lines``: unchanged."""

    part: str
    lines: list[str]


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
    if not 0 < number <= MAX_INTEGER:
        raise NotFound("template version", f"{template.kind}/{template.locale} v{number}")
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
NOTE_MAX = 500


def _in_force(session: Session, business_id: int) -> dict[tuple[str, str], Template]:
    """The business's edited templates, read once per transaction (an email queued with a
    booking change reads them again and again; every change below forgets them)."""
    return read_in_force(session, (business_id,))[business_id]


def read_in_force(
    session: Session, business_ids: Iterable[int]
) -> dict[int, dict[tuple[str, str], Template]]:
    """The edited templates of the businesses read in this transaction, by business and then
    (kind, locale); those of ``business_ids`` not read yet are read first, in one query: a
    batch of emails for many businesses (the reminder sweep) then asks nothing per business."""
    known: dict[int, dict[tuple[str, str], Template]] = session.info.setdefault(_IN_FORCE, {})
    wanted = set(business_ids) - known.keys()
    if not wanted:
        return known
    for business_id in wanted:
        known[business_id] = {}
    rows = session.exec(
        select(Template).where(
            col(Template.business_id).in_(wanted), col(Template.current_version).is_not(None)
        )
    ).all()
    for row in rows:
        assert row.business_id is not None  # selected by it
        known[row.business_id][(row.kind, row.locale)] = row
    return known


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


def check_draft(source: TemplateSource, renderer: Renderer | None = None) -> None:
    """``InvalidInput`` for an unknown key, ``TemplateInvalid`` with every problem of ``source``.

    Rendering the samples may take up to the render-time limit: call it before opening a
    write transaction, never inside one.
    """
    check_key(source.kind, source.locale)
    problems = validate(source, renderer)
    if problems:
        raise TemplateInvalid(source.kind, source.locale, problems)


def save_version(
    session: Session,
    business_id: int,
    source: TemplateSource,
    *,
    author: str,
    now: datetime,
    renderer: Renderer | None = None,
    note: str = "",
    checked: bool = False,
) -> TemplateSource:
    """Validate and store ``source`` as the new current version; ``TemplateInvalid`` saves nothing.

    ``author`` (an email address) and ``note`` (why, optional, at most
    ``NOTE_MAX`` characters) are kept with the version. ``checked``: the caller has
    validated ``source`` already (``check_draft``, before its write transaction).
    """
    if len(note) > NOTE_MAX:
        raise InvalidInput(f"the note is too long: at most {NOTE_MAX} characters")
    if not checked:
        check_draft(source, renderer)
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
        note=note.strip(),
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
            note=row.note,
        )
        for row in rows
    ]


def rollback(
    session: Session, business_id: int, kind: str, locale: str, version: int, *, checked: bool = False
) -> TemplateSource:
    """Make saved ``version`` current again (re-validated unless ``checked``: it must still render)."""
    check_key(kind, locale)
    _forget(session)
    template = _row(session, business_id, kind, locale)
    if template is None:
        raise NotFound("template version", f"{kind}/{locale} v{version}")
    source = _source(template, _version(session, template, version))
    if not checked:
        check_draft(source)
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


def states(session: Session, business_id: int) -> dict[tuple[str, str], TemplateState]:
    """The state of every ``(kind, locale)`` of the business: default, or which version is in force."""
    counts: dict[int, int] = {}
    rows = session.exec(
        select(TemplateVersion.template_id, func.count())
        .join(Template, col(Template.id) == col(TemplateVersion.template_id))
        .where(Template.business_id == business_id)
        .group_by(col(TemplateVersion.template_id))
    ).all()
    for template_id, count in rows:
        counts[template_id] = count
    saved = {
        (row.kind, row.locale): row
        for row in session.exec(select(Template).where(Template.business_id == business_id)).all()
    }
    found: dict[tuple[str, str], TemplateState] = {}
    for locale in default_locales():
        for kind in KINDS:
            template = saved.get((kind, locale))
            found[(kind, locale)] = TemplateState(
                kind=kind,
                locale=locale,
                current=template.current_version if template else None,
                versions=counts.get(pk(template), 0) if template else 0,
            )
    return found


def version_source(
    session: Session, business_id: int, kind: str, locale: str, version: int
) -> TemplateSource:
    """The text of saved ``version`` (``NotFound`` when there is no such version)."""
    check_key(kind, locale)
    template = _row(session, business_id, kind, locale)
    if template is None:
        raise NotFound("template version", f"{kind}/{locale} v{version}")
    return _source(template, _version(session, template, version))


def diff(old: TemplateSource, new: TemplateSource) -> list[PartDiff]:
    """Unified diffs (3 lines of context) of subject, body and text from ``old`` to ``new``.

    >>> from mailflow.outbound.templates import TemplateSource
    >>> a = TemplateSource("reminder", "en", "Hi", "<mjml></mjml>", None)
    >>> [d.lines for d in diff(a, TemplateSource("reminder", "en", "Hello", "<mjml></mjml>", None))][0][2:]
    ['@@ -1 +1 @@', '-Hi', '+Hello']
    """
    names = (old.origin, new.origin)
    parts = (
        ("subject", old.subject, new.subject),
        ("body", old.mjml, new.mjml),
        ("text", old.text, new.text),
    )
    found = []
    for part, before, after in parts:
        lines = difflib.unified_diff(
            (before or "").splitlines(), (after or "").splitlines(), *names, lineterm="", n=3
        )
        found.append(PartDiff(part, list(lines)))
    return found


@dataclass(frozen=True, slots=True)
class Preview:
    """A draft rendered with sample data; ``email`` is None when ``problems`` stopped it."""

    email: RenderedEmail | None
    problems: list[Problem]


def preview(
    source: TemplateSource, variant: str, renderer: Renderer | None = None, *, public_url: str = PUBLIC_URL
) -> Preview:
    """Validate ``source`` and, when it passes, render it with the ``variant`` sample data.

    ``variant`` is ``manage`` or ``no-manage`` (``InvalidInput`` otherwise); the
    sample links start with ``public_url`` (the configured one, in the editor).
    The draft is compiled once, for validation and rendering alike.
    """
    check_key(source.kind, source.locale)
    context = sample_context(source.kind, variant, source.locale, public_url)
    renderer = renderer or Renderer()
    problems = validate(source, renderer)
    if problems:
        return Preview(None, problems)
    return Preview(renderer.render(source, context), [])
