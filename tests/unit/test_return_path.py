"""Signed per-message return paths (VERP): made from an email's outbox id and Message-ID, checked in full."""

from __future__ import annotations

from mailflow.outbound.return_path import SIGNATURE_LENGTH, ReturnPaths

PATHS = ReturnPaths("a secret key", "replies.example.com")
MESSAGE_ID = "<20270301.abc@replies.example.com>"


def test_address_names_the_outbox_id_and_a_lower_case_signature() -> None:
    """``bounce+<id>.<16 base32 characters>@<inbound domain>``, the same every time for one email."""
    address = PATHS.address(1042, MESSAGE_ID)
    local, domain = address.split("@")
    outbox_id, signature = local.removeprefix("bounce+").split(".")
    assert (outbox_id, domain, len(signature)) == ("1042", "replies.example.com", SIGNATURE_LENGTH)
    assert signature == signature.lower() and set(signature) <= set("abcdefghijklmnopqrstuvwxyz234567")
    assert PATHS.address(1042, MESSAGE_ID) == address


def test_a_signature_fits_one_email_only() -> None:
    """Another id, another Message-ID (an id handed out again) or another key: the signature fails."""
    parsed = PATHS.parse(PATHS.address(1042, MESSAGE_ID))
    assert parsed is not None
    outbox_id, signature = parsed
    assert PATHS.verify(outbox_id, MESSAGE_ID, signature)
    assert not PATHS.verify(1043, MESSAGE_ID, signature)
    assert not PATHS.verify(1042, "<other@replies.example.com>", signature)
    assert not ReturnPaths("another key", "replies.example.com").verify(1042, MESSAGE_ID, signature)


def test_parse_takes_any_case_and_only_our_domain_and_form() -> None:
    """MTAs may change the case; other domains, unsigned and malformed addresses are not ours."""
    address = PATHS.address(7, MESSAGE_ID)
    assert PATHS.parse(f"<{address.upper()}>") == PATHS.parse(address)
    for other in (
        address.replace("replies.example.com", "evil.example"),
        "bounce+anything@replies.example.com",
        "bounce+7@replies.example.com",
        "bounce+7.short@replies.example.com",
        "reply+7.aaaaaaaaaaaaaaaa@replies.example.com",
    ):
        assert PATHS.parse(other) is None, other


def test_without_inbound_domain_the_business_sender_is_used() -> None:
    """No inbound domain, no VERP: the fallback (the business's sender) and nothing parses."""
    off = ReturnPaths("a secret key", "")
    assert off.envelope_sender(7, MESSAGE_ID, "hello@contoso.example") == "hello@contoso.example"
    assert off.parse(PATHS.address(7, MESSAGE_ID)) is None
    assert PATHS.envelope_sender(7, MESSAGE_ID, "hello@contoso.example") == PATHS.address(7, MESSAGE_ID)


def rcpt(address: str) -> str:
    """What the inbound SMTP handler answers at RCPT, with a database that cannot be reached."""
    import asyncio
    from types import SimpleNamespace
    from typing import Any

    from sqlalchemy import create_engine

    from mailflow.inbound.smtp import InboundHandler

    engine = create_engine("sqlite:////nonexistent-mailflow-dir/none.db")  # every connect fails
    envelope: Any = SimpleNamespace(rcpt_tos=[])
    none: Any = None
    handler = InboundHandler(engine, PATHS.domain, PATHS)
    return asyncio.run(handler.handle_RCPT(none, none, envelope, address, []))


def test_rcpt_refuses_a_malformed_bounce_address_without_the_database() -> None:
    """``bounce+anything@`` gets 550 at once; a well-formed one waits for the database (451: retry)."""
    assert rcpt("bounce+anything@replies.example.com").startswith("550 5.1.1")
    assert rcpt("bounce+7@replies.example.com").startswith("550 5.1.1")
    assert rcpt(PATHS.address(7, MESSAGE_ID)).startswith("451 4.3.0")


def test_rcpt_defers_a_reply_address_while_the_database_is_away() -> None:
    """A reply key cannot be looked up: 451 (the sender retries), never 550 (a lost reply)."""
    assert rcpt("reply+0123456789abcdef@replies.example.com").startswith("451 4.3.0")
