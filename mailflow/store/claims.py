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

from sqlalchemy import BindParameter, ColumnElement, Integer, Update, and_, bindparam, or_, select, update

__all__ = ["CLAIM_NOW", "claim_parameters", "due_again", "lease_claim"]

CLAIM_NOW: BindParameter[Any] = bindparam("claim_now")
"""The moment of the claim, for the ``due`` condition of a queue (compared with its columns)."""


def due_again(model: Any, *, waiting: str, taken: str) -> ColumnElement[bool]:
    """The rows of a queue with retries that a claim may take: ``waiting`` ones whose next
    attempt has come, and ``taken`` ones whose worker's lease ran out (it died)."""
    return or_(
        and_(model.status == waiting, model.next_attempt_at <= CLAIM_NOW),
        and_(model.status == taken, model.claimed_until < CLAIM_NOW),
    )


def lease_claim(
    model: Any,
    due: ColumnElement[bool],
    *,
    taken: str,
    returning: Sequence[Any],
    lock_of: Any = None,
) -> Update:
    """The claim of up to ``claim_limit`` rows of ``model`` that are ``due``, oldest first: each
    becomes ``taken`` with a lease until ``claimed_until`` and one more attempt, and ``returning``
    comes back. ``lock_of`` names the table to lock when ``due`` joins others (PostgreSQL's
    ``FOR UPDATE OF``).

    Built once per queue and run as Core with ``claim_parameters``: building the statement
    and running it through the ORM cost more than the claim itself (1 to 2.7 ms a claim,
    taken after every few replies in one process).
    """
    candidates = (
        select(model.id)
        .where(due)
        .order_by(model.id)
        .limit(bindparam("claim_limit", type_=Integer))
        .with_for_update(skip_locked=True, of=lock_of)
    )
    return (
        update(model)
        .where(model.id.in_(candidates.scalar_subquery()))
        .values(status=taken, claimed_until=bindparam("claimed_until"), attempts=model.attempts + 1)
        .returning(*returning)
    )


def claim_parameters(now: datetime, lease: timedelta, limit: int, **more: Any) -> dict[str, Any]:
    """The parameters of a ``lease_claim`` statement (``more``: those its ``due`` names)."""
    return {"claim_now": now, "claimed_until": now + lease, "claim_limit": limit, **more}
