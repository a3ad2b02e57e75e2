"""The inbound rules on real mail from other projects' corpora (see ../shared/corpora/README.md).

Every sisimai and flufl.bounce file is machine-generated and must never be taken
for a reply; every talon reply was written by a person and must be one. The corpora are not
part of the repository: set ``MAILFLOW_CORPORA`` or keep them at
``<repo>/../shared/corpora``.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailflow.inbound.parse import parse_message
from mailflow.inbound.rules import Classification, RuleContext, classify

REPO = Path(__file__).resolve().parents[2]
CTX = RuleContext(our_addresses=frozenset({"hello@contoso.example"}), inbound_domain="mailflow.localhost")
MACHINE_KINDS = {"bounce", "auto_reply", "feedback_report", "loop"}
# Share of bounces whose failed recipient bounce_info finds; the misses are
# lhost-postfix-64 ("Delivery report unavailable") and rfc3464-28 (a success
# report, "Action: deliverable", so nobody failed).
MIN_RECIPIENT_RATE = 0.95


@pytest.fixture(scope="module")
def sisimai(corpora: Path) -> dict[str, Classification]:
    """Every sisimai file, classified once: file name -> classification."""
    folder = corpora / "sisimai" / "maildir" / "bsd"
    results = {
        path.name: classify(parse_message(path.read_bytes()), CTX) for path in sorted(folder.iterdir())
    }
    assert results, f"{folder} is empty"
    return results


# flufl.bounce's own test says of this file "Not a bounce but has confused groupwise": it is
# a hotel's reservations desk answering by hand (Outlook, "RE:" subject, quoted original).
FLUFL_PERSONS_REPLY = "groupwise_03.txt"


@pytest.fixture(scope="module")
def flufl(corpora: Path) -> dict[str, Classification]:
    """Every flufl.bounce file, classified once: file name -> classification."""
    folder = corpora / "flufl-bounce" / "data"
    results = {
        path.name: classify(parse_message(path.read_bytes()), CTX) for path in sorted(folder.iterdir())
    }
    assert len(results) >= 117, f"{folder} holds {len(results)} files"
    return results


def flufl_expected(corpora: Path) -> dict[str, tuple[set[str], bool]]:
    """file -> (failed addresses, whether temporary), read from flufl.bounce's own test (not imported)."""
    source = (corpora / "flufl-bounce" / "expected_test_detectors.py").read_text()
    expected: dict[str, tuple[set[str], bool]] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "DETECTORS" for t in node.targets):
            for _detector, name, addresses, temporary in ast.literal_eval(node.value):
                known, _ = expected.get(name, (set(), temporary))
                expected[name] = (known | {a.decode().lower() for a in addresses}, temporary)
    assert len(expected) > 100
    return expected


def reply_around(body: str, *, html: bool) -> bytes:
    """A customer's reply envelope around a body from the corpus."""
    message = EmailMessage()
    message["From"] = "Alex <alex@example.com>"
    message["To"] = "reply+k3y@mailflow.localhost"
    message["Subject"] = "Re: Your booking is confirmed"
    message["In-Reply-To"] = "<confirmation-1@mailflow.localhost>"
    message.set_content(body, subtype="html" if html else "plain")
    return message.as_bytes()


def test_every_sisimai_message_is_machine_generated(
    sisimai: dict[str, Classification], record_property: Callable[[str, object], None]
) -> None:
    """No bounce, auto-reply or feedback report may ever be taken for a reply (or left unknown)."""
    counts = Counter(result.kind for result in sisimai.values())
    summary = ", ".join(f"{kind}={count}" for kind, count in sorted(counts.items()))
    print(f"\nsisimai: {len(sisimai)} files: {summary}")
    record_property("sisimai_kinds", summary)
    wrong = {name: result.kind for name, result in sisimai.items() if result.kind not in MACHINE_KINDS}
    assert wrong == {}
    assert all(not result.may_act for result in sisimai.values())


def test_sisimai_auto_replies_and_feedback_reports(sisimai: dict[str, Classification]) -> None:
    """``rfc3834-*`` are auto-replies, ``arf-*`` feedback reports, ``lhost-*`` bounces."""
    for name, result in sisimai.items():
        if name.startswith("rfc3834-"):
            assert result.kind == "auto_reply", name
        elif name.startswith("arf-"):
            assert result.kind == "feedback_report", name
        elif name.startswith("lhost-"):
            assert result.kind == "bounce", name


def test_bounce_info_finds_the_failed_recipient(
    sisimai: dict[str, Classification], record_property: Callable[[str, object], None]
) -> None:
    """For nearly every bounce, bounce_info names at least one failed recipient."""
    bounces = {name: result.bounce for name, result in sisimai.items() if result.kind == "bounce"}
    found = [name for name, info in bounces.items() if info is not None and info.recipients]
    rate = len(found) / len(bounces)
    missing = sorted(set(bounces) - set(found))
    print(f"\nbounce recipients found: {len(found)}/{len(bounces)} ({rate:.1%}); none in {missing}")
    record_property("bounce_recipient_rate", f"{rate:.3f}")
    assert rate >= MIN_RECIPIENT_RATE, missing
    for name in found:
        info = bounces[name]
        assert info is not None
        assert all("@" in address and address == address.lower() for address in info.recipients), name


def test_delay_notices_are_temporary(sisimai: dict[str, Classification]) -> None:
    """A bounce that says it is delayed is never recorded as a permanent failure."""
    delayed = {
        name: result.bounce
        for name, result in sisimai.items()
        if result.bounce is not None and result.bounce.action == "delayed"
    }
    assert delayed, "the corpus has delay notices"
    assert [name for name, info in delayed.items() if info is not None and info.permanent] == []


def test_user_unknown_bounces_are_permanent(sisimai: dict[str, Classification]) -> None:
    """A 5.1.1 (no such user) is permanent."""
    unknown = [r.bounce for r in sisimai.values() if r.bounce is not None and r.bounce.status == "5.1.1"]
    assert unknown
    assert all(info.permanent for info in unknown)


def test_talon_standard_replies_are_replies(corpora: Path) -> None:
    """Real replies from twelve mail clients are replies, with no verdict against them."""
    files = sorted((corpora / "talon" / "tests" / "fixtures" / "standard_replies").glob("*.eml"))
    assert files
    results = {path.name: classify(parse_message(path.read_bytes()), CTX) for path in files}
    assert {name: r.verdicts for name, r in results.items() if r.kind != "reply"} == {}


def test_talon_html_replies_are_replies(corpora: Path) -> None:
    """HTML-only replies (Outlook, Gmail, Yandex, …) are replies."""
    files = sorted((corpora / "talon" / "tests" / "fixtures" / "html_replies").glob("*.html"))
    assert files
    for path in files:
        result = classify(parse_message(reply_around(path.read_text(errors="replace"), html=True)), CTX)
        assert (path.name, result.kind, result.verdicts) == (path.name, "reply", [])


def test_reply_trimmer_bodies_are_replies(corpora: Path) -> None:
    """The 64 real reply bodies of email_reply_trimmer, in many languages, trip no rule."""
    files = sorted((corpora / "email-reply-trimmer" / "test" / "emails").iterdir())
    assert files
    for path in files:
        result = classify(parse_message(reply_around(path.read_text(errors="replace"), html=False)), CTX)
        assert (path.name, result.kind, result.verdicts) == (path.name, "reply", [])


def test_every_flufl_bounce_file_is_machine_mail(
    flufl: dict[str, Classification], record_property: Callable[[str, object], None]
) -> None:
    """117 bounces of many MTAs (plain-text ones too) are machine mail: never a reply, never unknown."""
    counts = Counter(result.kind for name, result in flufl.items() if name != FLUFL_PERSONS_REPLY)
    summary = ", ".join(f"{kind}={count}" for kind, count in sorted(counts.items()))
    print(f"\nflufl.bounce: {len(flufl)} files: {summary}")
    record_property("flufl_kinds", summary)
    wrong = {
        name: (result.kind, [v.rule for v in result.verdicts])
        for name, result in flufl.items()
        if result.kind not in MACHINE_KINDS and name != FLUFL_PERSONS_REPLY
    }
    assert wrong == {}
    assert [name for name, result in flufl.items() if result.may_act] == [FLUFL_PERSONS_REPLY]


def test_flufl_bounce_failed_addresses_are_found(flufl: dict[str, Classification], corpora: Path) -> None:
    """Every address flufl.bounce's own test expects for a file is among the bounce's recipients."""
    missing = {}
    for name, (addresses, _temporary) in flufl_expected(corpora).items():
        if not addresses or name == FLUFL_PERSONS_REPLY:
            continue
        result = flufl[name]
        found = set(result.bounce.recipients) if result.bounce else set()
        if result.kind != "bounce" or not addresses <= found:
            missing[name] = (result.kind, sorted(addresses - found))
    assert missing == {}


def test_flufl_bounce_warnings_are_temporary(flufl: dict[str, Classification], corpora: Path) -> None:
    """A file flufl.bounce expects as a temporary failure never marks anyone as bouncing."""
    temporary = [
        name for name, (found, is_temporary) in flufl_expected(corpora).items() if is_temporary and found
    ]
    assert len(temporary) >= 10
    permanent = [name for name in temporary if (info := flufl[name].bounce) is None or info.permanent]
    assert permanent == []
