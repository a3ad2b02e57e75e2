"""On PostgreSQL, a worker's claim reads only the rows still waiting, not every email ever sent.

The claims take the oldest waiting rows (``ORDER BY id LIMIT n FOR UPDATE SKIP
LOCKED``). Without an index of the waiting rows PostgreSQL walks the primary
key from the first row ever written and filters the done ones out: 2 s per
claim with 4,000,000 sent emails (bench/scale.py). The plans are read with
EXPLAIN for the statements the claims really run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, event, text

from mailflow.demo import seed_demo
from mailflow.inbound.process import claim_received
from mailflow.outbound.outbox import claim_due

DONE_ROWS = 50_000
WAITING_ROWS = 500  # at the end of the ids: the old plan walked the 50,000 done rows first


@contextmanager
def captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The statements (and parameters) ``engine`` runs inside the block."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def plan_of_claim(engine: Engine, claim: Callable[[], object], table: str) -> str:
    """EXPLAIN of the claim's UPDATE, after running the claim once (its changes rolled back)."""
    with captured(engine) as seen:
        claim()
    statement, parameters = next((s, p) for s, p in seen if s.lstrip().startswith(f"UPDATE {table} "))
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters).all()
    return "\n".join(str(row[0]) for row in rows)


def test_outbox_claim_reads_only_waiting_emails(postgres_engine: Engine, now: datetime) -> None:
    """50,000 sent emails, then 500 queued: the claim scans the index of waiting rows, not every id."""
    seed_demo(postgres_engine, now)
    with postgres_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO outboxmessage (business_id, kind, recipient, message_id, status, attempts, "
                "next_attempt_at, context, created_at) SELECT (SELECT min(id) FROM business), "
                "'confirmation', 'a@example.org', '<' || g || '@plan.example>', "
                "CASE WHEN g > :done THEN 'queued' ELSE 'sent' END, 1, :now, '{}', :now "
                "FROM generate_series(1, :total) g"
            ),
            {"done": DONE_ROWS, "total": DONE_ROWS + WAITING_ROWS, "now": now},
        )
        connection.exec_driver_sql("ANALYZE outboxmessage")
    plan = plan_of_claim(postgres_engine, lambda: claim_due(postgres_engine, now, 5), "outboxmessage")
    assert "ix_outbox_waiting" in plan, plan


def test_inbound_claim_reads_only_waiting_messages(postgres_engine: Engine, now: datetime) -> None:
    """50,000 processed replies, then 500 stored: the claim scans the index of waiting rows, not every id."""
    with postgres_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO inboundmessage (sha256, raw, envelope_from, envelope_rcpt, received_at, status, "
                "verdicts, attempts) SELECT md5(g::text), '', 'a@example.org', 'reply+x@mailflow.localhost', "
                ":now, CASE WHEN g > :done THEN 'received' ELSE 'done' END, '[]', 1 "
                "FROM generate_series(1, :total) g"
            ),
            {"done": DONE_ROWS, "total": DONE_ROWS + WAITING_ROWS, "now": now},
        )
        connection.exec_driver_sql("ANALYZE inboundmessage")
    plan = plan_of_claim(postgres_engine, lambda: claim_received(postgres_engine, now, 5), "inboundmessage")
    assert "ix_inbound_waiting" in plan, plan
