"""The template editor tells the truth (issue 18, item 7), on SQLite and PostgreSQL.

Previews format dates as real emails do and link to the configured public URL;
an HTML-only edit reaches the text part of real emails while an edited text
part is kept; simple mode saves a version whose words reach the preview and
real emails, in English and German.
"""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from typing import Any

import pytest
from sqlmodel import Session, select

from mailflow import services
from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.outbound import samples
from mailflow.outbound.formatting import format_when
from mailflow.outbound.simple import simple_fields
from mailflow.outbound.templates import default_source
from mailflow.store.tables import Booking
from tests.conftest import berlin, html_as_read
from tests.integration import test_admin_templates
from tests.integration.test_admin_templates import ADMIN, CONFIRMATION_DE, GREETING_DE, HTML, STAFF, Editor

make_editor = test_admin_templates.make_editor  # the fixtures, shared
editor = test_admin_templates.editor
SIMPLE_CSRF = re.compile(r'<form id="simple-form"[^>]*>\s*<input type="hidden" name="csrf" value="([^"]+)"')


def book(editor: Editor, customer: str, hour: int, locale: str) -> str:
    """A staff booking for ``customer`` (reading ``locale``) on the test Tuesday at ``hour`` in Berlin."""
    view = services.create_booking(
        editor.app.engine,
        business="contoso",
        service="haircut",
        staff=STAFF,
        customer=services.CustomerInput(email=customer, name="Anna Schmidt", locale=locale),
        start=berlin(editor.day, hour),
        origin=Origin.STAFF,
        actor=Actor(ActorKind.STAFF, ADMIN),
        now=editor.now,
        public_url=editor.app.settings.public_url,
        **editor.app.booking_kwargs(),
    )
    return view.ref


def confirmation(editor: Editor, ref: str) -> tuple[str, str]:
    """The HTML and text parts of the confirmation queued for booking ``ref``."""
    with Session(editor.app.engine) as session:
        ids = {b.id: b.ref for b in session.exec(select(Booking)).all()}
    [row] = [row for row in editor.outbox() if row.kind == "confirmation" and ids[row.booking_id] == ref]
    message = email.message_from_bytes(row.payload or b"", policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    html, text = message.get_body(("html",)), message.get_body(("plain",))
    assert html is not None and text is not None
    return html_as_read(html), str(text.get_content())


def simple_csrf(editor: Editor, path: str) -> str:
    page = editor.client.get(path, headers=HTML)
    assert page.status_code == 200, page.text
    found = SIMPLE_CSRF.search(page.text)
    assert found is not None, "the page has no simple-mode form"
    return found.group(1)


# --- previews ---------------------------------------------------------------------------


def test_preview_formats_dates_as_a_real_email_for_the_same_time(
    editor: Editor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """For the same appointment time, the preview shows the date, times and zone a real email shows."""
    ref = book(editor, "anna@example.com", 10, "de")
    start = berlin(editor.day, 10)
    monkeypatch.setattr(samples, "START", start)  # the sample booking at the real booking's time
    expected = format_when(start, start + samples.DURATION, "de", "Europe/Berlin", regional=True)
    real_html, real_text = confirmation(editor, ref)
    preview = editor.post(f"{CONFIRMATION_DE}/preview", {**editor.draft(), "variant": "manage"}).json()
    assert preview["ok"], preview
    for shown in (expected.date, expected.time_range, expected.timezone_name):
        assert shown in real_html and shown in preview["html"], shown
    assert expected.when in real_text and expected.when in preview["text"]
    assert expected.day_time in preview["subject"]


def test_preview_links_start_with_the_configured_public_url(editor: Editor) -> None:
    """Every sample link in a preview is on MAILFLOW_PUBLIC_URL, not a made-up host."""
    preview = editor.post(f"{CONFIRMATION_DE}/preview", {**editor.draft(), "variant": "manage"}).json()
    assert "http://testserver/m/" in preview["html"] and "http://testserver/m/" in preview["text"]
    assert "http://testserver/book?lang=de" in preview["html"]
    assert "127.0.0.1:8000" not in preview["html"] + preview["text"]
    frame = editor.client.get(f"{CONFIRMATION_DE}/preview.html?variant=manage")
    assert "http://testserver/m/" in frame.text and "127.0.0.1:8000" not in frame.text


# --- the text part ----------------------------------------------------------------------


def test_an_html_only_edit_reaches_the_text_part_of_a_real_email(editor: Editor) -> None:
    """Edited HTML with the shipped text: the sentence added to the HTML is in the text part too."""
    mjml = editor.draft()["mjml"].replace(GREETING_DE, f"{GREETING_DE} Parken im Hof ist kostenlos.")
    page = editor.post(CONFIRMATION_DE, editor.draft(mjml=mjml))
    assert page.status_code == 303, page.text
    shown = editor.client.get(CONFIRMATION_DE, headers=HTML).text
    assert 'id="tpl-text-rule"' in shown and "made from the HTML: only the HTML differs" in shown
    preview = editor.post(
        f"{CONFIRMATION_DE}/preview", {**editor.draft(mjml=mjml), "variant": "manage"}
    ).json()
    assert "Parken im Hof ist kostenlos." in preview["text"] and preview["text_from_html"] is True
    own = editor.draft(mjml=mjml, text=editor.draft()["text"] + "Eigener Text.\n")
    assert (
        editor.post(f"{CONFIRMATION_DE}/preview", {**own, "variant": "manage"}).json()["text_from_html"]
        is False
    )
    html, text = confirmation(editor, book(editor, "anna@example.com", 10, "de"))
    assert "Parken im Hof ist kostenlos." in html and "Parken im Hof ist kostenlos." in text
    assert "http://testserver/book" in text  # the derived text keeps the links


def test_an_edited_text_part_is_kept(editor: Editor) -> None:
    """Edited HTML and edited text: the text part is the admin's, not made from the HTML."""
    draft = editor.draft()
    mjml = draft["mjml"].replace(GREETING_DE, "Nur im HTML.")
    text = draft["text"].replace(GREETING_DE, "Nur im Text.")
    assert "Nur im Text." in text
    assert editor.post(CONFIRMATION_DE, editor.draft(mjml=mjml, text=text)).status_code == 303
    html, sent_text = confirmation(editor, book(editor, "anna@example.com", 10, "de"))
    assert "Nur im HTML." in html and "Nur im HTML." not in sent_text
    assert "Nur im Text." in sent_text and "Nur im Text." not in html


# --- simple mode ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "paragraph"), [("en", "Free parking in the yard."), ("de", "Parken im Hof ist kostenlos.")]
)
def test_simple_mode_round_trip_reaches_preview_and_real_email(
    editor: Editor, locale: str, paragraph: str
) -> None:
    """Save in simple mode: a version is stored, the form shows it, the preview and a real email carry it."""
    path = f"/admin/templates/confirmation/{locale}/simple"
    shipped = simple_fields(default_source("confirmation", locale))
    assert shipped is not None
    form = {
        "csrf": simple_csrf(editor, path),
        "subject": shipped.subject,
        "greeting": shipped.greeting,
        "paragraphs": "\r\n\r\n".join([*shipped.paragraphs, paragraph]),
        "sign_off": "Contoso & team",
        "note": "simple mode",
    }
    saved = editor.client.post(path, data=form)
    assert saved.status_code == 303, saved.text
    [version] = editor.versions("confirmation", locale)
    assert version.note == "simple mode"
    source = editor.in_force("confirmation", locale)
    assert paragraph in source.mjml and paragraph in (source.text or "")
    again = editor.client.get(saved.headers["location"], headers=HTML).text
    assert paragraph in again and "Contoso &amp; team" in again  # the form holds the saved words
    frame = editor.client.get(f"/admin/templates/confirmation/{locale}/preview.html?variant=manage")
    assert paragraph in frame.text and "Contoso &amp; team" in frame.text
    html, text = confirmation(editor, book(editor, "anna@example.com", 10, locale))
    assert paragraph in html and paragraph in text
    assert "Contoso &amp; team" in html and "Contoso & team" in text
    assert "http://testserver/book" in html  # the layout (its links) is kept


def test_simple_mode_refuses_template_code_and_saves_nothing(editor: Editor) -> None:
    """Braces other than the placeholders come back at their field (422) and nothing is saved."""
    path = "/admin/templates/confirmation/de/simple"
    form: dict[str, Any] = {
        "csrf": simple_csrf(editor, path),
        "subject": "Ihr Termin",
        "greeting": "Hallo {name},",
        "paragraphs": "Rechnen: {{ 7 * 7 }}",
    }
    refused = editor.client.post(path, data=form)
    assert refused.status_code == 422
    assert 'id="simple-paragraphs-error"' in refused.text and "Rechnen: {{ 7 * 7 }}" in refused.text
    unknown = editor.client.post(path, data={**form, "paragraphs": "Bis {morgen}!"})
    assert unknown.status_code == 422 and "{morgen}" in unknown.text
    assert editor.versions("confirmation", "de") == []


def test_simple_mode_is_refused_for_words_that_depend_on_the_booking(editor: Editor) -> None:
    """The cancellation's opening words depend on who cancelled: no simple form, a pointer to the source."""
    page = editor.client.get("/admin/templates/cancelled/en/simple", headers=HTML)
    assert page.status_code == 200 and 'id="simple-unavailable"' in page.text
    assert 'id="simple-form"' not in page.text


def test_simple_and_source_mode_link_to_each_other(editor: Editor) -> None:
    """Each editing mode links to the other for the same kind and language."""
    source = editor.client.get(CONFIRMATION_DE, headers=HTML).text
    simple = editor.client.get(f"{CONFIRMATION_DE}/simple", headers=HTML).text
    assert f'href="{CONFIRMATION_DE}/simple"' in source and f'href="{CONFIRMATION_DE}"' in simple
