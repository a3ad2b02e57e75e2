"""Template limits through the API (issue 16, item 4): a draft over a limit is 422 and nothing is saved."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api
from tests.api.test_templates import draft

STALL = (
    "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}"
    "{% endfor %}{% endfor %}{% endfor %}"
)


def with_text(jinja: str) -> str:
    """The default confirmation's MJML with ``jinja`` in its first text block."""
    mjml: str = draft()["mjml"]
    return mjml.replace("</mj-column>", f"<mj-text>{jinja}</mj-text></mj-column>", 1)


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"mjml": with_text("{{ 'A' * 10**8 }}")}, "mjml", "100,000,000 characters"),
        ({"mjml": with_text(STALL)}, "mjml", "200,000 steps"),
        ({"text": "{{ 'A' * 10**8 }}"}, "text", "1,000,000"),
        ({"mjml": with_text("x" * 100_001)}, "mjml", "too long"),
    ],
)
def test_a_draft_over_a_limit_is_422_at_its_part_and_saves_nothing(
    sqlite_api: Api, change: dict[str, str], field: str, says: str
) -> None:
    """Saving a version that floods, stalls or is too long: 422 naming the limit; history stays empty."""
    response = sqlite_api.post("/templates/confirmation/en/versions", draft(note="x", **change))
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert any(error["loc"] == ["body", field] and says in error["msg"] for error in errors), errors
    assert sqlite_api.get("/templates/confirmation/en").json()["history"] == []


def test_validate_and_preview_refuse_the_same_drafts(sqlite_api: Api) -> None:
    """The validate endpoint lists the limit as a problem; the preview renders nothing."""
    body = draft(mjml=with_text("{{ 'A' * 10**8 }}"))
    checked = sqlite_api.post("/templates/confirmation/en/validate", body)
    assert checked.status_code == 200, checked.text
    assert "limit" in str(checked.json())
    preview = sqlite_api.post("/templates/confirmation/en/preview", {"draft": body, "variant": "manage"})
    assert preview.status_code == 422, preview.text
    assert "100,000,000 characters" in preview.json()["detail"][0]["msg"]
