"""The template editor (``/admin/templates``): every email per language, live preview, versions.

Admins only. The list shows every kind × locale with what is in force; the
editor shows subject, MJML body and text body beside a live preview (the HTML
in a sandboxed iframe, and the text part) of sample data with or without the
Manage button. The browser script posts the draft to ``…/preview`` (JSON) as
the admin types and reloads the iframe from ``…/preview.html``, a page with its
own CSP that only this site may frame. Saving validates on the server too: an
invalid draft comes back in the form with its problems and nothing is stored.
Every save is a new version (who, when, a note); the history shows each
version's diff to the one before (the first one's to the shipped default),
and any version can be put back in force, or the default.

Templates are read when an email is rendered, and emails are rendered when
they are queued (the outbox keeps finished messages), so an edit changes the
next email and none already waiting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from mailflow.errors import InvalidInput, NotFound
from mailflow.i18n import gettext, ngettext
from mailflow.kinds import CUSTOMER_KINDS, STAFF_KINDS
from mailflow.outbound import template_store
from mailflow.outbound.compose import Address
from mailflow.outbound.samples import VARIANTS
from mailflow.outbound.templates import TemplateSource, default_locales, default_source, text_follows_html
from mailflow.outbound.validate import Problem
from mailflow.services import accounts, templates
from mailflow.services.accounts import BusinessInfo
from mailflow.services.templates import TemplateConflict
from mailflow.web.admin import Admin, Desk, admin_desk, site
from mailflow.web.admin.template_notices import (
    DESCRIPTIONS,
    conflict_notice,
    done_notice,
    problems_page,
    test_email_notice,
    unchanged_notice,
)
from mailflow.web.security import CSP

__all__ = ["router"]

CSRF_PURPOSE = "templates"
# The editor fetches the preview JSON and frames the preview page: both from this site only.
EDITOR_CSP = CSP + "; connect-src 'self'; frame-src 'self'"
# The rendered email: its own inline styles and images, no scripts, framed only by the editor.
PREVIEW_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data: https: http:; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'self'"
)


@dataclass(frozen=True)
class Draft:
    """What the editor form sends, with browser line endings (CRLF) made plain."""

    subject: str
    mjml: str
    text: str | None

    @classmethod
    def from_form(cls, subject: str, mjml: str, text: str) -> Draft:
        def plain(value: str) -> str:
            return value.replace("\r\n", "\n").replace("\r", "\n")

        body = plain(text)
        return cls(plain(subject).strip(), plain(mjml), body if body.strip() else None)

    @classmethod
    def of(cls, source: TemplateSource) -> Draft:
        return cls(source.subject, source.mjml, source.text)

    def source(self, kind: str, locale: str) -> TemplateSource:
        return TemplateSource(kind=kind, locale=locale, subject=self.subject, mjml=self.mjml, text=self.text)


@dataclass(frozen=True)
class FormState:
    """What the editor's form holds: the draft, the sample variant, the note, and ``base``,
    the digest of the text in force when editing began (None: whatever is in force now)."""

    draft: Draft
    variant: str = "manage"
    note: str = ""
    base: str | None = None


def posted(
    subject: Annotated[str, Form()] = "",
    mjml: Annotated[str, Form()] = "",
    text: Annotated[str, Form()] = "",
    variant: Annotated[str, Form()] = "manage",
    note: Annotated[str, Form()] = "",
    base: Annotated[str, Form()] = "",
) -> FormState:
    """The editor form as posted (a FastAPI dependency); an unknown variant becomes ``manage``."""
    return FormState(Draft.from_form(subject, mjml, text), _variant(variant), note, base or None)


def _problem_json(problem: Problem, locale: str) -> dict[str, Any]:
    shown = gettext(locale, "Line {line}: {message}", line=problem.line, message=problem.message)
    return {
        "part": problem.part,
        "line": problem.line,
        "message": problem.message,
        "text": str(problem),
        "shown": shown if problem.line else problem.message,  # as the editor lists it
    }


def _key(kind: str, locale: str) -> None:
    """404 for a kind or locale mailflow has no template for."""
    try:
        template_store.check_key(kind, locale)
    except InvalidInput as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc


def _variant(value: str | None) -> str:
    return value if value in VARIANTS else "manage"


def _frame(preview: template_store.Preview, locale: str) -> HTMLResponse:
    """The preview as a page for the editor's iframe: the email, or the problems that stop it."""
    if preview.email is None:
        html, status = problems_page(preview.problems, locale), 422
    else:
        html, status = preview.email.html, 200
    return HTMLResponse(
        html,
        status_code=status,
        headers={
            "Content-Security-Policy": PREVIEW_CSP,
            "X-Frame-Options": "SAMEORIGIN",
            "Cache-Control": "no-store",
        },
    )


router = APIRouter(prefix="/admin/templates")


def checked(
    request: Request, csrf: Annotated[str | None, Form()] = None, admin: Admin = Depends(site)
) -> None:
    """An admin's POST: the CSRF token is checked first (403), before who is signed in."""
    if not admin.check_csrf(request, csrf, CSRF_PURPOSE):
        detail = gettext(
            admin.locale(request), "This form has expired or did not come from this site: reload the page."
        )
        raise HTTPException(status_code=403, detail=detail)


def business_of(d: Desk) -> BusinessInfo:
    try:
        return accounts.member_business(d.site.engine, d.who.business_id)
    except NotFound:  # the member's business row is gone: nothing to edit
        raise HTTPException(status_code=404, detail=gettext(d.locale, "No such business.")) from None


def in_force(d: Desk, kind: str, locale: str) -> tuple[TemplateSource, int]:
    current = templates.current_template(d.site.engine, d.who.business_id, kind, locale)
    return current.source, len(current.history)


def editor(
    d: Desk,
    kind: str,
    locale: str,
    typed: FormState,
    *,
    problems: Sequence[Problem] = (),
    notice: str = "",
    status: int = 200,
) -> HTMLResponse:
    source, versions = in_force(d, kind, locale)
    business = business_of(d)
    shown = typed.draft
    variant = typed.variant
    by_part: dict[str, list[Problem]] = {"subject": [], "body": [], "text": [], "note": []}
    for problem in problems:
        by_part.setdefault(problem.part, []).append(problem)
    # The subject and text panes start filled (the script keeps them current as one types).
    shown_preview = None
    if not problems:
        shown_preview = template_store.preview(
            shown.source(kind, locale), variant, public_url=d.site.settings.public_url
        ).email
    response = d.render(
        "templates_edit.html",
        status=status,
        kind=kind,
        locale=locale,
        description=gettext(d.locale, DESCRIPTIONS[kind]) if kind in DESCRIPTIONS else "",
        locales=default_locales(),
        business_locales=business.locales,
        source=source,
        versions=versions,
        draft=shown,
        problems=list(problems),
        by_part=by_part,
        preview=shown_preview,
        notice=notice,
        variant=variant,
        variants=VARIANTS,
        note=typed.note,
        based_on=typed.base or source.digest,
        note_max=template_store.NOTE_MAX,
        csrf=d.csrf(CSRF_PURPOSE),
        customer_kind=kind in CUSTOMER_KINDS,
        text_from_html=text_follows_html(shown.source(kind, locale)),
    )
    response.headers["Content-Security-Policy"] = EDITOR_CSP
    return response


@router.get("", response_class=HTMLResponse)
def template_list(d: Desk = Depends(admin_desk)) -> HTMLResponse:
    """Every kind × locale with what is in force: the default or a saved version."""
    business = business_of(d)
    found = templates.template_states(d.site.engine, d.who.business_id)
    groups = [
        (gettext(d.locale, "Emails to customers"), CUSTOMER_KINDS),
        (gettext(d.locale, "Emails to staff and admins"), STAFF_KINDS),
    ]
    return d.render(
        "templates.html",
        groups=groups,
        states=found,
        locales=default_locales(),
        business_locales=business.locales,
        descriptions={kind: gettext(d.locale, text) for kind, text in DESCRIPTIONS.items()},
        fallbacks=templates.template_fallbacks(d.site.engine, d.who.business_id),
    )


@router.get("/{kind}/{locale}", response_class=HTMLResponse)
def edit_page(
    kind: str,
    locale: str,
    variant: str | None = None,
    saved: int | None = None,
    rolled_back: int | None = None,
    reset: bool = False,
    d: Desk = Depends(admin_desk),
) -> HTMLResponse:
    """The editor with the template in force (and what the last action did)."""
    _key(kind, locale)
    notice = done_notice(d.locale, kind, saved=saved, rolled_back=rolled_back, reset=reset)
    start = FormState(Draft.of(in_force(d, kind, locale)[0]), _variant(variant))
    return editor(d, kind, locale, start, notice=notice)


@router.post("/{kind}/{locale}", response_class=HTMLResponse)
def save(
    kind: str,
    locale: str,
    form: FormState = Depends(posted),
    _csrf: None = Depends(checked),
    d: Desk = Depends(admin_desk),
) -> Response:
    """Save the draft as a new version; an invalid draft comes back with its problems.

    When another version came into force since the editor was opened (``base``
    differs), nothing is saved: the draft comes back (409) with a warning, and
    saving it again replaces the other version.
    """
    _key(kind, locale)
    source = form.draft.source(kind, locale)
    again, note, base = form, form.note, form.base
    if len(note.strip()) > template_store.NOTE_MAX:
        too_long = ngettext(
            d.locale,
            "The note is too long: at most {n} character.",
            "The note is too long: at most {n} characters.",
            template_store.NOTE_MAX,
        )
        return editor(d, kind, locale, again, problems=[Problem("note", None, too_long)], status=422)
    problems = template_store.validate(source)
    if problems:
        return editor(d, kind, locale, again, problems=problems, status=422)
    current, _ = in_force(d, kind, locale)
    if current.digest == source.digest:
        notice = unchanged_notice(d.locale, current.version)
        return editor(d, kind, locale, again, notice=notice)
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
    except TemplateConflict as exc:  # another version came into force, or was saved this very moment
        return conflict(d, kind, locale, again, exc.current)
    return RedirectResponse(f"{d.request.url.path}?saved={new.version}", status_code=303)


def conflict(
    d: Desk,
    kind: str,
    locale: str,
    typed: FormState,
    current: TemplateSource,
) -> HTMLResponse:
    notice = conflict_notice(d.locale, current.version)
    retry = FormState(typed.draft, typed.variant, typed.note, current.digest)
    return editor(d, kind, locale, retry, notice=notice, status=409)


@router.post("/{kind}/{locale}/preview")
def preview_json(
    kind: str,
    locale: str,
    variant: Annotated[str, Form()] = "manage",
    form: FormState = Depends(posted),
    _csrf: None = Depends(checked),
    d: Desk = Depends(admin_desk),
) -> JSONResponse:
    """The draft rendered with sample data (subject, html, text), or its problems with lines."""
    _key(kind, locale)
    if variant not in VARIANTS:
        return JSONResponse({"detail": f"variant must be one of {', '.join(VARIANTS)}"}, status_code=422)
    result = template_store.preview(
        form.draft.source(kind, locale), variant, public_url=d.site.settings.public_url
    )
    email = result.email
    return JSONResponse(
        {
            "ok": email is not None,
            "subject": email.subject if email else None,
            "html": email.html if email else None,
            "text": email.text if email else None,
            "text_from_html": text_follows_html(form.draft.source(kind, locale)),
            "errors": [_problem_json(problem, d.locale) for problem in result.problems],
            "summary": ngettext(d.locale, "{n} problem", "{n} problems", len(result.problems)),
        },
        headers={"Cache-Control": "no-store"},
    )


@router.get("/{kind}/{locale}/preview.html", response_class=HTMLResponse)
def preview_in_force(
    kind: str, locale: str, variant: str | None = None, d: Desk = Depends(admin_desk)
) -> HTMLResponse:
    """The template in force as an email, for the editor's iframe."""
    _key(kind, locale)
    return _frame(
        template_store.preview(
            in_force(d, kind, locale)[0], _variant(variant), public_url=d.site.settings.public_url
        ),
        d.locale,
    )


@router.post("/{kind}/{locale}/preview.html", response_class=HTMLResponse)
def preview_draft(
    kind: str,
    locale: str,
    form: FormState = Depends(posted),
    _csrf: None = Depends(checked),
    d: Desk = Depends(admin_desk),
) -> HTMLResponse:
    """The draft as an email, for the editor's iframe (the form posts into it)."""
    _key(kind, locale)
    return _frame(
        template_store.preview(
            form.draft.source(kind, locale), form.variant, public_url=d.site.settings.public_url
        ),
        d.locale,
    )


@router.post("/{kind}/{locale}/test-email", response_class=HTMLResponse)
def test_email(
    kind: str,
    locale: str,
    form: FormState = Depends(posted),
    _csrf: None = Depends(checked),
    d: Desk = Depends(admin_desk),
) -> HTMLResponse:
    """Queue the draft, rendered with the chosen sample data, to the signed-in member."""
    _key(kind, locale)
    result = template_store.preview(
        form.draft.source(kind, locale), form.variant, public_url=d.site.settings.public_url
    )
    if result.email is None:
        return editor(d, kind, locale, form, problems=result.problems, status=422)
    templates.send_test_email(
        d.site.engine,
        d.who.business_id,
        kind,
        result.email,
        to=Address(d.who.email, "" if d.who.name == d.who.email else d.who.name),
        message_domain=d.site.notifier.builder.settings.message_domain,
        now=d.now,
    )
    d.site.wake()
    notice = test_email_notice(d.locale, form.variant, d.who.email)
    return editor(d, kind, locale, form, notice=notice)


@router.get("/{kind}/{locale}/history", response_class=HTMLResponse)
def history_page(kind: str, locale: str, d: Desk = Depends(admin_desk)) -> HTMLResponse:
    """Every saved version, newest first, each with its diff to the one before."""
    _key(kind, locale)
    return history_response(d, kind, locale)


def history_response(d: Desk, kind: str, locale: str, error: str = "", status: int = 200) -> HTMLResponse:
    business = business_of(d)
    zone = ZoneInfo(business.timezone)
    entries = []
    versions = templates.version_history(d.site.engine, d.who.business_id, kind, locale)
    previous = default_source(kind, locale)
    for info, source in versions:
        entries.append(
            {
                "info": info,
                "when": info.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z"),
                "against": previous.version,  # None: the shipped default
                "diff": template_store.diff(previous, source),
            }
        )
        previous = source
    in_default = not any(info.current for info, _source in versions)
    return d.render(
        "templates_history.html",
        status=status,
        kind=kind,
        locale=locale,
        entries=list(reversed(entries)),
        in_default=in_default,
        error=error,
        csrf=d.csrf(CSRF_PURPOSE),
    )


@router.post("/{kind}/{locale}/rollback")
def rollback(
    kind: str,
    locale: str,
    version: Annotated[int, Form()],
    _csrf: None = Depends(checked),
    d: Desk = Depends(admin_desk),
) -> Response:
    """Put saved ``version`` in force again (it must still pass validation)."""
    _key(kind, locale)
    try:
        templates.rollback_template(
            d.site.engine,
            d.who.business_id,
            kind,
            locale,
            version,
            actor=d.actor,
            now=d.now,
        )
    except NotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    except template_store.TemplateInvalid as exc:
        return history_response(d, kind, locale, error=str(exc), status=422)
    return RedirectResponse(f"/admin/templates/{kind}/{locale}?rolled_back={version}", status_code=303)


@router.post("/{kind}/{locale}/reset")
def reset(kind: str, locale: str, _csrf: None = Depends(checked), d: Desk = Depends(admin_desk)) -> Response:
    """Put the shipped default in force again; saved versions stay for a later rollback."""
    _key(kind, locale)
    templates.reset_template(d.site.engine, d.who.business_id, kind, locale, actor=d.actor, now=d.now)
    return RedirectResponse(f"/admin/templates/{kind}/{locale}?reset=1", status_code=303)
