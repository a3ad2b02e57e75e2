"""Index the outbox and inbound rows still waiting for a worker, by id, apart from the done ones.

The claims take the oldest waiting rows (``ORDER BY id LIMIT n … SKIP LOCKED``).
PostgreSQL walked the primary key from the first row ever written and filtered
out the sent (done) ones: with 4,000,000 emails in the outbox one claim of 100
took 2 s (bench/scale.py). These partial indexes hold only the waiting rows.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTBOX_WAITING = sa.text("status IN ('queued', 'sending')")
INBOUND_WAITING = sa.text("status IN ('received', 'processing')")


def upgrade() -> None:
    op.create_index(
        "ix_outbox_waiting",
        "outboxmessage",
        ["id"],
        unique=False,
        postgresql_where=OUTBOX_WAITING,
        sqlite_where=OUTBOX_WAITING,
    )
    op.create_index(
        "ix_inbound_waiting",
        "inboundmessage",
        ["id"],
        unique=False,
        postgresql_where=INBOUND_WAITING,
        sqlite_where=INBOUND_WAITING,
    )


def downgrade() -> None:
    op.drop_index("ix_inbound_waiting", table_name="inboundmessage")
    op.drop_index("ix_outbox_waiting", table_name="outboxmessage")
