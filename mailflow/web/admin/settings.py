"""Settings (admins only) at ``/admin/services``: the business profile and its services.

The page parses the forms and calls ``mailflow.services.business`` and
``mailflow.services.catalog``, which check, store, audit and re-plan (changed
reminder offsets re-plan the pending reminders of upcoming bookings). Nothing
here copies a setting into bookings: the emails and the manage page read the
service's ``customer_can_manage`` and cut-off when they are built, so a change
applies to existing bookings from the next email on. A form with a mistake
comes back with every value as typed and the problem next to its field (400).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response

from mailflow.errors import InvalidInput, NotFound
from mailflow.i18n import N_, gettext
from mailflow.services.business import (
    BusinessView,
    business_slug,
    get_business,
    instructions_without_service_text,
    update_business,
)
from mailflow.services.catalog import (
    ServiceView,
    archive_service,
    create_service,
    get_service,
    list_services,
    update_service,
)
from mailflow.services.common import format_minutes, parse_minutes
from mailflow.services.staff import list_staff
from mailflow.web.admin import Desk, admin_desk, csrf_guard
from mailflow.web.admin.forms import FormState, posted, texts_of
from mailflow.web.admin.setup import LANGUAGE_NAMES

__all__ = ["MANAGE_EXPLANATION", "MANAGE_LABEL", "format_minutes", "parse_minutes", "router"]

MANAGE_LABEL = N_(
    "Allow customers to manage their appointment if booked by you or your staff on their behalf"
)
MANAGE_EXPLANATION = N_(
    "When off, customers cannot reschedule or cancel a booking that staff made for them: "
    "their emails show no Manage button and give your change instructions instead "
    "(bookings they made themselves can always be managed)."
)
NUMBER_FIELDS = ("duration", "buffer_before", "buffer_after", "horizon_days")
TIME_FIELDS = ("min_notice", "change_cutoff")
TEXT_PREFIXES = {"names": "name", "descriptions": "description", "change_instructions": "instructions"}
BUSINESS_FIELDS = ("name", "phone", "email", "address", "timezone", "locale", "sender_name", "sender_email")


def service_values(service: ServiceView, languages: list[str]) -> dict[str, Any]:
    """A service's form values as shown."""
    values: dict[str, Any] = {
        "slug": service.slug,
        "active": service.active,
        "customer_can_manage": service.customer_can_manage,
        "duration": str(service.duration_minutes),
        "buffer_before": str(service.buffer_before_minutes),
        "buffer_after": str(service.buffer_after_minutes),
        "horizon_days": str(service.horizon_days),
        "min_notice": format_minutes(service.min_notice_minutes),
        "change_cutoff": format_minutes(service.change_cutoff_minutes),
        "reminders": ", ".join(format_minutes(m) for m in service.reminder_offsets_minutes),
        "location": service.location,
        "staff": list(service.staff),
    }
    for key, prefix in TEXT_PREFIXES.items():
        texts = getattr(service, key)
        values |= {f"{prefix}_{lang}": texts.get(lang, "") for lang in languages}
    return values


def new_service_values(languages: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "slug": "",
        "active": True,
        "customer_can_manage": False,
        "duration": "30",
        "buffer_before": "0",
        "buffer_after": "0",
        "horizon_days": "60",
        "min_notice": "1 h",
        "change_cutoff": "24 h",
        "reminders": "24 h",
        "location": "",
        "staff": [],
    }
    for prefix in TEXT_PREFIXES.values():
        values |= {f"{prefix}_{lang}": "" for lang in languages}
    return values


def posted_service(form: dict[str, Any], shown: dict[str, Any]) -> FormState:
    """A posted service form as typed, over the values ``shown`` for fields not posted (the
    checkboxes are always posted: absent means off, or nobody)."""
    values = shown | {name: form[name] for name in shown if name in form and name != "staff"}
    values["customer_can_manage"] = bool(form.get("customer_can_manage"))
    values["staff"] = list(form.get("staff", []))
    return FormState(values)


def parse_service_form(
    state: FormState, form: dict[str, Any], languages: list[str], locale: str = "en"
) -> dict[str, Any]:
    """``catalog``'s values for the fields of a posted service form; format problems go to
    ``state.errors`` in ``locale`` (the service layer checks ranges, languages and staff)."""
    v = state.values
    parsed: dict[str, Any] = {name: str(v[name]).strip() for name in NUMBER_FIELDS if name in form}
    for name in TIME_FIELDS:
        try:
            if name in form:
                parsed[name] = parse_minutes(str(v[name]))
        except InvalidInput as exc:
            state.errors[name] = exc.text(locale)
    try:
        if "reminders" in form:
            parts = [part for part in re.split(r"[,;]", str(v["reminders"])) if part.strip()]
            parsed["reminders"] = [parse_minutes(part) for part in parts]
    except InvalidInput as exc:
        state.errors["reminders"] = exc.text(locale)
    for key, prefix in TEXT_PREFIXES.items():
        given = [lang for lang in languages if f"{prefix}_{lang}" in form]
        if given:
            parsed[key] = {lang: text for lang, text in texts_of(v, prefix, given).items()}
    if "location" in form:
        parsed["location"] = v["location"]
    return parsed | {"customer_can_manage": v["customer_can_manage"], "staff": v["staff"]}


def business_values(business: BusinessView) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": business.name,
        "phone": business.phone,
        "email": business.email,
        "address": business.address,
        "timezone": business.timezone,
        "locale": business.default_locale,
        "sender_name": business.sender_name,
        "sender_email": business.sender_email,
        "languages": list(business.locales),
    }
    return values | {
        f"instructions_{lang}": business.change_instructions.get(lang, "") for lang in LANGUAGE_NAMES
    }


router = APIRouter()


def page(
    d: Desk,
    *,
    forms: dict[str, FormState] | None = None,
    status: int = 200,
) -> Response:
    forms = forms or {}
    slug = business_slug(d.site.engine, d.who.business_id)
    business = get_business(d.site.engine, slug)
    languages = list(business.locales)
    services = [
        (service, forms.get(service.slug) or FormState(service_values(service, languages)))
        for service in list_services(d.site.engine, slug)
    ]
    return d.render(
        "services.html",
        status=status,
        business_name=business.name,
        languages=[(code, LANGUAGE_NAMES.get(code, code)) for code in languages],
        all_languages=list(LANGUAGE_NAMES.items()),
        default_locale=business.default_locale,
        business_instructions=instructions_without_service_text(d.site.engine, slug),
        services=services,
        new_service=forms.get("new") or FormState(new_service_values(languages)),
        business=forms.get("business") or FormState(business_values(business)),
        team=[
            (member.email, member.name or member.email, member.active)
            for member in list_staff(d.site.engine, slug)
        ],
        saved=d.request.query_params.get("saved"),
        welcome=d.request.query_params.get("welcome"),
        manage_label=gettext(d.locale, MANAGE_LABEL),
        manage_explanation=gettext(d.locale, MANAGE_EXPLANATION),
        csrf=d.csrf("settings"),
    )


def text_field(exc: InvalidInput, default_locale: str) -> str | None:
    """The form field for a problem with a per-language text (the default language's)."""
    prefix = TEXT_PREFIXES.get(exc.field or "")
    return f"{prefix}_{default_locale}" if prefix else exc.field


@router.get("/admin/services")
def settings_page(d: Desk = Depends(admin_desk)) -> Response:
    return page(d)


@router.post("/admin/services")
def new_service(
    _: None = Depends(csrf_guard("settings")),
    d: Desk = Depends(admin_desk),
    form: dict[str, Any] = Depends(posted),
) -> Response:
    business = get_business(d.site.engine, business_slug(d.site.engine, d.who.business_id))
    state = posted_service(form, new_service_values(business.locales))
    values = parse_service_form(state, form, business.locales, d.locale)
    if not state.errors:
        try:
            create_service(
                d.site.engine,
                business.slug,
                slug=str(form.get("slug", "")),
                values=values,
                actor=d.actor,
                now=d.now,
            )
        except InvalidInput as exc:
            state.errors[_known(state, text_field(exc, business.default_locale))] = exc.text(d.locale)
    if state.errors:
        return page(d, forms={"new": state}, status=400)
    created = str(form.get("slug", "")).strip()
    return RedirectResponse(f"/admin/services?saved={created}#service-{created}", status_code=303)


@router.post("/admin/services/{slug}")
def save_service(
    slug: str,
    _: None = Depends(csrf_guard("settings")),
    d: Desk = Depends(admin_desk),
    form: dict[str, Any] = Depends(posted),
) -> Response:
    business = get_business(d.site.engine, business_slug(d.site.engine, d.who.business_id))
    try:
        shown = service_values(get_service(d.site.engine, business.slug, slug), business.locales)
    except NotFound:
        return no_such_service(d)
    state = posted_service(form, shown)
    values = parse_service_form(state, form, business.locales, d.locale)
    if not state.errors:
        try:
            update_service(d.site.engine, business.slug, slug, values, actor=d.actor, now=d.now)
        except NotFound:
            return no_such_service(d)
        except InvalidInput as exc:
            state.errors[_known(state, text_field(exc, business.default_locale))] = exc.text(d.locale)
    if state.errors:
        return page(d, forms={slug: state}, status=400)
    return RedirectResponse(f"/admin/services?saved={slug}#service-{slug}", status_code=303)


@router.post("/admin/services/{slug}/archive")
def archive(
    slug: str,
    _: None = Depends(csrf_guard("settings")),
    d: Desk = Depends(admin_desk),
    form: dict[str, Any] = Depends(posted),
) -> Response:
    business = business_slug(d.site.engine, d.who.business_id)
    try:
        if form.get("restore"):
            update_service(d.site.engine, business, slug, {"active": True}, actor=d.actor, now=d.now)
        else:
            archive_service(d.site.engine, business, slug, actor=d.actor, now=d.now)
    except NotFound:
        return no_such_service(d)
    return RedirectResponse(f"/admin/services?saved={slug}#service-{slug}", status_code=303)


@router.post("/admin/business")
def save_business(
    _: None = Depends(csrf_guard("settings")),
    d: Desk = Depends(admin_desk),
    form: dict[str, Any] = Depends(posted),
) -> Response:
    slug = business_slug(d.site.engine, d.who.business_id)
    current = business_values(get_business(d.site.engine, slug))
    given = [name for name in current if name in form and name != "languages"]  # others stay
    state = FormState(current | {name: form[name] for name in given})
    changes: dict[str, Any] = {name: form[name] for name in BUSINESS_FIELDS if name in given}
    if form.get("languages"):
        changes["languages"] = [str(form.get("locale") or current["locale"]), *form["languages"]]
    offered = changes.get("languages", current["languages"])
    instructions = {
        lang: form[f"instructions_{lang}"] for lang in LANGUAGE_NAMES if f"instructions_{lang}" in given
    }
    if instructions:
        changes["change_instructions"] = {
            lang: text for lang, text in instructions.items() if lang in offered
        }
    try:
        update_business(d.site.engine, slug, changes, actor=d.actor, now=d.now)
    except InvalidInput as exc:
        field = f"instructions_{state.values['locale']}" if exc.field == "change_instructions" else exc.field
        state.errors[_known(state, "languages" if field == "languages" else field, "name")] = exc.text(
            d.locale
        )
        return page(d, forms={"business": state}, status=400)
    return RedirectResponse("/admin/services?saved=business#business", status_code=303)


def no_such_service(d: Desk) -> Response:
    return Response(gettext(d.locale, "No such service.") + "\n", status_code=404, media_type="text/plain")


def _known(state: FormState, field: str | None, default: str = "slug") -> str:
    """``field`` when the form has it, else ``default`` (a problem is never lost)."""
    return field if field is not None and field in state.values else default
