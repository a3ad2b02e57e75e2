"""Reply stripping on real mail from other projects' corpora (see ../shared/corpora/README.md).

email-reply-trimmer (Discourse) keeps closing formulas ("Best regards / Some One")
because a forum shows them; mailflow drops them so that "Verschieben / Viele
Grüße / Max" reads as a command. Its corpus is therefore compared with
``strip_reply(text, keep_closing=True)``; the rate of the default is reported too,
and the default may only differ by a closing dropped at the end.

talon's expected text keeps the signature (talon strips it in a separate step):
``iphone.eml`` and ``sparrow.eml`` are compared with ``keep_signature=True``, and
the default must give the bare "Hello".

The corpora are not part of the repository: set ``MAILFLOW_CORPORA`` or keep them
at ``<repo>/../shared/corpora``.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailflow.inbound.strip import new_text, strip_reply
from tests.conftest import CORPORA_DIR

REPO = Path(__file__).resolve().parents[2]
CORPORA = CORPORA_DIR
TRIMMER = CORPORA / "email-reply-trimmer" / "test"
STANDARD = CORPORA / "talon" / "tests" / "fixtures" / "standard_replies"
HTML = CORPORA / "talon" / "tests" / "fixtures" / "html_replies"
MISSING = "<corpora missing>"
MIN_TRIMMER_RATE = 0.90

# Files where the corpus and mailflow disagree on purpose; they count as failures in
# the rate, and for them the output must still be the expected text with lines left out.
AMBIGUOUS_TRIMMER = {
    "quote_and_text.txt": "corpus keeps a leading '>' quote; mailflow drops every quoted line",
    "quote_only.txt": "corpus keeps a message that is only a quote; for mailflow there is no new text",
    "embedded_email_16.txt": "corpus keeps the quote above the answer; mailflow keeps only the answer",
    "embedded_email_7.txt": "interleaved answer: corpus keeps the quote and the text below it; mailflow cuts "
    "at the quote header below new text",
    "embedded_email_17.txt": "corpus keeps a second quoted message and its '>' lines; mailflow cuts at the "
    "second quote header",
}
QUOTE_RESIDUE = [
    re.compile(r"^>", re.MULTILINE),
    re.compile(r"^On\s.*\bwrote:?\s*$", re.MULTILINE),
    re.compile(r"^Am\s.*\bschrieb\b", re.MULTILINE),
    re.compile(r"-----\s*Original Message\s*-----", re.IGNORECASE),
    re.compile(r"-----\s*Ursprüngliche Nachricht\s*-----", re.IGNORECASE),
]
HTML_REPLY_LINES = ["Hi. I am fine.", "Thanks,", "Alex"]


def names(folder: Path, pattern: str) -> list[str]:
    """The corpus files to parametrize over, or one placeholder when the corpora are missing."""
    found = sorted(path.name for path in folder.glob(pattern)) if folder.is_dir() else []
    return found or [MISSING]


def normalized(text: str) -> str:
    """Each line stripped, blank-line runs collapsed, ends stripped."""
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def is_subsequence(part: list[str], whole: list[str]) -> bool:
    rest = iter(whole)
    return all(line in rest for line in part)


def parse(path: Path) -> EmailMessage:
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def html_message(path: Path) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "alex@example.com"
    msg.set_content(path.read_text(encoding="utf-8"), subtype="html")
    return msg


def trimmer_case(name: str) -> tuple[str, str]:
    source = (TRIMMER / "emails" / name).read_text(encoding="utf-8")
    return source, (TRIMMER / "trimmed" / name).read_text(encoding="utf-8")


def rate(cases: list[str], matches: Callable[[str], bool]) -> tuple[int, int]:
    return sum(1 for case in cases if matches(case)), len(cases)


# --- email-reply-trimmer -----------------------------------------------------------------


@pytest.mark.parametrize("name", names(TRIMMER / "emails", "*.txt"))
def test_trimmer_email_gives_the_trimmed_text(corpora: Path, name: str) -> None:
    """Each trimmer email gives its trimmed text (closings kept), or a documented subset of it."""
    source, expected = trimmer_case(name)
    got = normalized(strip_reply(source, keep_closing=True))
    if name in AMBIGUOUS_TRIMMER:
        assert got != normalized(expected), f"{name} matches now: drop it from AMBIGUOUS_TRIMMER"
        assert is_subsequence(got.splitlines(), normalized(expected).splitlines()), AMBIGUOUS_TRIMMER[name]
    else:
        assert got == normalized(expected)


@pytest.mark.parametrize("name", names(TRIMMER / "emails", "*.txt"))
def test_trimmer_output_has_no_quote_residue(corpora: Path, name: str) -> None:
    """No output keeps a ``>`` line, "On … wrote:", "Am … schrieb" or an original-message separator."""
    source, _ = trimmer_case(name)
    for got in (strip_reply(source), strip_reply(source, keep_closing=True)):
        residue = [pattern.pattern for pattern in QUOTE_RESIDUE if pattern.search(got)]
        assert not residue, f"{name}: {residue} in {got!r}"


@pytest.mark.parametrize("name", names(TRIMMER / "emails", "*.txt"))
def test_trimmer_default_only_drops_a_closing_more(corpora: Path, name: str) -> None:
    """The default output is the keep-closing output, possibly shortened at its end."""
    source, _ = trimmer_case(name)
    assert strip_reply(source, keep_closing=True).startswith(strip_reply(source))


def test_trimmer_exact_match_rate(corpora: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """At least 90 % of the trimmer corpus matches exactly, the ambiguous files counted as misses."""
    cases = names(TRIMMER / "emails", "*.txt")

    def exact(keep_closing: bool) -> Callable[[str], bool]:
        def matches(name: str) -> bool:
            source, expected = trimmer_case(name)
            return normalized(strip_reply(source, keep_closing=keep_closing)) == normalized(expected)

        return matches

    kept, total = rate(cases, exact(keep_closing=True))
    default, _ = rate(cases, exact(keep_closing=False))
    with capsys.disabled():
        print(
            f"\n[strip] email-reply-trimmer: {kept}/{total} exact ({kept / total:.1%}) with closings kept;"
            f" {default}/{total} ({default / total:.1%}) with mailflow's default;"
            f" ambiguous: {', '.join(sorted(AMBIGUOUS_TRIMMER))}"
        )
    assert kept / total >= MIN_TRIMMER_RATE


# --- talon ----------------------------------------------------------------------------------


def standard_expected(name: str) -> str:
    side = STANDARD / f"{Path(name).stem}_reply_text"
    return side.read_text(encoding="utf-8") if side.exists() else "Hello"


@pytest.mark.parametrize("name", names(STANDARD, "*.eml"))
def test_talon_standard_reply_gives_its_reply_text(corpora: Path, name: str) -> None:
    """Each standard reply gives talon's expected text with the signature kept, and "Hello" without."""
    msg = parse(STANDARD / name)
    assert normalized(new_text(msg, keep_signature=True)) == normalized(standard_expected(name))
    assert new_text(msg) == "Hello"


@pytest.mark.parametrize("name", names(HTML, "*.html"))
def test_talon_html_reply_gives_the_reply_without_the_quote(corpora: Path, name: str) -> None:
    """Each HTML-only reply gives "Hi. I am fine. / Thanks, / Alex" and no trace of the quote.

    The README gives the lines, not the blank lines between them (Outlook 2010's HTML
    has none), so blank lines are ignored here, as talon's own test ignores whitespace.
    """
    got = new_text(html_message(HTML / name))
    assert [line.strip() for line in got.split("\n") if line.strip()] == HTML_REPLY_LINES
    assert "How are you" not in got


def test_talon_rates(corpora: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every talon reply, plain and HTML, gives its expected new text."""
    standard = names(STANDARD, "*.eml")
    html = names(HTML, "*.html")
    plain_ok, plain_total = rate(
        standard,
        lambda n: (
            normalized(new_text(parse(STANDARD / n), keep_signature=True)) == normalized(standard_expected(n))
        ),
    )
    html_ok, html_total = rate(
        html,
        lambda n: (
            [line.strip() for line in new_text(html_message(HTML / n)).split("\n") if line.strip()]
            == HTML_REPLY_LINES
        ),
    )
    with capsys.disabled():
        print(
            f"\n[strip] talon standard_replies: {plain_ok}/{plain_total};"
            f" talon html_replies: {html_ok}/{html_total}"
        )
    assert (plain_ok, html_ok) == (plain_total, html_total)
