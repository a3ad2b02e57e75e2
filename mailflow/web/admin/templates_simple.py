"""Simple mode of the template editor (``/admin/templates/{kind}/{locale}/simple``).

A plain form (no script needed) with the words of an email: subject, greeting,
paragraphs and sign-off (``mailflow.outbound.simple``). Saving makes the whole
template from them in the shipped layout and stores it as a new version through
``services.templates.save_template``, as the source editor does. The page shows
the template in force, rendered with sample data, beside the form.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mailflow.errors import InvalidInput
from mailflow.i18n import gettext
from mailflow.kinds import CUSTOMER_KINDS
from mailflow.outbound import template_store
from mailflow.outbound.simple import (
    PLACEHOLDERS,
    SimpleFields,
    default_fields,
    parse_fields,
    simple_fields,
    simple_source,
)
from mailflow.outbound.templates import default_locales
from mailflow.outbound.validate import Problem
from mailflow.services import templates
from mailflow.services.templates import TemplateConflict
from mailflow.web.admin import Desk, admin_desk
from mailflow.web.admin.template_notices import DESCRIPTIONS, conflict_notice, done_notice, unchanged_notice
from mailflow.web.admin.templates_editor import CSRF_PURPOSE, EDITOR_CSP, _key, business_of, checked, in_force

__all__ = ["router"]

router = APIRouter(prefix="/admin/templates")


def _page(
    d: Desk,
    kind: str,
    locale: str,
    fields: SimpleFields | None,
    *,
    note: str = "",
    base: str | None = None,
    errors: dict[str, str] | None = None,
    notice: str = "",
    status: int = 200,
) -> HTMLResponse:
    source, versions = in_force(d, kind, locale)
    own = simple_fields(source)
    shipped = default_fields(kind, locale)
    shown = fields or own or shipped
    preview = None
    if shipped is not None:
        preview = template_store.preview(source, "manage", public_url=d.site.settings.public_url).email
    response = d.render(
        "templates_simple.html",
        status=status,
        kind=kind,
        locale=locale,
        description=gettext(d.locale, DESCRIPTIONS[kind]) if kind in DESCRIPTIONS else "",
        locales=default_locales(),
        business_locales=business_of(d).locales,
        source=source,
        versions=versions,
        available=shipped is not None,
        from_source=own is None and source.version is not None,
        fields=shown,
        placeholders=list(PLACEHOLDERS),
        errors=errors or {},
        notice=notice,
        note=note,
        based_on=base or source.digest,
        note_max=template_store.NOTE_MAX,
        preview=preview,
        csrf=d.csrf(CSRF_PURPOSE),
        customer_kind=kind in CUSTOMER_KINDS,
    )
    response.headers["Content-Security-Policy"] = EDITOR_CSP
    return response


@router.get("/{kind}/{locale}/simple", response_class=HTMLResponse)
def simple_page(
    kind: str, locale: str, saved: int | None = None, d: Desk = Depends(admin_desk)
) -> HTMLResponse:
    """The words of the template in force (or of the shipped default) in a plain form."""
    _key(kind, locale)
    notice = done_notice(d.locale, kind, saved=saved, rolled_back=None, reset=False)
    return _page(d, kind, locale, None, notice=notice)


@router.post("/{kind}/{locale}/simple", response_class=HTMLResponse)
def simple_save(
    kind: str,
    locale: str,
    subject: Annotated[str, Form()] = "",
    greeting: Annotated[str, Form()] = "",
    paragraphs: Annotated[str, Form()] = "",
    sign_off: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    base: Annotated[str, Form()] = "",
    _csrf: None = Depends(checked),
    d: Desk = Depends(admin_desk),
) -> Response:
    """Make the template from the posted words and save it as a new version (problems: at their field)."""
    _key(kind, locale)
    fields = parse_fields(subject, greeting, paragraphs, sign_off)
    if len(note.strip()) > template_store.NOTE_MAX:
        too_long = gettext(d.locale, "The note is too long.")
        return _page(
            d, kind, locale, fields, errors={"note": too_long}, status=422, note=note, base=base or None
        )
    try:
        source = simple_source(kind, locale, fields)
    except InvalidInput as exc:
        errors = {exc.field or "subject": exc.text(d.locale)}
        return _page(d, kind, locale, fields, errors=errors, status=422, note=note, base=base or None)
    problems: list[Problem] = template_store.validate(source)
    if problems:
        errors = {"paragraphs": "; ".join(str(problem) for problem in problems)}
        return _page(d, kind, locale, fields, errors=errors, status=422, note=note, base=base or None)
    current, _ = in_force(d, kind, locale)
    if current.digest == source.digest:
        return _page(
            d,
            kind,
            locale,
            fields,
            notice=unchanged_notice(d.locale, current.version),
            note=note,
            base=base or None,
        )
    try:
        new = templates.save_template(
            d.site.engine,
            d.who.business_id,
            source,
            actor=d.actor,
            now=d.now,
            note=note,
            based_on=base or None,
        )
    except TemplateConflict as exc:
        notice = conflict_notice(d.locale, exc.current.version)
        return _page(d, kind, locale, fields, note=note, base=exc.current.digest, notice=notice, status=409)
    return RedirectResponse(f"{d.request.url.path}?saved={new.version}", status_code=303)
