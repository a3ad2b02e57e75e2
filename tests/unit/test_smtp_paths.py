"""The SMTP side's own reading of MAIL FROM and RCPT TO paths gives what aiosmtpd's would."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
from aiosmtpd.smtp import SMTP

from mailflow.inbound.smtp import plain_path


def aiosmtpd_reads(arg: str) -> tuple[str | None, str | None]:
    return SMTP._getaddr(SimpleNamespace(local_part_limit=0), arg)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("<reply+0af3@replies.example>", ("reply+0af3@replies.example", "reply+0af3", "")),
        ("<Anna.Berg@Example.COM> SIZE=2048 BODY=8BITMIME",
         ("Anna.Berg@Example.COM", "Anna.Berg", "SIZE=2048 BODY=8BITMIME")),
        ("<a@b>\t \tSMTPUTF8", ("a@b", "a", "SMTPUTF8")),
        ("<>", ("<>", "", "")),
        ("<> SIZE=10", ("<>", "", " SIZE=10")),
    ],
)  # fmt: skip
def test_everyday_paths_are_read_as_aiosmtpd_reads_them(arg: str, expected: tuple[str, str, str]) -> None:
    assert plain_path(arg) == expected
    assert aiosmtpd_reads(arg) == (expected[0], expected[2])


@pytest.mark.parametrize(
    "arg",
    [
        "<a@b> (comment)",  # a comment after the path
        '<"a b"@c>',  # a quoted local part
        "<@relay.example:a@b>",  # a source route
        "<jörg@b>",  # UTF-8 (SMTPUTF8)
        "<a@[192.0.2.1]>",  # an address literal
        "<a..b@c>",
        "<a@b.>",
        "a@b",  # no angle brackets
        " <a@b>",
        "<a@b",
        "",
    ],
)
def test_every_other_form_is_left_to_aiosmtpd(arg: str) -> None:
    assert plain_path(arg) is None


def test_random_paths_read_the_same_both_ways() -> None:
    """Wherever the everyday reading answers, it answers what aiosmtpd's parser does."""
    rng = random.Random(5321)
    pieces = ["a", "Z", "0", "+", "-", ".", "@", "<", ">", " ", "\t", "(", ")", '"', "é", "[", "]", ":",
              ",", "=", "_", "!", "~", "reply+k1", "example.org", "SIZE=1"]  # fmt: skip
    answered = 0
    for _ in range(30_000):
        if rng.random() < 0.5:
            arg = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        else:  # near the everyday form, so both readings are exercised where they matter
            local = "".join(rng.choice('aZ0+-_!~aZ0+-_!~.é"(') for _ in range(rng.randint(1, 6)))
            domain = "".join(
                rng.choice(["b", "-", "9", "x.y", "b", "-", "9", "x.y", ".", "é", "["])
                for _ in range(rng.randint(0, 5))
            )
            tail = "".join(rng.choice([" ", "\t", "(", "x", "=", ")"]) for _ in range(rng.randint(0, 4)))
            arg = f"<{local}@{domain}>{tail}"
        plain = plain_path(arg)
        if plain is not None:
            answered += 1
            assert (plain[0], plain[2]) == aiosmtpd_reads(arg), arg
    assert answered > 2_000  # 2,505 with this seed
