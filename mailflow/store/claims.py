"""The one claim statement of every queue: the outbox, webhook deliveries and stored inbound mail.

``UPDATE <table> SET status = <taken>, claimed_until = now + lease, attempts = attempts + 1
WHERE id IN (SELECT id … WHERE <due> ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED) RETURNING …``:
one statement, so two workers never take the same row (PostgreSQL skips the rows another has
locked; SQLite runs it inside its one write lock), and a row whose worker died is taken again
once its lease has run out (``due`` says so for each queue).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Update, select, update

__all__ = ["lease_claim"]


def lease_claim(
    model: Any,
    due: ColumnElement[bool],
    *,
    taken: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    returning: Sequence[Any],
    lock_of: Any = None,
) -> Update:
    """The claim of up to ``limit`` rows of ``model`` that are ``due``, oldest first: each becomes
    ``taken`` with a lease from ``now`` and one more attempt, and ``returning`` comes back.
    ``lock_of`` names the table to lock when ``due`` joins others (PostgreSQL's ``FOR UPDATE OF``)."""
    candidates = (
        select(model.id)
        .where(due)
        .order_by(model.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=lock_of)
    )
    return (
        update(model)
        .where(model.id.in_(candidates.scalar_subquery()))
        .values(status=taken, claimed_until=now + lease, attempts=model.attempts + 1)
        .returning(*returning)
    )
