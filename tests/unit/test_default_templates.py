"""The shipped default email templates: they compile, render every sample and say the right things.

Rendering here follows the renderer's model (DESIGN §5): the MJML is compiled
once with its Jinja tags still in it, then the compiled HTML is rendered by a
sandboxed Jinja environment with autoescape and ``StrictUndefined``, so a name
outside the context contract fails loudly. The environments are the renderer's
own (``trim_blocks``/``lstrip_blocks``, which the plain-text bodies are laid
out for).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import mjml
import pytest
from markupsafe import escape

import mailflow
from mailflow.errors import InvalidInput
from mailflow.outbound.formatting import format_when
from mailflow.outbound.render import Renderer, one_line
from mailflow.outbound.samples import (
    CUSTOMER_KINDS,
    KINDS,
    MANAGE_URL,
    SAMPLE_CONTEXTS,
    SAMPLE_LOCALES,
    SAMPLE_TIMEZONE,
    SLOT_STARTS,
    STAFF_KINDS,
    VARIANTS,
    sample_context,
)
from mailflow.outbound.samples import DURATION as SAMPLE_DURATION
from mailflow.outbound.samples import START as SAMPLE_START
from mailflow.outbound.validate import MJML_TAGS

TEMPLATE_DIR = Path(mailflow.__file__).parent / "templates"
LOCALES = ("en", "de", "fr")
PARTS = (".subject.txt", ".mjml", ".txt")
JINJA_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
MJ_OPENING_TAG = re.compile(r"<(mj-[a-z-]+|mjml)\b([^>]*)>")
ATTRIBUTE = re.compile(r'([a-z-]+)="([^"]*)"')
# Attributes whose value is copied verbatim into the HTML, so Jinja in them survives compilation.
JINJA_SAFE_ATTRIBUTES = frozenset({"href", "src"})

# Phrases that give away an English template left untranslated in the German or French folder.
ENGLISH_TELLTALES = (
    "Manage booking",
    "Your booking",
    "Your appointment",
    "Hello",
    "Thank you",
    "New booking",
    "Book a new appointment",
    "Date and time",
    "Reference",
    "reply CANCEL",
    "could not",
    "Open in admin",
    "Before",
    "After",
    "Reminder",
)

# The reply-by-email hint of each locale (DESIGN §1: only with the button, only when replies work).
REPLY_HINT = {"en": "reply CANCEL", "de": "mit STORNIEREN", "fr": "par ANNULER"}
UNVERIFIED_WARNING = {
    "en": "Sender could not be verified",
    "de": "Absender konnte nicht verifiziert werden",
    "fr": "L’expéditeur n’a pas pu être vérifié",
}


# The renderer's own sandboxed environments (autoescaped HTML, plain text).
HTML_ENV = Renderer().html_env
TEXT_ENV = Renderer().text_env


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str


def source(locale: str, kind: str, part: str) -> str:
    return (TEMPLATE_DIR / locale / f"{kind}{part}").read_text(encoding="utf-8")


@cache
def compiled_html(locale: str, kind: str) -> str:
    return str(mjml.mjml2html(source(locale, kind, ".mjml")))


def render(locale: str, kind: str, context: dict[str, Any]) -> Rendered:
    subject = TEXT_ENV.from_string(source(locale, kind, ".subject.txt").strip()).render(context)
    subject = one_line(subject)
    context = {**context, "subject": subject}
    html = HTML_ENV.from_string(compiled_html(locale, kind)).render(context)
    text = TEXT_ENV.from_string(source(locale, kind, ".txt")).render(context)
    return Rendered(subject=subject, html=html, text=text)


def render_sample(locale: str, kind: str, variant: str) -> Rendered:
    return render(locale, kind, sample_context(kind, variant, locale))


def html_has(rendered: Rendered, value: str) -> bool:
    return str(escape(value)) in rendered.html


def mentions(rendered: Rendered, value: str) -> bool:
    """Whether ``value`` appears in both the HTML (escaped) and the text body."""
    return html_has(rendered, value) and value in rendered.text


def has_link(rendered: Rendered, url: str) -> bool:
    """Whether ``url`` is a link target in the HTML and written out on its own in the text."""
    in_html = f'href="{escape(url)}"' in rendered.html
    in_text = re.search(rf"(?<!\S){re.escape(url)}(?!\S)", rendered.text) is not None
    return in_html and in_text


ALL_TEMPLATES = [(locale, kind) for locale in LOCALES for kind in KINDS]
ALL_SAMPLES = [(locale, kind, variant) for locale, kind in ALL_TEMPLATES for variant in VARIANTS]
CUSTOMER_SAMPLES = [case for case in ALL_SAMPLES if case[1] in CUSTOMER_KINDS]
STAFF_SAMPLES = [case for case in ALL_SAMPLES if case[1] in STAFF_KINDS]


def manage_url(locale: str = "en") -> str:
    """The sample manage link of a ``locale`` email: the link with the email's language (``?lang=``)."""
    url = sample_context("confirmation", "manage", locale)["links"]["manage_url"]
    assert isinstance(url, str) and url == f"{MANAGE_URL}?lang={locale}"
    return url


# ---------------------------------------------------------------- files and MJML


def test_every_kind_ships_subject_mjml_and_text_in_every_locale() -> None:
    """Each kind has its three parts in en, de and fr, and nothing else is there."""
    expected = {f"{locale}/{kind}{part}" for locale, kind in ALL_TEMPLATES for part in PARTS}
    found = {str(path.relative_to(TEMPLATE_DIR)) for path in TEMPLATE_DIR.glob("*/*") if path.is_file()}
    assert found == expected


@pytest.mark.parametrize(("locale", "kind"), ALL_TEMPLATES)
def test_mjml_compiles_and_keeps_every_jinja_tag_in_order(locale: str, kind: str) -> None:
    """mjml-python compiles the body, and every Jinja tag survives it unchanged and in order."""
    mjml_source = source(locale, kind, ".mjml")
    assert mjml_source.lstrip().startswith(f'<mjml lang="{locale}">')
    assert mjml_source.rstrip().endswith("</mjml>")
    before = JINJA_TAG.findall(mjml_source)
    after = iter(JINJA_TAG.findall(compiled_html(locale, kind)))
    # A subsequence check: mjml copies <mj-title> into an aria-label too, which adds tags.
    missing = [tag for tag in before if tag not in after]
    assert missing == []


@pytest.mark.parametrize(("locale", "kind"), ALL_TEMPLATES)
def test_jinja_stays_out_of_layout_attributes(locale: str, kind: str) -> None:
    """Jinja appears in MJML attributes only in href/src, and never in mj-attributes."""
    mjml_source = source(locale, kind, ".mjml")
    head_attributes = re.search(r"<mj-attributes>(.*?)</mj-attributes>", mjml_source, re.DOTALL)
    assert head_attributes is not None
    assert not JINJA_TAG.search(head_attributes.group(1))
    for tag, attributes in MJ_OPENING_TAG.findall(mjml_source):
        for name, value in ATTRIBUTE.findall(attributes):
            if JINJA_TAG.search(value):
                assert name in JINJA_SAFE_ATTRIBUTES, f"<{tag} {name}=...> holds Jinja"


@pytest.mark.parametrize(("locale", "kind"), ALL_TEMPLATES)
def test_only_standard_mjml_tags_are_used(locale: str, kind: str) -> None:
    """Every mj-* tag is a standard MJML 4 tag (mjml-python would pass a typo through)."""
    used = set(re.findall(r"</?(mj-[a-z-]+|mjml)\b", source(locale, kind, ".mjml")))
    assert used <= MJML_TAGS, used - MJML_TAGS


@pytest.mark.parametrize("locale", [locale for locale in LOCALES if locale != "en"])
@pytest.mark.parametrize("kind", KINDS)
def test_translated_templates_contain_no_english_boilerplate(locale: str, kind: str) -> None:
    """The German and French subject, body and text are translated: none of the English tell-tale phrases."""
    translated = "".join(source(locale, kind, part) for part in PARTS)
    leftovers = [phrase for phrase in ENGLISH_TELLTALES if phrase in translated]
    assert leftovers == []


@pytest.mark.parametrize("kind", KINDS)
def test_french_templates_use_french_punctuation(kind: str) -> None:
    """French puts a non-breaking space before ``:``, ``?``, ``!`` and ``;`` and inside « »."""
    french = "".join(source("fr", kind, part) for part in PARTS)
    prose = re.sub(r"<mj-style>.*?</mj-style>", " ", french, flags=re.DOTALL)  # CSS is no French
    words = re.sub(r"<[^>]*>|&\w+;", " ", JINJA_TAG.sub(" ", prose))
    assert re.findall(r"\w ?[:?!;](?=\s|$)|« | »", words, re.MULTILINE) == []


# ---------------------------------------------------------------- rendering the samples


@pytest.mark.parametrize(("locale", "kind", "variant"), ALL_SAMPLES)
def test_every_sample_renders_subject_html_and_text(locale: str, kind: str, variant: str) -> None:
    """Subject, HTML and text render against the sample context with no undefined names or stray None."""
    rendered = render_sample(locale, kind, variant)
    assert rendered.subject and "\n" not in rendered.subject
    assert rendered.html.startswith("<!doctype html>")
    assert f"<title>{escape(rendered.subject)}</title>" in rendered.html
    for body in (rendered.html, rendered.text):
        assert not JINJA_TAG.search(body)
        assert "None" not in body
    assert mentions(rendered, "Contoso Salon")


@pytest.mark.parametrize(("locale", "kind", "variant"), CUSTOMER_SAMPLES)
def test_customer_email_shows_manage_link_or_change_instructions(
    locale: str, kind: str, variant: str
) -> None:
    """The manage link appears exactly in the manage variant, the change instructions exactly in the other.

    A cancelled booking has nothing left to change: its email offers a new booking and the
    business's contact, never the change instructions (issue 18)."""
    context = sample_context(kind, variant, locale)
    rendered = render(locale, kind, context)
    instructions = sample_context(kind, "no-manage", locale)["change_instructions"]
    if kind == "cancelled":
        assert not html_has(rendered, instructions) and instructions not in rendered.text
        assert has_link(rendered, context["links"]["new_booking_url"])
        assert f'href="mailto:{context["business"]["email"]}"' in rendered.html
        assert context["business"]["email"] in rendered.text.split("-- ")[0]  # above the signature
        return
    if variant == "manage":
        assert has_link(rendered, manage_url(locale))
        assert not html_has(rendered, instructions) and instructions not in rendered.text
    else:
        # The link's token may open the .ics download (issue 18), never the manage page.
        assert manage_url(locale) not in rendered.html and manage_url(locale) not in rendered.text
        assert f'href="{MANAGE_URL}"' not in rendered.html and f"{MANAGE_URL}\n" not in rendered.text
        assert mentions(rendered, instructions)


@pytest.mark.parametrize(("locale", "kind", "variant"), CUSTOMER_SAMPLES)
def test_every_customer_email_links_to_new_booking_and_shows_contact(
    locale: str, kind: str, variant: str
) -> None:
    """A New booking link, the booking reference and the business's contact details are always there."""
    context = sample_context(kind, variant, locale)
    rendered = render(locale, kind, context)
    assert has_link(rendered, context["links"]["new_booking_url"])
    contact = [value for key, value in context["business"].items() if key != "phone_url"]  # a link form
    for value in (context["booking"]["ref"], *contact):
        assert mentions(rendered, value)


@pytest.mark.parametrize(("locale", "kind", "variant"), CUSTOMER_SAMPLES)
def test_reply_hint_only_with_the_manage_button_and_working_replies(
    locale: str, kind: str, variant: str
) -> None:
    """The reply-CANCEL hint shows only when the customer may manage and replying works."""
    context = sample_context(kind, variant, locale)
    hint = REPLY_HINT[locale]
    rendered = render(locale, kind, context)
    expected = variant == "manage" and kind != "cancelled"
    assert (hint in rendered.html) is expected
    assert (hint in rendered.text) is expected
    rendered = render(locale, kind, {**context, "reply_enabled": False})
    assert hint not in rendered.html and hint not in rendered.text


@pytest.mark.parametrize(("locale", "kind", "variant"), STAFF_SAMPLES)
def test_staff_email_links_to_admin_and_never_to_the_manage_page(
    locale: str, kind: str, variant: str
) -> None:
    """Staff emails carry the admin link and never the customer's manage link."""
    context = sample_context(kind, variant, locale)
    rendered = render(locale, kind, context)
    assert has_link(rendered, context["admin_url"])
    assert MANAGE_URL not in rendered.html and MANAGE_URL not in rendered.text


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", KINDS)
def test_templates_render_when_optional_values_are_empty(locale: str, kind: str) -> None:
    """No phone, no calendar link, no reason, no booking ref, no slots, no items: still renders cleanly."""
    context = sample_context(kind, "no-manage", locale)
    context["booking"].update(customer_phone="", cancel_reason=None, location="Studio 2, first floor")
    context["links"]["calendar_url"] = None
    context["reply_enabled"] = False
    if kind == "reschedule_options":
        context["slots"] = []
    if kind == "delivery_failed":
        context["failure"]["booking_ref"] = None
    if kind == "daily_agenda":
        context["agenda"]["items"] = []
    if kind == "customer_message":
        context["message"]["verified"] = False
    rendered = render(locale, kind, context)
    for body in (rendered.html, rendered.text):
        assert not JINJA_TAG.search(body)
        assert "None" not in body
    if kind not in ("delivery_failed", "daily_agenda"):
        assert mentions(rendered, "Studio 2, first floor")


# ---------------------------------------------------------------- kind by kind


@pytest.mark.parametrize("locale", LOCALES)
def test_reschedule_options_number_each_slot_and_link_it(locale: str) -> None:
    """Each free slot is numbered and linked, and the customer is told to reply with the number."""
    context = sample_context("reschedule_options", "manage", locale)
    rendered = render(locale, "reschedule_options", context)
    assert context["slots"]
    for slot in context["slots"]:
        assert has_link(rendered, slot["url"])
        assert mentions(rendered, slot["when"])
        assert f"{slot['number']}. {slot['when']}" in rendered.text
    number_hint = {
        "en": "reply to this email with just the number",
        "de": "mit der Nummer",
        "fr": "uniquement le numéro",
    }[locale]
    assert number_hint in rendered.html and number_hint in rendered.text


@pytest.mark.parametrize("locale", LOCALES)
def test_reschedule_options_without_slots_say_so_and_give_instructions(locale: str) -> None:
    """With no free slot found, the email says so and shows the change instructions, even with the button."""
    context = sample_context("reschedule_options", "manage", locale)
    context["slots"] = []
    rendered = render(locale, "reschedule_options", context)
    no_times = {
        "en": "could not find a free time",
        "de": "keine freie Zeit",
        "fr": "aucun créneau disponible",
    }[locale]
    assert no_times in rendered.html and no_times in rendered.text
    assert mentions(rendered, context["change_instructions"])


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", ["rescheduled", "booking_rescheduled"])
def test_rescheduled_emails_show_old_and_new_time(locale: str, kind: str) -> None:
    """Customer and staff see the previous time next to the new one."""
    context = sample_context(kind, "manage", locale)
    rendered = render(locale, kind, context)
    assert mentions(rendered, context["booking"]["date"])
    assert mentions(rendered, context["old_booking"]["date"])
    assert mentions(rendered, context["old_booking"]["staff_name"])
    if kind == "booking_rescheduled":
        before, after = {
            "en": ("Before", "After"),
            "de": ("Vorher", "Nachher"),
            "fr": ("Avant", "Après"),
        }[locale]
        assert mentions(rendered, before) and mentions(rendered, after)
        assert mentions(rendered, context["changed_by"])


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", ["cancelled", "booking_cancelled"])
def test_cancellations_give_the_reason_only_when_there_is_one(locale: str, kind: str) -> None:
    """The cancel reason is quoted when given, and its label is absent when it is None."""
    context = sample_context(kind, "no-manage", locale)
    reason = context["booking"]["cancel_reason"]
    assert reason
    assert mentions(render(locale, kind, context), reason)
    context["booking"]["cancel_reason"] = None
    label = {"en": "Reason", "de": "Grund", "fr": "Motif"}[locale]
    rendered = render(locale, kind, context)
    assert label not in rendered.html and label not in rendered.text


@pytest.mark.parametrize("locale", LOCALES)
def test_action_refused_explains_why_and_says_staff_know(locale: str) -> None:
    """The refusal names the action, gives the reason, and says the team has been told."""
    for variant, verb in (
        ("manage", {"en": "move", "de": "verschoben", "fr": "déplacer"}),
        ("no-manage", {"en": "cancel", "de": "storniert", "fr": "annuler"}),
    ):
        context = sample_context("action_refused", variant, locale)
        rendered = render(locale, "action_refused", context)
        assert verb[locale] in rendered.subject
        assert mentions(rendered, context["refused"]["reason_text"])
        told = {
            "en": "Our team has been told",
            "de": "Unser Team ist über Ihre Anfrage informiert",
            "fr": "Notre équipe a été informée de votre demande",
        }[locale]
        assert told in rendered.html and told in rendered.text


@pytest.mark.parametrize("locale", LOCALES)
def test_unverified_customer_message_warns_staff(locale: str) -> None:
    """A message from an address other than the booking's carries a clear warning, a verified one does not."""
    context = sample_context("customer_message", "manage", locale)
    warning = UNVERIFIED_WARNING[locale]
    rendered = render(locale, "customer_message", context)
    assert warning not in rendered.html and warning.lower() not in rendered.text.lower()
    context["message"].update(verified=False, from_email="someone@elsewhere.example")
    rendered = render(locale, "customer_message", context)
    assert warning in rendered.html and warning.lower() in rendered.text.lower()
    assert "someone@elsewhere.example" in rendered.html
    reply = {
        "en": "Reply to this email",
        "de": "Antworten Sie einfach auf diese E-Mail",
        "fr": "Répondez à cet e-mail",
    }[locale]
    assert reply in rendered.html and reply in rendered.text


def test_customer_message_text_is_escaped_and_keeps_its_line_breaks() -> None:
    """The forwarded text cannot inject HTML, and its lines stay lines."""
    context = sample_context("customer_message", "manage", "en")
    context["message"]["text"] = "<script>alert(1)</script>\nsecond line"
    rendered = render("en", "customer_message", context)
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;<br />second line" in rendered.html
    assert "<script>alert(1)</script>\nsecond line" in rendered.text


@pytest.mark.parametrize("locale", LOCALES)
def test_delivery_failure_names_recipient_reason_and_booking(locale: str) -> None:
    """Staff learn who did not get which email, the server's words, and the booking."""
    context = sample_context("delivery_failed", "manage", locale)
    rendered = render(locale, "delivery_failed", context)
    failure = context["failure"]
    for value in (
        failure["recipient"],
        failure["reason"],
        failure["booking_ref"],
        context["booking"]["customer_phone"],
    ):
        assert mentions(rendered, value)
    kind_name = {"en": "reminder", "de": "Terminerinnerung", "fr": "rappel de rendez-vous"}[locale]
    assert kind_name in rendered.html and kind_name in rendered.text


@pytest.mark.parametrize("locale", LOCALES)
def test_daily_agenda_lists_every_appointment_with_a_link(locale: str) -> None:
    """Each of tomorrow's appointments is a row with time, customer, service and an admin link."""
    context = sample_context("daily_agenda", "manage", locale)
    rendered = render(locale, "daily_agenda", context)
    items = context["agenda"]["items"]
    assert len(items) == 3
    for item in items:
        assert has_link(rendered, item["url"])
        for key in ("time_range", "service_name", "customer_name", "customer_email", "ref"):
            assert mentions(rendered, item[key])
    assert rendered.html.count('href="' + items[0]["url"]) == 1


# ---------------------------------------------------------------- sample contexts


def test_sample_contexts_cover_every_kind_and_variant() -> None:
    """Every kind has both variants; staff variants differ only in the manage decision and its links."""
    assert set(SAMPLE_CONTEXTS) == set(KINDS)
    for kind, variants in SAMPLE_CONTEXTS.items():
        assert set(variants) == set(VARIANTS)
        assert variants["manage"]["manage"]["allowed"] is True
        assert variants["no-manage"]["manage"]["allowed"] is False
        assert variants["no-manage"]["links"]["manage_url"] is None
        if kind in STAFF_KINDS:
            differing = {
                key for key in variants["manage"] if variants["manage"][key] != variants["no-manage"][key]
            }
            assert differing == {"manage", "links"}


def test_sample_context_is_a_fresh_copy_in_the_asked_locale() -> None:
    """Each call returns an independent copy with the locale set and the strings in that locale."""
    german = sample_context("reminder", "no-manage", "de")
    german_date = format_when(
        SAMPLE_START, SAMPLE_START + SAMPLE_DURATION, "de", SAMPLE_TIMEZONE, regional=True
    ).date
    assert german["locale"] == "de"
    assert german["booking"]["date"] == german_date and "März 2026" in german_date
    assert german["booking"]["timezone_name"] == "MEZ"
    german["booking"]["date"] = "changed"
    assert sample_context("reminder", "no-manage", "de")["booking"]["date"] == german_date
    english_date = format_when(
        SAMPLE_START, SAMPLE_START + SAMPLE_DURATION, "en", SAMPLE_TIMEZONE, regional=True
    ).date
    assert SAMPLE_CONTEXTS["reminder"]["no-manage"]["booking"]["date"] == english_date
    french = sample_context("reminder", "manage", "fr")
    assert french["locale"] == "fr" and "mars 2026" in french["booking"]["date"]
    spanish = sample_context("reminder", "manage", "es")  # no hand-written strings: English ones
    assert spanish["locale"] == "es" and spanish["change_instructions"].startswith("To change or cancel")


def test_sample_dates_are_formatted_as_real_emails_format_them() -> None:
    """Every date in the samples is ``format_when``'s text for the sample moment, in each locale."""
    for locale in SAMPLE_LOCALES:
        booked = format_when(
            SAMPLE_START, SAMPLE_START + SAMPLE_DURATION, locale, SAMPLE_TIMEZONE, regional=True
        )
        context = sample_context("reschedule_options", "manage", locale)
        assert context["booking"]["when"] == booked.when
        assert context["booking"]["time_range"] == booked.time_range
        assert [slot["when"] for slot in context["slots"]] == [
            format_when(start, start + SAMPLE_DURATION, locale, SAMPLE_TIMEZONE, regional=True).when
            for start in SLOT_STARTS
        ]


def test_sample_links_start_with_the_public_url_asked_for() -> None:
    """Every link of a sample starts with the given public URL (a trailing slash is dropped)."""
    context = sample_context("daily_agenda", "manage", "en", "https://book.example.org/")
    links = [
        *context["links"].values(),
        context["admin_url"],
        *(i["url"] for i in context["agenda"]["items"]),
    ]
    assert all(link is None or link.startswith("https://book.example.org/") for link in links)
    assert "https://book.example.org/m/" in context["links"]["manage_url"]
    assert "127.0.0.1" not in str(context)


def test_sample_context_rejects_unknown_kind_and_variant() -> None:
    """An unknown kind or variant fails with a message listing the valid ones."""
    with pytest.raises(InvalidInput, match="confirmation"):
        sample_context("invoice", "manage", "en")
    with pytest.raises(InvalidInput, match="no-manage"):
        sample_context("reminder", "maybe", "en")


@pytest.mark.parametrize("locale", LOCALES)
def test_the_cancelled_email_says_who_cancelled(locale: str) -> None:
    """ "As you asked" when the customer cancelled, "we had to cancel" when the business did."""
    words = {
        "en": ("As you asked", "we had to cancel"),
        "de": ("wie gewünscht", "mussten wir den folgenden Termin absagen"),
        "fr": ("Comme vous l’avez demandé", "nous avons dû annuler"),
    }[locale]
    for who, expected, other in (("customer", *words), ("business", *reversed(words))):
        context = sample_context("cancelled", "no-manage", locale)
        context["cancelled_by"] = who
        rendered = render(locale, "cancelled", context)
        assert expected in rendered.text and expected in rendered.html
        assert other not in rendered.text and other not in rendered.html


@pytest.mark.parametrize("locale", LOCALES)
def test_booking_rescheduled_strikes_through_only_what_changed(locale: str) -> None:
    """Same staff member, new time: the old date and time are struck through, the name is not."""
    context = sample_context("booking_rescheduled", "manage", locale)
    context["old_booking"]["staff_name"] = context["booking"]["staff_name"]
    html = render(locale, "booking_rescheduled", context).html
    struck = re.findall(r'text-decoration:line-through;?"?[^>]*>([^<]*)<', html)
    assert context["old_booking"]["date"] in struck
    assert context["old_booking"]["time_range"] in struck
    assert context["booking"]["staff_name"] not in struck


@pytest.mark.parametrize(("locale", "kind", "variant"), CUSTOMER_SAMPLES)
def test_customer_email_links_the_booking_page_in_its_language(locale: str, kind: str, variant: str) -> None:
    """Every link to the booking page carries the email's language, so the page opens in it."""
    rendered = render(locale, kind, sample_context(kind, variant, locale))
    booking_pages = [
        href for href in re.findall(r'href="([^"]+)"', rendered.html) if urlsplit(href).path == "/book"
    ]
    assert booking_pages and all(href.endswith(f"/book?lang={locale}") for href in booking_pages)


NOTE_LABELS = {"en": "Note", "de": "Anmerkung", "fr": "Remarque"}


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(
    "kind", ["booking_created", "booking_rescheduled", "booking_reassigned", "booking_cancelled"]
)
def test_staff_email_shows_the_customers_note_only_when_there_is_one(locale: str, kind: str) -> None:
    """The customer's note is a row of the staff email (HTML and text); without a note there is no row."""
    context = sample_context(kind, "manage", locale)
    note = context["booking"]["note"]
    with_note = render(locale, kind, context)
    assert note and html_has(with_note, note) and note in with_note.text
    assert NOTE_LABELS[locale] in with_note.html and NOTE_LABELS[locale] in with_note.text
    context["booking"] = {**context["booking"], "note": ""}
    without = render(locale, kind, context)
    assert NOTE_LABELS[locale] not in without.html and NOTE_LABELS[locale] not in without.text


@pytest.mark.parametrize(("locale", "kind", "variant"), CUSTOMER_SAMPLES)
def test_add_to_calendar_links_with_and_without_the_manage_button(
    locale: str, kind: str, variant: str
) -> None:
    """Google, Outlook on the web and the .ics download, in HTML and text, in both variants of
    every email about a booking with a time; in no other customer email (issue 18)."""
    context = sample_context(kind, variant, locale)
    rendered = render(locale, kind, context)
    links = [context["links"][key] for key in ("add_to_google", "add_to_outlook", "calendar_url")]
    if kind in ("confirmation", "reminder", "rescheduled"):
        assert all(links)
        assert links[0].startswith("https://calendar.google.com/calendar/render?action=TEMPLATE&")
        assert links[1].startswith("https://outlook.live.com/calendar/0/deeplink/compose?")
        for url in links:
            assert has_link(rendered, url), url
    else:
        assert links == [None, None, None]
        assert "calendar.google.com" not in rendered.html + rendered.text
        assert "outlook.live.com" not in rendered.html + rendered.text


def contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two ``#rrggbb`` colours."""

    def luminance(colour: str) -> float:
        channels = [int(colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize(("locale", "kind"), ALL_TEMPLATES)
def test_small_print_is_readable(locale: str, kind: str) -> None:
    """The footer on the page background and muted text in the white card reach 4.5:1 (WCAG AA)."""
    source = (TEMPLATE_DIR / locale / f"{kind}.mjml").read_text()
    page = re.search(r'<mj-body[^>]*background-color="(#[0-9a-f]{6})"', source)
    footer = re.search(r'<mj-class name="footer"[^>]*color="(#[0-9a-f]{6})"', source)
    muted = re.search(r'<mj-class name="muted"[^>]*color="(#[0-9a-f]{6})"', source)
    assert page and footer and muted, kind
    assert contrast(footer.group(1), page.group(1)) >= 4.5
    assert contrast(muted.group(1), "#ffffff") >= 4.5
    for link_colour in re.findall(r'mj-class="footer"[^>]*>.*?</mj-text>', source, flags=re.S):
        for colour in re.findall(r"color:(#[0-9a-f]{6})", link_colour):
            assert contrast(colour, page.group(1)) >= 4.5, colour


@pytest.mark.parametrize(("locale", "kind"), ALL_TEMPLATES)
def test_the_preheader_is_padded_so_the_inbox_shows_it_alone(locale: str, kind: str) -> None:
    """After the preheader's words come invisible fillers (inbox lists show nothing more), and
    neither the text part nor the visible HTML carries them."""
    from mailflow.outbound.render import Renderer
    from mailflow.outbound.templates import default_source

    rendered = Renderer().render(default_source(kind, locale), sample_context(kind, "manage", locale))
    hidden = re.search(r'<div\s+style="display:none;[^"]*">(.*?)</div>', rendered.html, flags=re.S)
    assert hidden is not None
    words, _, filler = hidden.group(1).partition("&#847;")
    assert words.strip() and filler.count("&zwnj;") >= 80
    assert rendered.html.count("&#847;") == 90  # only there
    assert "\u034f" not in rendered.text and "\u200c" not in rendered.text
