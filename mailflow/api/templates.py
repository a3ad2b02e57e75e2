"""``/api/v1/templates``: the business's email templates, kind × locale.

Reading gives the template in force (the saved version, else the shipped
default) and its history; ``validate`` and ``preview`` work on a draft and
save nothing; saving validates first and stores a new version with a note,
which the next email rendered uses (emails already queued keep their text).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends
from sqlmodel import Session, col, select

from mailflow.api.errors import template_errors
from mailflow.api.keys import ApiCaller
from mailflow.api.models import (
    NewVersion,
    Preview,
    PreviewOut,
    ProblemOut,
    TemplateDraft,
    TemplateOut,
    TemplateState,
    ValidationOut,
    VersionOut,
)
from mailflow.errors import NotFound
from mailflow.outbound import template_store
from mailflow.outbound.render import Renderer
from mailflow.outbound.samples import KINDS, sample_context
from mailflow.outbound.template_store import TemplateInvalid
from mailflow.outbound.templates import TemplateSource, default_locales
from mailflow.store.engine import read_session, write_session
from mailflow.store.tables import Template, TemplateVersion

if TYPE_CHECKING:
    from mailflow.api import Api


def known(kind: str, locale: str) -> None:
    """``NotFound`` (404) for a kind or locale mailflow has no template for."""
    if kind not in KINDS or locale not in default_locales():
        raise NotFound("template", f"{kind}/{locale}")


def draft_source(kind: str, locale: str, draft: TemplateDraft) -> TemplateSource:
    return TemplateSource(kind=kind, locale=locale, subject=draft.subject, mjml=draft.mjml, text=draft.text)


def state_of(session: Session, business_id: int, kind: str, locale: str) -> TemplateState:
    source = template_store.effective_source(session, business_id, kind, locale)
    saved = len(template_store.history(session, business_id, kind, locale))
    return TemplateState(
        kind=kind,
        locale=locale,
        state="default" if source.version is None else "edited",
        version=source.version,
        versions=saved,
    )


def notes(session: Session, business_id: int, kind: str, locale: str) -> dict[int, str]:
    """Each saved version's note (``template_store.history`` leaves them out)."""
    rows = session.exec(
        select(TemplateVersion.version, TemplateVersion.note)
        .join(Template, col(Template.id) == col(TemplateVersion.template_id))
        .where(Template.business_id == business_id, Template.kind == kind, Template.locale == locale)
    ).all()
    return dict(rows)


def template_out(session: Session, business_id: int, kind: str, locale: str) -> TemplateOut:
    source = template_store.effective_source(session, business_id, kind, locale)
    noted = notes(session, business_id, kind, locale)
    history = [
        VersionOut(
            version=v.version,
            created_at=v.created_at,
            created_by=v.created_by,
            note=noted.get(v.version, ""),
            current=v.current,
            subject=v.subject,
        )
        for v in template_store.history(session, business_id, kind, locale)
    ]
    return TemplateOut(
        **state_of(session, business_id, kind, locale).model_dump(),
        subject=source.subject,
        mjml=source.mjml,
        text=source.text,
        history=history,
    )


def add_routes(router: APIRouter, api: Api) -> None:
    """The template routes."""
    path = "/templates/{kind}/{locale}"

    @router.get("/templates", response_model=list[TemplateState], tags=["templates"])
    def list_templates(caller: ApiCaller = Depends(api.caller)) -> list[TemplateState]:
        """Every kind × locale with its state: the default, or the saved version in force."""
        with read_session(api.app.engine) as session:
            return [
                state_of(session, caller.business_id, kind, locale)
                for locale in default_locales()
                for kind in KINDS
            ]

    @router.get(path, response_model=TemplateOut, tags=["templates"])
    def get_template(kind: str, locale: str, caller: ApiCaller = Depends(api.caller)) -> TemplateOut:
        """The template in force (subject, MJML body, text body) and its saved versions."""
        known(kind, locale)
        with read_session(api.app.engine) as session:
            return template_out(session, caller.business_id, kind, locale)

    @router.post(f"{path}/validate", response_model=ValidationOut, tags=["templates"])
    def validate_template(
        kind: str, locale: str, body: TemplateDraft, caller: ApiCaller = Depends(api.caller)
    ) -> ValidationOut:
        """Check a draft (saves nothing): every problem with its part and line."""
        known(kind, locale)
        problems = template_store.validate(draft_source(kind, locale, body))
        return ValidationOut(
            valid=not problems,
            problems=[ProblemOut(part=p.part, line=p.line, message=p.message) for p in problems],
        )

    @router.post(f"{path}/preview", response_model=PreviewOut, tags=["templates"])
    def preview_template(
        kind: str, locale: str, body: Preview, caller: ApiCaller = Depends(api.caller)
    ) -> PreviewOut:
        """Render a draft, or the template in force, with sample data with or without the Manage button.

        A draft with problems is answered 422 with each problem at its field.
        """
        known(kind, locale)
        if body.draft is not None:
            source = draft_source(kind, locale, body.draft)
            problems = template_store.validate(source)
            if problems:
                raise template_errors(TemplateInvalid(kind, locale, problems))
        else:
            with read_session(api.app.engine) as session:
                source = template_store.effective_source(session, caller.business_id, kind, locale)
        email = Renderer().render(source, sample_context(kind, body.variant, locale))
        return PreviewOut(subject=email.subject, html=email.html, text=email.text)

    @router.post(f"{path}/versions", status_code=201, response_model=TemplateOut, tags=["templates"])
    def save_version(
        kind: str, locale: str, body: NewVersion, caller: ApiCaller = Depends(api.caller)
    ) -> TemplateOut:
        """Validate and save a new version, in force at once; 422 with the problems saves nothing."""
        known(kind, locale)
        with write_session(api.app.engine) as session:
            saved = template_store.save_version(
                session,
                caller.business_id,
                draft_source(kind, locale, body),
                author=api.actor(caller).label,
                now=api.clock(),
            )
            if body.note.strip():
                row = session.exec(
                    select(TemplateVersion)
                    .join(Template, col(Template.id) == col(TemplateVersion.template_id))
                    .where(
                        Template.business_id == caller.business_id,
                        Template.kind == kind,
                        Template.locale == locale,
                        TemplateVersion.version == saved.version,
                    )
                ).one()
                row.note = body.note.strip()
                session.add(row)
                session.flush()
            return template_out(session, caller.business_id, kind, locale)
