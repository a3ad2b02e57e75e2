"""Template limits on the admin editor page (issue 16, item 4), SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from mailflow.booking.model import Actor, ActorKind
from mailflow.outbound import template_store
from mailflow.outbound.templates import TemplateSource, default_source
from mailflow.services.templates import reset_template
from mailflow.store.engine import write_session
from tests.integration import test_admin_templates
from tests.integration.test_admin_templates import ADMIN, CONFIRMATION_DE, HTML, Editor

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


def test_the_template_page_tells_admins_once_when_a_version_fell_back(editor: Editor) -> None:
    """A flooding version in force: two bookings send the default, the list names it once, reset clears it."""
    default = default_source("confirmation", "de")
    flood = default.mjml.replace("</mj-column>", "<mj-text>{{ 'A' * 10**8 }}</mj-text></mj-column>", 1)
    source = TemplateSource("confirmation", "de", default.subject, flood, default.text)
    with write_session(editor.app.engine) as session:
        template_store.save_version(
            session, editor.business_id, source, author=ADMIN, now=editor.now, checked=True
        )
    editor.book("anna@example.com", 10)
    editor.book("berta@example.com", 11)
    sent = [row for row in editor.outbox() if row.kind == "confirmation"]
    assert len(sent) == 2 and all(row.payload and b"AAAAAAAAAA" not in row.payload for row in sent)
    page = editor.client.get("/admin/templates", headers=HTML).text
    assert 'id="tpl-fallbacks"' in page
    assert page.count("<code>confirmation</code> (de), version 1</a>") == 1  # once, not once per email
    assert "1,000,000" in page
    reset_template(
        editor.app.engine,
        editor.business_id,
        "confirmation",
        "de",
        actor=Actor(ActorKind.STAFF, ADMIN),
        now=editor.now,
    )
    assert 'id="tpl-fallbacks"' not in editor.client.get("/admin/templates", headers=HTML).text
