"""Bounces act on one email of ours: signed per-message return paths (VERP), reply addresses as fallback.

Issue 16, item 1: a forged bounce naming any address used to mark that customer
bouncing in every business and mail every admin. Each test runs on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import asyncio
import email
import json
import mailbox
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from mailflow.booking.model import Actor, ActorKind
from mailflow.bootstrap import App, build
from mailflow.config import load_settings
from mailflow.demo import seed_demo
from mailflow.errors import NotFound
from mailflow.inbound.process import process_pending
from mailflow.outbound.return_path import ReturnPaths
from mailflow.outbound.transports import MemoryTransport
from mailflow.services.bounces import clear_bouncing
from mailflow.services.inbound_store import store_raw
from mailflow.store.tables import AuditEvent, Business, Customer, InboundMessage, OutboxMessage
from tests.conftest import berlin, book_self_service
from tests.integration.test_inbound_pipeline import last_id
from tests.integration.test_inbound_pipeline import queued as outbox

DOMAIN = "replies.contoso.example"
ADMIN = Actor(ActorKind.STAFF, "admin@contoso.example")


def make_app(db_url: str, tmp_path: Path, now: datetime, domain: str = DOMAIN) -> App:
    application = build(
        load_settings(
            {
                "MAILFLOW_DATABASE_URL": db_url,
                "MAILFLOW_DATA_DIR": str(tmp_path),
                "MAILFLOW_OUTBOUND_URL": f"memory://{tmp_path.name}",
                "MAILFLOW_INBOUND_DOMAIN": domain,
            }
        )
    )
    seed_demo(application.engine, now)
    return application


@pytest.fixture
def app(db_url: str, tmp_path: Path, now: datetime) -> Iterator[App]:
    application = make_app(db_url, tmp_path, now)
    yield application
    application.close()


def book(app: App, day: date, hour: int, now: datetime, email: str, name: str) -> str:
    return book_self_service(app, berlin(day, hour), email, now, name)


def email_to(app: App, recipient: str, kind: str = "confirmation") -> OutboxMessage:
    return [r for r in outbox(app) if r.recipient == recipient and r.kind == kind][-1]


def dsn(to: str, failed: str, status: str = "5.1.1", action: str = "failed") -> bytes:
    """A delivery-status notification as Postfix writes it."""
    return (
        f"From: MAILER-DAEMON@mx.example.com\r\nTo: {to}\r\nReturn-Path: <>\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@mx.example.com>\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nThis is the mail system at host mx.example.com.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n"
        f"Final-Recipient: rfc822; {failed}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {status.replace('.', '')[:1]}50 {status} mailbox problem\r\n--b--\r\n"
    ).encode()


def feed(app: App, raw: bytes, now: datetime, rcpt: str = "") -> InboundMessage:
    row_id = store_raw(app.engine, raw, envelope_from="", envelope_rcpt=rcpt, now=now)
    process_pending(app.mailroom, now)
    with Session(app.engine) as session:
        return session.get_one(InboundMessage, row_id)


def bouncing(app: App) -> dict[tuple[int, str], bool]:
    with Session(app.engine) as session:
        return {(c.business_id, c.email): c.bouncing for c in session.exec(select(Customer))}


def return_path(app: App, row: OutboxMessage) -> str:
    assert row.id is not None
    return ReturnPaths(app.secret_key, DOMAIN).address(row.id, row.message_id)


def test_each_email_leaves_with_its_own_signed_return_path(
    app: App, next_tuesday: date, now: datetime
) -> None:
    """The envelope sender of every email is bounce+<outbox id>.<signature>@ the inbound domain."""
    book(app, next_tuesday, 10, now, "ada@example.com", "Ada")
    asyncio.run(app.dispatcher.run_once(now))
    transport = app.transport
    assert isinstance(transport, MemoryTransport)
    rows = {r.recipient: r for r in outbox(app)}
    sent = {m.recipient: m.envelope_from for m in transport.sent}
    assert set(sent) == set(rows) and len(set(sent.values())) == len(sent)
    for recipient, envelope_from in sent.items():
        assert envelope_from == return_path(app, rows[recipient])
        assert envelope_from.startswith(f"bounce+{rows[recipient].id}.")


def test_without_inbound_domain_the_business_sender_is_the_envelope_sender(
    db_url: str, tmp_path: Path, next_tuesday: date, now: datetime
) -> None:
    """With MAILFLOW_INBOUND_DOMAIN empty there is no VERP: the business's sender address."""
    application = make_app(db_url, tmp_path, now, domain="")
    try:
        book(application, next_tuesday, 10, now, "ada@example.com", "Ada")
        asyncio.run(application.dispatcher.run_once(now))
        transport = application.transport
        assert isinstance(transport, MemoryTransport)
        with Session(application.engine) as session:
            business = session.exec(select(Business).where(Business.slug == "contoso")).one()
        assert transport.sent
        assert {m.envelope_from for m in transport.sent} == {business.sender_email or business.email}
    finally:
        application.close()


def test_forged_bounce_naming_a_customer_changes_nothing(app: App, next_tuesday: date, now: datetime) -> None:
    """The issue's attack: a DSN naming Ada at an unsigned bounce+ address marks nobody, tells nobody."""
    book(app, next_tuesday, 10, now, "ada@example.com", "Ada")
    mark = last_id(app)
    for rcpt in (f"bounce+anything@{DOMAIN}", f"bounce+1.aaaaaaaaaaaaaaaa@{DOMAIN}", ""):
        row = feed(app, dsn(rcpt or "hello@contoso.example", "ada@example.com"), now, rcpt=rcpt)
        assert row.kind == "bounce"
        assert {"rule": "bounce_target", "verdict": "none"}.items() <= row.verdicts[-1].items()
    assert not any(bouncing(app).values())
    assert outbox(app, mark) == []
    book(app, next_tuesday, 12, now, "ada@example.com", "Ada")
    assert [r.kind for r in outbox(app, mark) if r.recipient == "ada@example.com"] == ["confirmation"]


def test_bounce_at_a_return_path_acts_on_that_emails_recipient_only(
    app: App, next_tuesday: date, now: datetime
) -> None:
    """Max's return path with a report naming Ada: Max is marked, Ada keeps receiving mail."""
    book(app, next_tuesday, 10, now, "ada@example.com", "Ada")
    book(app, next_tuesday, 11, now, "max@example.de", "Max")
    confirmation = email_to(app, "max@example.de")
    mark = last_id(app)
    row = feed(
        app, dsn(return_path(app, confirmation), "ada@example.com"), now, rcpt=return_path(app, confirmation)
    )
    assert row.kind == "bounce" and row.booking_id == confirmation.booking_id
    marked = {email for (_, email), flag in bouncing(app).items() if flag}
    assert marked == {"max@example.de"}
    told = [(r.kind, r.recipient) for r in outbox(app, mark)]
    assert told == [("delivery_failed", "admin@contoso.example")]
    with Session(app.engine) as session:
        failed = session.get_one(OutboxMessage, confirmation.id)
        assert failed.status == "failed" and (failed.last_error or "").startswith("bounced: 5.1.1")


def test_return_path_bounce_stays_within_the_business(app: App, next_tuesday: date, now: datetime) -> None:
    """The same address at another business is not touched by a bounce of this business's email."""
    book(app, next_tuesday, 10, now, "ada@example.com", "Ada")
    with Session(app.engine) as session:
        other = Business(slug="fabrikam", name="Fabrikam", timezone="Europe/Berlin", created_at=now)
        session.add(other)
        session.flush()
        assert other.id is not None
        other_id = other.id
        ada = Customer(
            business_id=other_id, email="ada@example.com", name="Ada", timezone="UTC", created_at=now
        )
        session.add(ada)
        session.commit()
    address = return_path(app, email_to(app, "ada@example.com"))
    feed(app, dsn(address, "ada@example.com"), now, rcpt=address)
    flags = bouncing(app)
    assert flags[(other_id, "ada@example.com")] is False
    assert [flag for (business, _), flag in flags.items() if business != other_id] == [True]


def test_return_path_found_in_the_headers_when_the_envelope_is_unknown(
    app: App, next_tuesday: date, now: datetime
) -> None:
    """A bounce fetched over IMAP (no envelope) is matched by its To/Delivered-To return path."""
    book(app, next_tuesday, 10, now, "ada@example.com", "Ada")
    address = return_path(app, email_to(app, "ada@example.com"))
    row = feed(app, dsn(address, "ada@example.com"), now, rcpt="")
    assert {"rule": "bounce_target", "verdict": "return_path"}.items() <= next(
        v for v in row.verdicts if v["rule"] == "bounce_target"
    ).items()
    assert list(bouncing(app).values()) == [True]


def test_temporary_bounce_marks_nobody(app: App, next_tuesday: date, now: datetime) -> None:
    """A 4.x.x delay notice notes the error on the email; the customer is not marked, admins not told."""
    book(app, next_tuesday, 10, now, "ada@example.com", "Ada")
    confirmation = email_to(app, "ada@example.com")
    mark = last_id(app)
    address = return_path(app, confirmation)
    row = feed(app, dsn(address, "ada@example.com", status="4.2.2", action="delayed"), now, rcpt=address)
    assert any(v["verdict"] == "temporary" for v in row.verdicts)
    assert not any(bouncing(app).values())
    assert outbox(app, mark) == []
    with Session(app.engine) as session:
        sent = session.get_one(OutboxMessage, confirmation.id)
        assert sent.status != "failed"
        assert (sent.last_error or "").startswith("delayed: 4.2.2")  # a delay, not a bounce (issue 21)


def test_admins_are_told_at_most_once_per_address_and_day(
    app: App, next_tuesday: date, now: datetime
) -> None:
    """Three bounces of Ada's emails in a day: one delivery_failed per admin; the next day another."""
    book(app, next_tuesday, 10, now, "ada@example.com", "Ada")
    book(app, next_tuesday, 12, now, "ada@example.com", "Ada")
    first, second = [r for r in outbox(app) if r.recipient == "ada@example.com"]
    mark = last_id(app)
    for row, when in ((first, now), (second, now + timedelta(hours=2)), (first, now + timedelta(hours=20))):
        feed(app, dsn(return_path(app, row), "ada@example.com"), when, rcpt=return_path(app, row))
    assert [r.kind for r in outbox(app, mark)] == ["delivery_failed"]
    later = now + timedelta(days=1, hours=1)
    feed(app, dsn(return_path(app, second), "ada@example.com"), later, rcpt=return_path(app, second))
    assert [r.kind for r in outbox(app, mark)] == ["delivery_failed", "delivery_failed"]


def test_bounce_at_a_reply_address_acts_only_for_an_address_that_booking_was_sent(
    app: App, next_tuesday: date, now: datetime
) -> None:
    """Fallback: at Max's reply address, a report naming Ada is ignored, one naming Max is taken."""
    book(app, next_tuesday, 10, now, "ada@example.com", "Ada")
    book(app, next_tuesday, 11, now, "max@example.de", "Max")
    from mailflow.store.tables import ReplyKey

    with Session(app.engine) as session:
        confirmation = email_to(app, "max@example.de")
        key = session.exec(
            select(ReplyKey).where(
                ReplyKey.booking_id == confirmation.booking_id, ReplyKey.recipient == "max@example.de"
            )
        ).first()
        assert key is not None
    reply_address = f"reply+{key.key}@{DOMAIN}"
    ignored = feed(app, dsn(reply_address, "ada@example.com"), now, rcpt=reply_address)
    assert ignored.kind == "bounce"
    assert any(v["verdict"] == "ignored" and "ada@example.com" in v["detail"] for v in ignored.verdicts)
    assert not any(bouncing(app).values())
    taken = feed(app, dsn(reply_address, "max@example.de"), now, rcpt=reply_address)
    assert taken.kind == "bounce"
    assert {email for (_, email), flag in bouncing(app).items() if flag} == {"max@example.de"}


def test_an_admin_clears_the_flag_and_mail_flows_again(app: App, next_tuesday: date, now: datetime) -> None:
    """clear_bouncing lifts the flag (audited); the customer's next booking is confirmed by email."""
    book(app, next_tuesday, 10, now, "ada@example.com", "Ada")
    address = return_path(app, email_to(app, "ada@example.com"))
    feed(app, dsn(address, "ada@example.com"), now, rcpt=address)
    assert any(bouncing(app).values())
    view = clear_bouncing(app.engine, "contoso", "Ada@Example.com", actor=ADMIN, now=now)
    assert view.bouncing is False and not any(bouncing(app).values())
    with Session(app.engine) as session:
        assert session.exec(select(AuditEvent).where(AuditEvent.action == "customer.bouncing_cleared")).one()
    mark = last_id(app)
    book(app, next_tuesday, 12, now, "ada@example.com", "Ada")
    assert ("confirmation", "ada@example.com") in [(r.kind, r.recipient) for r in outbox(app, mark)]
    with pytest.raises(NotFound):
        clear_bouncing(app.engine, "contoso", "nobody@example.com", actor=ADMIN, now=now)


def test_cli_feed_of_a_bounce_then_clear_bouncing(run_cli: Any, tmp_path: Path) -> None:
    """`inbound feed --rcpt <return path>` marks the customer; `customers clear-bouncing` lifts it."""
    assert run_cli("db", "upgrade").returncode == 0
    assert run_cli("demo").returncode == 0
    created = run_cli(
        "bookings", "create", "--service", "consultation", "--staff", "bob@contoso.example",
        "--customer-email", "zoe@example.org", "--customer-name", "Zoe",
        "--start", "2030-03-05T10:00:00+01:00", "--json", check=True,
    )  # fmt: skip
    ref = json.loads(created.stdout)["ref"]
    run_cli("run-once", check=True)
    box = mailbox.Maildir(tmp_path / "data" / "outbox", factory=None, create=False)
    confirmation = next(
        message
        for message in (email.message_from_bytes(box.get_bytes(k)) for k in box.iterkeys())
        if message["X-Mailflow-Booking"] == ref and message["To"] == "Zoe <zoe@example.org>"
    )
    address = str(confirmation["Return-Path"]).strip("<>")
    assert address.startswith("bounce+") and address.endswith("@mailflow.localhost")
    forged = tmp_path / "forged.eml"
    forged.write_bytes(dsn("bounce+anything@mailflow.localhost", "zoe@example.org"))
    real = tmp_path / "bounce.eml"
    real.write_bytes(dsn(address, "zoe@example.org"))

    def exported() -> bool:
        data = json.loads(run_cli("customers", "export", "zoe@example.org", check=True).stdout)
        return bool(data["customers"][0]["bouncing"])

    refused = run_cli("inbound", "feed", str(forged), "--rcpt", "bounce+anything@mailflow.localhost")
    assert refused.returncode == 67  # EX_NOUSER: not a return path of ours, nothing stored
    run_cli("run-once", check=True)
    assert exported() is False
    run_cli("inbound", "feed", str(real), "--rcpt", address, check=True)
    run_cli("run-once", check=True)
    assert exported() is True
    cleared = run_cli("customers", "clear-bouncing", "zoe@example.org", "--json", check=True)
    assert json.loads(cleared.stdout)["bouncing"] is False and exported() is False
    missing = run_cli("customers", "clear-bouncing", "nobody@example.org")
    assert missing.returncode != 0 and len(missing.stderr.strip().splitlines()) == 1
