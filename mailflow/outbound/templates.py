"""Where a template's text comes from: the shipped defaults in ``mailflow/templates``.

A template is ``(kind, locale)`` with three parts: a subject (Jinja), a body
(MJML with Jinja) and an optional text body (Jinja). An admin's edit stored in
the database overrides the file (see ``template_store``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
PART_SUFFIXES = {"subject": ".subject.txt", "mjml": ".mjml", "text": ".txt"}


@dataclass(frozen=True, slots=True)
class TemplateSource:
    """The text of one template; ``version`` is None for the shipped default."""

    kind: str
    locale: str
    subject: str
    mjml: str
    text: str | None
    version: int | None = None
    digest: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.digest:
            blob = "\x00".join((self.subject, self.mjml, self.text or "\x01")).encode()
            object.__setattr__(self, "digest", hashlib.sha256(blob).hexdigest())

    @property
    def origin(self) -> str:
        return "default" if self.version is None else f"version {self.version}"


@cache
def default_locales() -> tuple[str, ...]:
    """Locales that ship default templates (``en``, ``de``, …)."""
    return tuple(sorted(p.name for p in TEMPLATE_DIR.iterdir() if p.is_dir() and not p.name.startswith("_")))


def read_parts(directory: Path, kind: str) -> tuple[str, str, str | None]:
    """Read ``<kind>.subject.txt``, ``<kind>.mjml`` and the optional ``<kind>.txt`` from ``directory``."""
    subject = (directory / f"{kind}{PART_SUFFIXES['subject']}").read_text(encoding="utf-8")
    mjml = (directory / f"{kind}{PART_SUFFIXES['mjml']}").read_text(encoding="utf-8")
    text_path = directory / f"{kind}{PART_SUFFIXES['text']}"
    text = text_path.read_text(encoding="utf-8") if text_path.exists() else None
    return subject.strip(), mjml, text


def write_parts(directory: Path, source: TemplateSource) -> None:
    """Write a template's parts in the export layout ``DIR/<locale>/<kind>.*``."""
    target = directory / source.locale
    target.mkdir(parents=True, exist_ok=True)
    (target / f"{source.kind}{PART_SUFFIXES['subject']}").write_text(source.subject + "\n", encoding="utf-8")
    (target / f"{source.kind}{PART_SUFFIXES['mjml']}").write_text(source.mjml, encoding="utf-8")
    if source.text is not None:
        (target / f"{source.kind}{PART_SUFFIXES['text']}").write_text(source.text, encoding="utf-8")


@cache
def default_source(kind: str, locale: str) -> TemplateSource:
    """The shipped default of ``(kind, locale)``; ``FileNotFoundError`` when there is none."""
    subject, mjml, text = read_parts(TEMPLATE_DIR / locale, kind)
    return TemplateSource(kind=kind, locale=locale, subject=subject, mjml=mjml, text=text)


def _plain(text: str) -> str:
    return text.replace("\r\n", "\n").strip()


def text_follows_html(source: TemplateSource) -> bool:
    """Whether the text part of ``source`` is made from its HTML rather than from its text body.

    It is when there is no text body, and when the MJML differs from the shipped
    default's while the text body is still the default's: an admin who edited only
    the HTML gets it in the text part too (an added sentence is in both), and one
    who edited the text keeps their text. The shipped defaults keep their own text.
    """
    if source.text is None:
        return True
    try:
        default = default_source(source.kind, source.locale)
    except FileNotFoundError:  # no shipped default to compare with: the text is the admin's
        return False
    if default.text is None:
        return False
    return _plain(source.mjml) != _plain(default.mjml) and _plain(source.text) == _plain(default.text)


def pick_locale(wanted: str | None, business_default: str, available: tuple[str, ...]) -> str:
    """Locale fallback: the recipient's locale, its language, the business default, then ``en``."""
    for candidate in (wanted, (wanted or "").split("-")[0].split("_")[0], business_default, "en"):
        if candidate and candidate in available:
            return candidate
    return available[0]
