"""Checks that the gettext catalogs are complete, every template folder has every kind, and
every language has both (a language is one catalog plus one template folder).

``python -m mailflow.catalogs check`` (``scripts/check-catalogs``) prints each problem and
exits non-zero when there is one.  The messages are extracted with Babel the same way as
``pybabel extract -F babel.cfg --no-default-keywords -k …`` with the keywords below.
"""

from __future__ import annotations

import io
import sys
import warnings
from gettext import GNUTranslations
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from mailflow.i18n import DOMAIN, LOCALE_DIR
from mailflow.kinds import CUSTOMER_KINDS, STAFF_KINDS

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = Path(__file__).with_name("templates")
TEMPLATE_SUFFIXES = (".mjml", ".subject.txt", ".txt")

# ``_``/``t`` in pages, ``gettext``/``ngettext``/``message`` take the locale first, ``N_`` marks,
# ``Nn_`` marks a plural pair (an error's text, chosen by its count when shown).
KEYWORDS: dict[str, tuple[int, ...] | None] = {
    "_": None,
    "t": None,
    "N_": None,
    "Nn_": (1, 2),
    "gettext": (2,),
    "ngettext": (2, 3),
    "message": (2,),
}
EXTRACT_COMMAND = (
    "pybabel extract -F babel.cfg --no-default-keywords -k _ -k t -k N_ -k Nn_:1,2 -k gettext:2 "
    "-k ngettext:2,3 -k message:2 -c TRANSLATORS: -o mailflow/locale/mailflow.pot ."
)


def languages() -> list[str]:
    return sorted(path.parent.parent.name for path in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def extracted() -> set[str | tuple[str, str]]:
    """Every msgid (a pair for plurals) that the code and the page templates use."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)  # type: ignore[no-untyped-call]
    found: set[str | tuple[str, str]] = set()
    with warnings.catch_warnings():  # the computed names (f"reason.{code}") are marked with N_ instead
        warnings.simplefilter("ignore")
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS
        ):
            found.add(message if isinstance(message, str) else (message[0], message[1]))
    return found


def catalog(language: str) -> Catalog:
    with (LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        return read_po(po, locale=language, domain=DOMAIN)


def compiled(language: str) -> bytes:
    """The ``.mo`` that ``pybabel compile`` writes for ``language``'s ``.po``."""
    out = io.BytesIO()
    write_mo(out, catalog(language))
    return out.getvalue()


def same_messages(mo: bytes, other: bytes) -> bool:
    """Whether two ``.mo`` files hold the same texts (byte order may differ between Babel versions)."""
    return bool(
        GNUTranslations(io.BytesIO(mo))._catalog  # type: ignore[attr-defined]
        == GNUTranslations(io.BytesIO(other))._catalog  # type: ignore[attr-defined]
    )


def catalog_problems(language: str, wanted: set[str | tuple[str, str]]) -> list[str]:
    problems = []
    po = catalog(language)
    have = {message.id if isinstance(message.id, str) else tuple(message.id) for message in po if message.id}
    problems += [f"{language}: missing {msgid!r}" for msgid in sorted(wanted - have, key=str)]
    for message in po:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
        if not all(strings):
            problems.append(f"{language}: untranslated {message.id!r}")
        if message.fuzzy:
            problems.append(f"{language}: fuzzy {message.id!r}")
    mo = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
    if not mo.exists() or not same_messages(mo.read_bytes(), compiled(language)):
        problems.append(f"{language}: {mo.name} does not match {DOMAIN}.po (run scripts/catalogs compile)")
    return problems


def template_problems() -> list[str]:
    problems = []
    for folder in sorted(path for path in TEMPLATES.iterdir() if path.is_dir()):
        for kind in (*CUSTOMER_KINDS, *STAFF_KINDS):  # the account kinds have no template files
            for suffix in TEMPLATE_SUFFIXES:
                if not (folder / f"{kind.value}{suffix}").exists():
                    problems.append(f"templates/{folder.name}: missing {kind.value}{suffix}")
    return problems


def language_problems() -> list[str]:
    """A language is a catalog and a template folder: one without the other is a problem."""
    catalogs = set(languages())
    folders = {path.name for path in TEMPLATES.iterdir() if path.is_dir() and not path.name.startswith("_")}
    return [
        f"{language}: a catalog but no templates/{language}" for language in sorted(catalogs - folders)
    ] + [f"templates/{language}: no catalog locale/{language}" for language in sorted(folders - catalogs)]


def problems() -> list[str]:
    wanted = extracted()
    found = [problem for language in languages() for problem in catalog_problems(language, wanted)]
    return found + template_problems() + language_problems()


def main(argv: list[str]) -> int:
    if argv != ["check"]:
        print("usage: python -m mailflow.catalogs check", file=sys.stderr)
        return 2
    found = problems()
    for problem in found:
        print(problem)
    print(f"{len(languages())} catalogs, {len(found)} problems")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
