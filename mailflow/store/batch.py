"""Rows gathered over a batch of work and inserted with one statement per table.

The reminder sweep queues a batch of emails in one transaction; each email mints a manage
token and a reply key and adds an outbox row. Inserted one by one that is three statements
(and, on PostgreSQL, three round trips) per email; gathered, it is three per batch, each an
executemany (psycopg pipelines it). Callers that need the new row's id get it through a
callback once the batch is written, still inside the transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Insert
from sqlmodel import Session

__all__ = ["batched_inserts", "insert_now_or_later"]

_KEY = "mailflow.batched_inserts"


@dataclass
class _Gathered:
    rows: list[dict[str, Any]] = field(default_factory=list)
    then: list[Callable[[int], None] | None] = field(default_factory=list)


@dataclass
class _Block:
    gathered: dict[Insert, _Gathered]
    only: Collection[Insert] | None

    def takes(self, statement: Insert) -> bool:
        return self.only is None or statement in self.only


@contextmanager
def batched_inserts(session: Session, only: Collection[Insert] | None = None) -> Iterator[None]:
    """Within the block, ``insert_now_or_later`` gathers its rows; when the block ends without an
    error they are inserted, one executemany per statement, and each callback gets its row's id.

    ``only`` limits the gathering to those statements: the rows nothing in the block reads
    back (the others are inserted at once, as without the block).
    """
    block = _Block({}, only)
    session.info[_KEY] = block
    try:
        yield
        session.flush()  # the rows the gathered ones point at
        connection = session.connection()
        for statement, batch in block.gathered.items():
            if not any(batch.then):
                connection.execute(statement, batch.rows)
                continue
            table = statement.table
            result = connection.execute(
                statement.returning(table.c.id, sort_by_parameter_order=True),
                batch.rows,
            )
            for then, row_id in zip(batch.then, result.scalars().all(), strict=True):
                if then is not None:
                    then(int(row_id))
    finally:
        session.info.pop(_KEY, None)


def insert_now_or_later(
    session: Session, statement: Insert, row: dict[str, Any], then: Callable[[int], None] | None = None
) -> None:
    """Insert ``row`` now (``then`` gets the new id at once), or gather it when a
    ``batched_inserts`` block is open (``then`` gets it when the block writes the batch)."""
    block: _Block | None = session.info.get(_KEY)
    if block is None or not block.takes(statement):
        result = session.connection().execute(statement, row)
        if then is not None:
            key = result.inserted_primary_key
            assert key is not None
            then(int(key[0]))
        return
    batch = block.gathered.setdefault(statement, _Gathered())
    batch.rows.append(row)
    batch.then.append(then)
