"""Sender checks of replies (issue 16, item 6), on SQLite and PostgreSQL.

Several From addresses, or none, are unverified; Authentication-Results are
read with a real parser; a staff member's answer is relayed only after the
DMARC check, and staff are looked up within the booking's business.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import date, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlmodel import Session

from mailflow.booking.model import Origin
from mailflow.bootstrap import App, build
from mailflow.config import load_settings
from mailflow.demo import seed_demo
from mailflow.inbound.parse import parse_message
from mailflow.inbound.sender import dmarc_failure, from_addresses
from mailflow.store.tables import Business, Staff
from tests.integration.test_inbound_pipeline import (
    DOMAIN,
    book,
    customer_email,
    feed,
    last_id,
    parsed,
    queued,
    reply_to,
    status_of,
)

TRUSTED = "mx.contoso.example"


def make_app(db_url: str, tmp_path: Path) -> App:
    return build(
        load_settings(
            {
                "MAILFLOW_DATABASE_URL": db_url,
                "MAILFLOW_DATA_DIR": str(tmp_path),
                "MAILFLOW_OUTBOUND_URL": f"memory://sender-{tmp_path.name}",
                "MAILFLOW_INBOUND_DOMAIN": DOMAIN,
                "MAILFLOW_TRUSTED_AUTHSERV_IDS": TRUSTED,
            }
        )
    )


@pytest.fixture
def app(db_url: str, tmp_path: Path, now: datetime) -> Iterator[App]:
    application = make_app(db_url, tmp_path)
    seed_demo(application.engine, now)
    yield application
    application.close()


def with_from(raw: bytes, *from_values: str) -> bytes:
    """``raw`` with its From header(s) replaced by ``from_values`` (none: no From at all)."""
    message = email.message_from_bytes(raw)  # compat32: lets a second From header in
    del message["From"]
    for value in from_values:
        message["From"] = value
    return message.as_bytes()


def cancel_reply(app: App, ref: str) -> bytes:
    return reply_to(customer_email(app, ref, "confirmation"), "cancel")


def verdict(row_verdicts: list[dict[str, str]], rule: str) -> dict[str, str]:
    return next(v for v in row_verdicts if v["rule"] == rule)


@pytest.mark.parametrize(
    "from_values",
    [
        ("max@example.de, mallory@evil.example",),  # the reproduction
        ("Max <max@example.de>, Mallory <mallory@evil.example>",),
        ("max@example.de", "mallory@evil.example"),  # two From headers
    ],
)
def test_several_from_addresses_are_unverified(
    app: App, next_tuesday: date, now: datetime, from_values: tuple[str, ...]
) -> None:
    """A cancel whose From names the customer and someone else does not cancel; staff see it, unverified."""
    ref = book(app, next_tuesday, 10, now, service_slug="consultation", origin=Origin.SELF_SERVICE)
    mark = last_id(app)
    row = feed(app, with_from(cancel_reply(app, ref), *from_values), now)
    assert status_of(app, ref)[0] == "confirmed"
    assert verdict(row.verdicts, "sender")["verdict"] == "unverified"
    assert "mallory@evil.example" in verdict(row.verdicts, "sender")["detail"]
    assert [r.kind for r in queued(app, mark)] == ["customer_message"]


@pytest.mark.parametrize("from_values", [(), ("undisclosed-recipients:;",)])
def test_no_from_address_never_acts(
    app: App, next_tuesday: date, now: datetime, from_values: tuple[str, ...]
) -> None:
    """A cancel with no From (or an empty group) names nobody: nothing happens to the booking."""
    ref = book(app, next_tuesday, 10, now, service_slug="consultation", origin=Origin.SELF_SERVICE)
    row = feed(app, with_from(cancel_reply(app, ref), *from_values), now)
    assert status_of(app, ref)[0] == "confirmed"
    assert row.command is None


def test_dmarc_fail_inside_a_comment_is_no_verdict(app: App, next_tuesday: date, now: datetime) -> None:
    """``(dmarc=fail …)`` in a comment of the trusted server's header does not hold the cancel."""
    ref = book(app, next_tuesday, 10, now, service_slug="consultation", origin=Origin.SELF_SERVICE)
    header = (
        f"Authentication-Results: {TRUSTED}; dkim=pass (no dmarc=fail here) header.d=example.de;"
        " dmarc=pass header.from=example.de\r\n"
    )
    row = feed(app, header.encode() + cancel_reply(app, ref), now)
    assert not any(v["rule"] == "dmarc" for v in row.verdicts)
    assert status_of(app, ref)[0] == "cancelled"


def test_unreadable_header_of_the_trusted_server_holds_the_action(
    app: App, next_tuesday: date, now: datetime
) -> None:
    """A header claiming our MX's id that no parser can read is not ours: the cancel is held for staff."""
    ref = book(app, next_tuesday, 10, now, service_slug="consultation", origin=Origin.SELF_SERVICE)
    header = f"Authentication-Results: {TRUSTED}; ;;; ===\r\n"
    row = feed(app, header.encode() + cancel_reply(app, ref), now)
    assert verdict(row.verdicts, "dmarc")["verdict"] == "fail"
    assert status_of(app, ref)[0] == "confirmed"


def forwarded_question(app: App, ref: str, now: datetime) -> EmailMessage:
    feed(app, reply_to(customer_email(app, ref, "confirmation"), "Kann ich meinen Hund mitbringen?"), now)
    return parsed([r for r in queued(app) if r.kind == "customer_message"][-1])


def test_staff_answer_failing_dmarc_is_not_relayed(app: App, next_tuesday: date, now: datetime) -> None:
    """A forged "Bob" answer to a forwarded question that fails DMARC never reaches the customer."""
    ref = book(app, next_tuesday, 10, now, service_slug="haircut", origin=Origin.SELF_SERVICE)
    forwarded = forwarded_question(app, ref, now)
    mark = last_id(app)
    answer = reply_to(forwarded, "Bitte überweisen Sie 500 EUR an …", sender="bob@contoso.example")
    header = f"Authentication-Results: {TRUSTED}; dmarc=fail (p=reject) header.from=contoso.example\r\n"
    row = feed(app, header.encode() + answer, now)
    assert verdict(row.verdicts, "dmarc")["verdict"] == "fail"
    assert not any(v["rule"] == "staff_reply" for v in row.verdicts)
    assert [r.recipient for r in queued(app, mark) if r.kind == "staff_reply"] == []


def test_staff_answer_names_the_staff_member_of_the_bookings_business(
    db_url: str, tmp_path: Path, next_tuesday: date, now: datetime
) -> None:
    """Bob at another business (made first) with the same address: the relayed answer names Contoso's Bob."""
    application = make_app(db_url, tmp_path)
    try:
        with Session(application.engine) as session:
            other = Business(slug="fabrikam", name="Fabrikam", timezone="Europe/Berlin", created_at=now)
            session.add(other)
            session.flush()
            assert other.id is not None
            session.add(
                Staff(business_id=other.id, email="bob@contoso.example", name="Impostor", timezone="UTC")
            )
            session.commit()
        seed_demo(application.engine, now)
        ref = book(application, next_tuesday, 10, now, service_slug="haircut", origin=Origin.SELF_SERVICE)
        forwarded = forwarded_question(application, ref, now)
        mark = last_id(application)
        feed(application, reply_to(forwarded, "Ja, gerne!", sender="bob@contoso.example"), now)
        (relayed,) = [r for r in queued(application, mark) if r.kind == "staff_reply"]
        body = parsed(relayed).get_body(("plain",))
        assert body is not None
        text = body.get_content()
        assert "Ja, gerne!" in text and "Impostor" not in text
    finally:
        application.close()


def test_from_addresses_and_dmarc_failure_read_headers_properly() -> None:
    """The helpers: every From address once; only a trusted, parsed dmarc=fail counts."""
    raw = (
        b"From: Max <MAX@example.de>, max@example.de, Mallory <mallory@evil.example>\r\n"
        b"Authentication-Results: other.example; dmarc=fail\r\n"
        b"Authentication-Results: mx.contoso.example; spf=pass (dmarc=fail) smtp.mailfrom=example.de\r\n"
        b"Subject: x\r\n\r\nx"
    )
    message = parse_message(raw)
    assert from_addresses(message) == ["max@example.de", "mallory@evil.example"]
    assert dmarc_failure(message, frozenset({TRUSTED})) is None
    assert dmarc_failure(message, frozenset({"other.example"})) is not None
    assert dmarc_failure(message, frozenset()) is None
