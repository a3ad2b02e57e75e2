"""``/api/v1/templates``: the business's email templates, kind × locale.

Reading gives the template in force (the saved version, else the shipped
default) and its history; ``validate`` and ``preview`` work on a draft and
save nothing; saving validates first and stores a new version with a note,
which the next email rendered uses (emails already queued keep their text).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends

from mailflow.api.context import Api, api_caller, current_api
from mailflow.api.error_models import ErrorOut
from mailflow.api.errors import template_errors
from mailflow.api.keys import ApiCaller
from mailflow.api.template_models import (
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
from mailflow.services import templates
from mailflow.services.templates import CurrentTemplate
from mailflow.web.deps import clock


def known(kind: str, locale: str) -> None:
    """``NotFound`` (404) for a kind or locale mailflow has no template for."""
    if kind not in KINDS or locale not in default_locales():
        raise NotFound("template", f"{kind}/{locale}")


def draft_source(kind: str, locale: str, draft: TemplateDraft) -> TemplateSource:
    return TemplateSource(kind=kind, locale=locale, subject=draft.subject, mjml=draft.mjml, text=draft.text)


def state_of(current: CurrentTemplate) -> TemplateState:
    source = current.source
    return TemplateState(
        kind=source.kind,
        locale=source.locale,
        state="default" if source.version is None else "edited",
        version=source.version,
        versions=len(current.history),
    )


def template_out(current: CurrentTemplate) -> TemplateOut:
    source = current.source
    history = [
        VersionOut(
            version=v.version,
            created_at=v.created_at,
            created_by=v.created_by,
            note=v.note,
            current=v.current,
            subject=v.subject,
        )
        for v in current.history
    ]
    return TemplateOut(
        **state_of(current).model_dump(),
        subject=source.subject,
        mjml=source.mjml,
        text=source.text,
        history=history,
    )


def add_routes(router: APIRouter) -> None:
    """The template routes."""
    path = "/templates/{kind}/{locale}"

    @router.get("/templates", response_model=list[TemplateState], tags=["templates"])
    def list_templates(
        caller: ApiCaller = Depends(api_caller), api: Api = Depends(current_api)
    ) -> list[TemplateState]:
        """Every kind × locale with its state: the default, or the saved version in force."""
        return [
            state_of(current)
            for current in templates.list_templates(api.use_cases.engine, caller.business_id)
        ]

    @router.get(path, response_model=TemplateOut, tags=["templates"])
    def get_template(
        kind: str, locale: str, caller: ApiCaller = Depends(api_caller), api: Api = Depends(current_api)
    ) -> TemplateOut:
        """The template in force (subject, MJML body, text body) and its saved versions."""
        known(kind, locale)
        return template_out(
            templates.current_template(api.use_cases.engine, caller.business_id, kind, locale)
        )

    @router.post(f"{path}/validate", response_model=ValidationOut, tags=["templates"])
    def validate_template(
        kind: str, locale: str, body: TemplateDraft, caller: ApiCaller = Depends(api_caller)
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
        kind: str,
        locale: str,
        body: Preview,
        caller: ApiCaller = Depends(api_caller),
        api: Api = Depends(current_api),
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
            source = templates.current_template(api.use_cases.engine, caller.business_id, kind, locale).source
        sample = sample_context(kind, body.variant, locale, api.use_cases.public_url)
        email = Renderer().render(source, sample)
        return PreviewOut(subject=email.subject, html=email.html, text=email.text)

    @router.post(
        f"{path}/versions",
        status_code=201,
        response_model=TemplateOut,
        tags=["templates"],
        responses={
            409: {
                "model": ErrorOut,
                "description": "Someone saved this template at the same moment (`problem`: "
                "`template_changed`): reload it and try again.",
            }
        },
    )
    def save_template_version(
        kind: str,
        locale: str,
        body: NewVersion,
        caller: ApiCaller = Depends(api_caller),
        api: Api = Depends(current_api),
        now: datetime = Depends(clock),
    ) -> TemplateOut:
        """Validate and save a new version, in force at once; 422 with the problems saves nothing."""
        known(kind, locale)
        templates.save_template(
            api.use_cases.engine,
            caller.business_id,
            draft_source(kind, locale, body),
            actor=api.actor(caller),
            now=now,
            note=body.note,
        )
        return template_out(
            templates.current_template(api.use_cases.engine, caller.business_id, kind, locale)
        )
