"""The SMTP side's reply-key lookup keeps its connection between lookups: a restart of the
PostgreSQL server (which kills that connection) costs no lookup, and while the server is
down a lookup fails (so RCPT answers 451) instead of hanging or answering "unknown"."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from mailflow.inbound.smtp import KeyLookup
from mailflow.store.engine import make_engine
from mailflow.store.migrate import upgrade
from mailflow.store.tables import ReplyKey
from tests.pgcluster import PgCluster

KEY = "0123456789abcdef0123"


@pytest.fixture
def engine(cluster: PgCluster, now: datetime) -> Iterator[Engine]:
    made = make_engine(cluster.create_database("mailflow"))
    upgrade(made)
    with Session(made) as session:
        session.add(ReplyKey(key=KEY, recipient="c@example.org", created_at=now))
        session.commit()
    yield made
    made.dispose()


def _known(keys: KeyLookup, key: str) -> bool:
    return asyncio.run(keys.known(key))


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_a_restart_costs_no_lookup(cluster: PgCluster, engine: Engine, mode: str) -> None:
    keys = KeyLookup(engine)
    assert _known(keys, KEY)
    held = keys.connection
    assert held is not None  # kept for the next lookup
    cluster.restart(mode=mode)  # kills the kept connection
    assert _known(keys, KEY)  # answered on a new connection, not an error (451)
    assert keys.connection is not None and keys.connection is not held
    assert not _known(keys, "ffffffffffffffffffff")


def test_while_the_server_is_down_a_lookup_fails_and_recovers_after(
    cluster: PgCluster, engine: Engine
) -> None:
    keys = KeyLookup(engine)
    assert _known(keys, KEY)
    cluster.stop("fast")
    with pytest.raises(OperationalError):
        _known(keys, KEY)
    assert keys.connection is None  # dropped, not kept broken
    cluster.start()
    assert _known(keys, KEY)
