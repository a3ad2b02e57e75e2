"""Template limits on the admin editor page (issue 16, item 4), SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration import test_admin_templates
from tests.integration.test_admin_templates import CONFIRMATION_DE, Editor

make_editor = test_admin_templates.make_editor  # the fixtures, shared
editor = test_admin_templates.editor


@pytest.mark.parametrize(
    ("jinja", "says"),
    [
        ("{{ 'A' * 10**8 }}", "100,000,000 characters"),
        ("{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}", "200,000 steps"),
    ],
)
def test_the_editor_refuses_a_draft_over_a_limit_and_says_which(
    editor: Editor, jinja: str, says: str
) -> None:
    """Saving a draft that floods or stalls: 422, the limit named on the page, nothing saved."""
    draft: dict[str, Any] = editor.draft(note="heavy")
    draft["mjml"] = draft["mjml"].replace("</mj-column>", f"<mj-text>{jinja}</mj-text></mj-column>", 1)
    page = editor.post(CONFIRMATION_DE, draft)
    assert page.status_code == 422
    assert says in page.text and "limit" in page.text
    assert editor.versions() == [] and editor.in_force().version is None
