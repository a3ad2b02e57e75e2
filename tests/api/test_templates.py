"""Templates through the API: list with state, read, validate, preview, save a version with a note."""

from __future__ import annotations

from typing import Any

from mailflow.outbound.samples import KINDS, MANAGE_PATH
from mailflow.outbound.templates import default_locales, default_source
from tests.api.conftest import Api


def draft(kind: str = "confirmation", locale: str = "en", **change: Any) -> dict[str, Any]:
    """The shipped default of ``(kind, locale)`` as a request body, with ``change`` applied."""
    source = default_source(kind, locale)
    return {"subject": source.subject, "mjml": source.mjml, "text": source.text, **change}


BROKEN_MJML = default_source("confirmation", "en").mjml.replace("<mj-section>", "<mj-sektion>", 1)


def test_list_every_kind_and_locale_with_its_state(sqlite_api: Api) -> None:
    """All kinds × locales, all default at first; a saved version shows as edited with its number."""
    listed = sqlite_api.get("/templates").json()
    assert {(t["kind"], t["locale"]) for t in listed} == {
        (k, loc) for k in KINDS for loc in default_locales()
    }
    assert all(t["state"] == "default" and t["version"] is None and t["versions"] == 0 for t in listed)

    saved = sqlite_api.post("/templates/reminder/de/versions", draft("reminder", "de", note="kürzer"))
    assert saved.status_code == 201, saved.text

    states = {(t["kind"], t["locale"]): t for t in sqlite_api.get("/templates").json()}
    assert states[("reminder", "de")] == {
        "kind": "reminder", "locale": "de", "state": "edited", "version": 1, "versions": 1,
    }  # fmt: skip
    assert states[("reminder", "en")]["state"] == "default"


def test_get_one_template_and_unknown_ones_are_404(sqlite_api: Api) -> None:
    """The template in force with its parts; an unknown kind or locale is 404."""
    data = sqlite_api.get("/templates/confirmation/de").json()
    source = default_source("confirmation", "de")
    assert (data["subject"], data["mjml"], data["text"]) == (source.subject, source.mjml, source.text)
    assert data["state"] == "default" and data["history"] == []
    assert sqlite_api.get("/templates/invoice/en").status_code == 404
    assert sqlite_api.get("/templates/confirmation/es").status_code == 404  # no Spanish templates
    assert sqlite_api.post("/templates/invoice/en/validate", draft()).status_code == 404


def test_validate_reports_problems_with_part_and_line(sqlite_api: Api) -> None:
    """A good draft is valid; a broken one lists problems (part, line); nothing is saved either way."""
    good = sqlite_api.post("/templates/confirmation/en/validate", draft())
    assert good.status_code == 200 and good.json() == {"valid": True, "problems": []}

    bad = sqlite_api.post(
        "/templates/confirmation/en/validate", draft(mjml=BROKEN_MJML, subject="Hi {{ booking.nope }")
    )
    assert bad.status_code == 200
    result = bad.json()
    assert result["valid"] is False
    parts = {(p["part"], p["line"]) for p in result["problems"]}
    assert ("subject", 1) in parts
    line = next(n for n, text in enumerate(BROKEN_MJML.splitlines(), 1) if "<mj-sektion>" in text)
    assert ("body", line) in parts
    assert any("mj-sektion" in p["message"] for p in result["problems"])
    assert sqlite_api.get("/templates/confirmation/en").json()["state"] == "default"
    assert ("body", "subject") in {
        tuple(e["loc"]) for e in sqlite_api.post("/templates/confirmation/en/validate", {}).json()["detail"]
    }


def test_preview_with_and_without_the_manage_button(sqlite_api: Api) -> None:
    """The manage variant has the sample Manage link, no-manage has the change instructions instead."""
    manage = sqlite_api.post("/templates/confirmation/en/preview", {"variant": "manage"})
    no_manage = sqlite_api.post("/templates/confirmation/en/preview", {"variant": "no-manage"})
    assert manage.status_code == 200 and no_manage.status_code == 200
    assert MANAGE_PATH in manage.json()["html"] and MANAGE_PATH in manage.json()["text"]
    no_html, no_text = no_manage.json()["html"], no_manage.json()["text"]
    assert f"{MANAGE_PATH}?lang=" not in no_html and f"{MANAGE_PATH}?lang=" not in no_text  # .ics link only
    assert "+49 30 1234567" in no_manage.json()["text"]
    assert manage.json()["subject"].startswith("Confirmed: ")

    edited = draft(subject="Booked: {{ booking.service_name }}")
    preview = sqlite_api.post("/templates/confirmation/en/preview", {"variant": "manage", "draft": edited})
    assert preview.status_code == 200 and preview.json()["subject"].startswith("Booked: ")
    assert (
        sqlite_api.get("/templates/confirmation/en").json()["state"] == "default"
    )  # a preview saves nothing

    broken = sqlite_api.post(
        "/templates/confirmation/en/preview", {"variant": "manage", "draft": draft(mjml=BROKEN_MJML)}
    )
    assert broken.status_code == 422
    assert {tuple(e["loc"]) for e in broken.json()["detail"]} == {("body", "mjml")}
    wrong = sqlite_api.post("/templates/confirmation/en/preview", {"variant": "maybe"})
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["loc"] == ["body", "variant"]


def test_save_version_with_note_and_refuse_an_invalid_one(sqlite_api: Api) -> None:
    """Saving validates: an invalid draft is 422 at its field and saves nothing; a valid one is version 1."""
    refused = sqlite_api.post("/templates/confirmation/en/versions", draft(mjml=BROKEN_MJML, note="x"))
    assert refused.status_code == 422
    errors = refused.json()["detail"]
    assert errors and all(e["loc"] == ["body", "mjml"] and e["type"] == "template_invalid" for e in errors)
    assert sqlite_api.get("/templates/confirmation/en").json()["history"] == []

    body = draft(subject="Booked: {{ booking.service_name }} on {{ booking.date }}", note="shorter subject")
    saved = sqlite_api.post("/templates/confirmation/en/versions", body)

    assert saved.status_code == 201, saved.text
    data = saved.json()
    assert data["state"] == "edited" and data["version"] == 1 and data["subject"] == body["subject"]
    (version,) = data["history"]
    assert version["note"] == "shorter subject" and version["current"] is True
    assert version["created_by"].startswith("API key mf_")
    assert sqlite_api.get("/templates/confirmation/en").json() == data


def test_saved_version_is_used_by_the_next_email_not_by_queued_ones(api: Api) -> None:
    """A confirmation queued before the save keeps its subject; the next one uses the new version."""
    api.book(10)
    saved = api.post(
        "/templates/confirmation/en/versions",
        draft(subject="Booked: {{ booking.service_name }} on {{ booking.date }}", note="new subject"),
    )
    assert saved.status_code == 201
    api.book(11, service="consultation")

    first, second = api.outbox("confirmation")
    assert str(first["Subject"]).startswith("Confirmed: Haircut, ")
    assert str(second["Subject"]).startswith("Booked: Consultation")


def test_a_save_that_lost_a_race_is_a_409_not_a_500() -> None:
    """TemplateConflict (another version came into force meanwhile) answers 409 with its problem code."""
    import json

    from mailflow.api.errors import error_response
    from mailflow.outbound.templates import default_source
    from mailflow.services.templates import TemplateConflict

    answer = error_response(TemplateConflict(default_source("confirmation", "en")))
    assert answer.status_code == 409
    assert json.loads(bytes(answer.body))["problem"] == "template_changed"
