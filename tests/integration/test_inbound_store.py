"""Storing received messages: what arrives together commits together; a bad message refuses only itself."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, cast

import pytest
from sqlalchemy import event
from sqlmodel import Session, col, select

from mailflow.bootstrap import App
from mailflow.inbound.process import Received
from mailflow.inbound.smtp import GroupStore, KeyLookup
from mailflow.store.tables import InboundMessage, ReplyKey


@pytest.fixture
def app(demo_app: App) -> App:
    return demo_app


def message(number: int) -> bytes:
    return f"Message-ID: <m{number}@example.org>\r\nSubject: {number}\r\n\r\nbody {number}\r\n".encode()


def test_concurrent_messages_are_all_stored_with_their_envelopes(app: App) -> None:
    storer = GroupStore(app.engine, most=8)

    async def deliver() -> list[list[int]]:
        copies = [
            storer.store([Received(message(n), f"s{n}@example.org", f"reply+k{n}@x")]) for n in range(40)
        ]
        copies.append(storer.store([Received(message(99), "two@example.org", f"reply+a{r}@x") for r in "ab"]))
        return await asyncio.gather(*copies)

    answers = asyncio.run(deliver())
    ids = [row_id for answer in answers for row_id in answer]
    assert len(ids) == len(set(ids)) == 42
    assert [len(answer) for answer in answers] == [1] * 40 + [2]
    with Session(app.engine) as session:
        rows = {
            row.id: row for row in session.exec(select(InboundMessage).where(col(InboundMessage.id).in_(ids)))
        }
    for n, answer in enumerate(answers[:40]):
        row = rows[answer[0]]
        assert row.raw == message(n) and row.message_id == f"<m{n}@example.org>"
        assert row.envelope_from == f"s{n}@example.org" and row.envelope_rcpt == f"reply+k{n}@x"
        assert row.status == "received" and row.verdicts == [] and row.attempts == 0
    assert [rows[i].envelope_rcpt for i in answers[40]] == ["reply+aa@x", "reply+ab@x"]


def test_a_message_that_cannot_be_stored_refuses_only_itself(app: App) -> None:
    storer = GroupStore(app.engine, most=16)
    broken = Received(cast(Any, None), "bad@example.org", "reply+bad@x")  # no bytes: hashing fails

    async def deliver() -> list[Any]:
        good = [storer.store([Received(message(n), "s@example.org", "reply+k@x")]) for n in range(10)]
        return await asyncio.gather(*good[:5], storer.store([broken]), *good[5:], return_exceptions=True)

    answers = asyncio.run(deliver())
    assert isinstance(answers[5], AttributeError)
    stored = [answer[0] for index, answer in enumerate(answers) if index != 5]
    with Session(app.engine) as session:
        rows = session.exec(select(InboundMessage).where(col(InboundMessage.id).in_(stored))).all()
        assert sorted(row.raw for row in rows) == sorted(message(n) for n in range(10))
        assert (
            session.exec(
                select(InboundMessage).where(InboundMessage.envelope_from == "bad@example.org")
            ).first()
            is None
        )


def test_reply_keys_asked_together_are_looked_up_in_one_query(app: App, now: datetime) -> None:
    """Keys asked at the same moment by several sessions share a SELECT: the first may start the
    thread and be asked alone; every key after it waits for the next batch, asked together."""
    issued = [f"{n:020x}" for n in range(1, 6)]
    with Session(app.engine) as session:
        session.add_all(ReplyKey(key=key, recipient="c@example.org", created_at=now) for key in issued)
        session.commit()
    asked = [*issued, "00000000000000000000", "ffffffffffffffffffff", issued[0]]
    keys = KeyLookup(app.engine, most=64)
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "replykey" in statement.lower():
            statements.append(statement)

    async def look_up() -> list[bool]:
        return await asyncio.gather(*(keys.known(key) for key in asked))

    event.listen(app.engine, "before_cursor_execute", seen)
    try:
        answers = asyncio.run(look_up())
    finally:
        event.remove(app.engine, "before_cursor_execute", seen)
    assert answers == [True] * 5 + [False, False, True]
    assert len(statements) <= 2  # one a key without the batching: 8
