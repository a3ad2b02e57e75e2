"""The inbound service functions on real SQLite: storing, claiming, retrying, looking up and listing."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from mailflow.booking.model import Actor, ActorKind
from mailflow.demo import seed_demo
from mailflow.errors import InvalidInput, NotFound
from mailflow.services.inbound import Stored, is_duplicate
from mailflow.services.inbound_store import Received, claim_received, retry_inbound, store_many, store_raw
from mailflow.services.mail_log import list_inbound
from mailflow.services.reply_targets import reply_key_exists
from mailflow.store.tables import AuditEvent, Business, InboundMessage, ReplyKey

RAW = (
    b"From: max@example.de\r\nTo: reply+abcdefgh12@replies.example\r\n"
    b"Message-ID: <one@example.de>\r\n\r\nHi\r\n"
)
ACTOR = Actor(ActorKind.STAFF, "cli")


@pytest.fixture
def seeded(sqlite_engine: Engine, now: datetime) -> Engine:
    seed_demo(sqlite_engine, now)
    return sqlite_engine


def _set_status(engine: Engine, row_id: int, status: str, error: str | None = None) -> None:
    with Session(engine) as session:
        row = session.get_one(InboundMessage, row_id)
        row.status, row.error = status, error
        session.add(row)
        session.commit()


def test_retry_inbound_puts_an_errored_message_back_and_audits_it(seeded: Engine, now: datetime) -> None:
    """A message that crashed becomes processing, claimed for the lease, and the retry is audited."""
    row_id = store_raw(seeded, RAW, envelope_from="", envelope_rcpt="", now=now)
    _set_status(seeded, row_id, "error", "RuntimeError: boom")
    retry_inbound(seeded, row_id, ACTOR, now, timedelta(minutes=2))
    with Session(seeded) as session:
        row = session.get_one(InboundMessage, row_id)
        assert row.status == "processing"
        assert row.claimed_until is not None
        assert row.claimed_until.replace(tzinfo=now.tzinfo) == now + timedelta(minutes=2)
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "inbound.retry")).all()
    assert [(e.actor_label, e.before, e.after) for e in events] == [
        (
            "cli",
            {"inbound_id": row_id, "status": "error", "error": "RuntimeError: boom"},
            {"inbound_id": row_id, "status": "processing"},
        )
    ]


def test_retry_inbound_of_an_unknown_id_is_not_found(seeded: Engine, now: datetime) -> None:
    """Retrying a message that does not exist raises NotFound."""
    with pytest.raises(NotFound):
        retry_inbound(seeded, 424242, ACTOR, now)


def test_retry_inbound_refuses_a_message_that_did_not_fail(seeded: Engine, now: datetime) -> None:
    """Only a message in error can be retried; a stored one is left alone (InvalidInput)."""
    row_id = store_raw(seeded, RAW, envelope_from="", envelope_rcpt="", now=now)
    with pytest.raises(InvalidInput, match="nothing to retry"):
        retry_inbound(seeded, row_id, ACTOR, now)
    with Session(seeded) as session:
        assert session.get_one(InboundMessage, row_id).status == "received"


def test_stored_messages_are_claimed_once(seeded: Engine, now: datetime) -> None:
    """store_many stores every copy; claim_received takes them in order, and not again within the lease."""
    ids = store_many(seeded, [Received(RAW, "", "a"), Received(RAW, "", "b")], now)
    assert claim_received(seeded, now, 10) == ids
    assert claim_received(seeded, now + timedelta(minutes=1), 10) == []


def test_reply_key_exists_only_for_issued_keys(seeded: Engine, now: datetime) -> None:
    """The RCPT check knows a key we issued and no other."""
    with Session(seeded) as session:
        session.add(ReplyKey(key="abcdefgh12", recipient="max@example.de", created_at=now))
        session.commit()
    assert reply_key_exists(seeded, "abcdefgh12")
    assert not reply_key_exists(seeded, "abcdefgh13")


def test_a_later_copy_of_the_same_message_id_is_a_duplicate(seeded: Engine, now: datetime) -> None:
    """The second copy with the same Message-ID is a duplicate; the first is not."""
    first, second = (store_raw(seeded, RAW, envelope_from="", envelope_rcpt="", now=now) for _ in range(2))
    with Session(seeded) as session:
        rows = {
            r.id: r
            for r in session.exec(select(InboundMessage).where(col(InboundMessage.id).in_([first, second])))
        }
        stored = {i: Stored(i, rows[i].sha256, "") for i in (first, second)}
        assert not is_duplicate(session, stored[first], "<one@example.de>")
        assert is_duplicate(session, stored[second], "<one@example.de>")


def test_list_inbound_shows_unmatched_mail_only_to_the_operator(seeded: Engine, now: datetime) -> None:
    """Without a business every message is listed; a business sees only mail matched to its bookings."""
    row_id = store_raw(seeded, RAW, envelope_from="", envelope_rcpt="", now=now)
    with Session(seeded) as session:
        business_id = session.exec(select(Business.id)).one()
    assert [view.id for view in list_inbound(seeded)] == [row_id]
    assert list_inbound(seeded, business_id=business_id) == []
    with pytest.raises(NotFound):
        list_inbound(seeded, business_id=business_id, booking="BK-ZZZZZZ")
