"""Simple mode: a template as a few fields of words, laid out in the shipped design.

An admin who does not write MJML edits, per kind and language, the subject, the
greeting, the body paragraphs and a sign-off. ``simple_source`` turns them into a
whole template: the shipped default of that kind and language is the layout (its
heading, booking facts table, buttons, change instructions and footer stay as
shipped), the greeting and paragraphs replace its opening words, and the
sign-off closes the card. The text part is made the same way from the shipped
text part. Fields are plain words: ``{name}``-style placeholders (``PLACEHOLDERS``)
bring in booking facts; nothing else in braces is allowed, so a field cannot
carry template code.

A kind whose opening words depend on the booking (``{% if %}``: a cancellation by
the customer or by the business, free slots or none…) has no simple mode: its
default cannot be said as fixed paragraphs without losing that choice.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import cache
from typing import Final

from mailflow.errors import InvalidInput
from mailflow.i18n import N_
from mailflow.outbound.templates import TemplateSource, default_source

# Placeholder -> the context value it stands for.
PLACEHOLDERS: Final = {
    "name": "recipient.name",
    "business": "business.name",
    "service": "booking.service_name",
    "date": "booking.date",
    "when": "booking.when",
    "time": "booking.time_range",
    "staff": "booking.staff_name",
    "customer": "booking.customer_name",
    "ref": "booking.ref",
    "day": "booking.day_time",
    "soon": "booking.soon",
}
_JINJA_OF = {f"{{{{ {value} }}}}": key for key, value in PLACEHOLDERS.items()}
_INTRO = re.compile(r'(<mj-text mj-class="heading">.*?</mj-text>\s*<mj-text>)(.*?)(</mj-text>)', re.DOTALL)
_SIGN_OFF = re.compile(
    r'\s*<mj-section>\s*<mj-column>\s*<mj-text css-class="mf-sign-off">(.*?)</mj-text>'
    r"\s*</mj-column>\s*</mj-section>(?=\s*</mj-wrapper>)",
    re.DOTALL,
)
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_BR = "<br />"
_SIGNATURE = "\n-- \n"


@dataclass(frozen=True, slots=True)
class SimpleFields:
    """The words of a template in simple mode (placeholders as ``{name}``)."""

    subject: str
    greeting: str
    paragraphs: tuple[str, ...]
    sign_off: str = ""


def _to_words(jinja: str) -> str | None:
    """Template text with only known ``{{ … }}`` values as placeholders; None when it holds more."""
    words = jinja
    for tag, key in _JINJA_OF.items():
        words = words.replace(tag, f"{{{key}}}")
    if "{{" in words or "{%" in words or "{#" in words or "<" in words.replace(_BR, ""):
        return None
    return words


def _to_template(words: str, field: str, *, markup: bool) -> str:
    """Field words as template text: escaped for HTML when ``markup``, placeholders as Jinja."""
    for brace in re.sub(_PLACEHOLDER, "", words):
        if brace in "{}":
            raise InvalidInput(
                N_("Braces are only for the placeholders: {placeholders}."),
                field=field,
                placeholders=", ".join(f"{{{key}}}" for key in PLACEHOLDERS),
            )
    unknown = [key for key in _PLACEHOLDER.findall(words) if key not in PLACEHOLDERS]
    if unknown:
        raise InvalidInput(
            N_("Unknown placeholder {{{name}}}: use one of {placeholders}."),
            field=field,
            name=unknown[0],
            placeholders=", ".join(f"{{{key}}}" for key in PLACEHOLDERS),
        )
    text = html.escape(words, quote=False) if markup else words
    return _PLACEHOLDER.sub(lambda m: f"{{{{ {PLACEHOLDERS[m.group(1)]} }}}}", text)


def _lines(text: str) -> str:
    return text.replace("\r\n", "\n").strip()


def _paragraphs(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in re.split(r"\n\s*\n", _lines(text)) if p.strip())


@cache
def _layout(kind: str, locale: str) -> tuple[TemplateSource, SimpleFields] | None:
    """The shipped default of ``(kind, locale)`` and its words, or None when simple mode cannot say it."""
    try:
        default = default_source(kind, locale)
    except FileNotFoundError:
        return None
    fields = _fields_of(default)
    return (default, fields) if fields is not None else None


def _fields_of(source: TemplateSource) -> SimpleFields | None:
    match = _INTRO.search(source.mjml)
    subject = _to_words(source.subject)
    if match is None or subject is None:
        return None
    intro = _to_words(match.group(2).strip())
    if intro is None:
        return None
    greeting, _, rest = intro.partition(_BR) if _BR in intro else ("", "", intro)
    paragraphs = tuple(p.replace(_BR, "\n").strip() for p in rest.split(_BR + _BR) if p.strip())
    sign_off = ""
    found = _SIGN_OFF.search(source.mjml)
    if found:
        words = _to_words(found.group(1).strip())
        if words is None:
            return None
        sign_off = words.replace(_BR, "\n")
    return SimpleFields(
        html.unescape(subject),
        html.unescape(greeting.strip()),
        tuple(html.unescape(p) for p in paragraphs),
        html.unescape(sign_off),
    )


def simple_available(kind: str, locale: str) -> bool:
    """Whether ``(kind, locale)`` has a simple mode (its shipped opening words are fixed paragraphs)."""
    return _layout(kind, locale) is not None


def simple_fields(source: TemplateSource) -> SimpleFields | None:
    """The words of ``source`` when simple mode made it (or it is the shipped default); else None.

    None also for a kind without simple mode. A template edited in source mode
    (its MJML or its text part) gives None: simple mode would lose what was
    changed outside its fields.
    """
    layout = _layout(source.kind, source.locale)
    if layout is None:
        return None
    fields = _fields_of(source)
    if fields is None:
        return None
    try:
        again = simple_source(source.kind, source.locale, fields)
    except InvalidInput:
        return None
    same = (again.subject, again.mjml, again.text) == (source.subject, source.mjml, source.text)
    return fields if same else None


def default_fields(kind: str, locale: str) -> SimpleFields | None:
    """The words of the shipped default of ``(kind, locale)``; None without simple mode."""
    layout = _layout(kind, locale)
    return layout[1] if layout else None


def parse_fields(subject: str, greeting: str, paragraphs: str, sign_off: str) -> SimpleFields:
    """The simple form's fields as posted (paragraphs: one text, a blank line between two)."""
    return SimpleFields(
        " ".join(_lines(subject).split()),
        " ".join(_lines(greeting).split()),
        _paragraphs(paragraphs),
        _lines(sign_off),
    )


def simple_source(kind: str, locale: str, fields: SimpleFields) -> TemplateSource:
    """The whole template for ``fields``, in the shipped layout of ``(kind, locale)``.

    Raises ``InvalidInput`` (with ``field``) for a kind without simple mode, an
    empty subject or body, braces that are not a placeholder, or an unknown placeholder.
    """
    layout = _layout(kind, locale)
    if layout is None:
        raise InvalidInput(N_("This email has no simple mode: edit its source."), field="subject")
    default, shipped = layout
    if not fields.subject:
        raise InvalidInput(N_("The subject is empty."), field="subject")
    if not fields.paragraphs:
        raise InvalidInput(N_("Write at least one paragraph."), field="paragraphs")
    subject = _to_template(fields.subject, "subject", markup=False)
    greeting = _to_template(fields.greeting, "greeting", markup=True)
    paras = [_to_template(p, "paragraphs", markup=True).replace("\n", _BR) for p in fields.paragraphs]
    sign_off = _to_template(fields.sign_off, "sign_off", markup=True).replace("\n", _BR)
    intro = (greeting + _BR if greeting else "") + (_BR + _BR).join(paras)
    mjml = _SIGN_OFF.sub("", default.mjml)
    mjml = _INTRO.sub(lambda m: m.group(1) + intro + m.group(3), mjml, count=1)
    if sign_off:
        closing = (
            '\n      <mj-section>\n        <mj-column>\n          <mj-text css-class="mf-sign-off">'
            f"{sign_off}</mj-text>\n        </mj-column>\n      </mj-section>"
        )
        mjml = re.sub(r"(?=\s*</mj-wrapper>)", lambda _: closing, mjml, count=1)
    text = _text(default, shipped, fields)
    return TemplateSource(kind=kind, locale=locale, subject=subject, mjml=mjml, text=text)


def _text(default: TemplateSource, shipped: SimpleFields, fields: SimpleFields) -> str | None:
    """The shipped text part with its opening words replaced (None: made from the HTML instead)."""
    if default.text is None:
        return None
    blocks = default.text.split("\n\n")
    heading = re.search(r'<mj-text mj-class="heading">(.*?)</mj-text>', default.mjml, re.DOTALL)
    kept = 1 if heading and blocks[0].strip() == html.unescape(heading.group(1).strip()) else 0
    opening = ([shipped.greeting] if shipped.greeting else []) + list(shipped.paragraphs)
    said = [_to_words(block.strip()) for block in blocks[kept : kept + len(opening)]]
    if [html.unescape(w or "") for w in said] != opening:
        return None  # the shipped text does not open with the same words: derive it from the HTML
    words = ([fields.greeting] if fields.greeting else []) + list(fields.paragraphs)
    opened = [_to_template(w, "paragraphs", markup=False) for w in words]
    text = "\n\n".join([*blocks[:kept], *opened, *blocks[kept + len(opening) :]])
    if fields.sign_off:
        closing = _to_template(fields.sign_off, "sign_off", markup=False)
        head, mark, tail = text.partition(_SIGNATURE)
        text = f"{head.rstrip()}\n\n{closing}\n{mark}{tail}" if mark else f"{text.rstrip()}\n\n{closing}\n"
    return text
