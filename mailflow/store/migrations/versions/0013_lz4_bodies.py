"""Compress stored emails with LZ4 on PostgreSQL: the outbox's bodies and the raw inbound messages.

An email is 10-30 KiB, and PostgreSQL compresses every value of that size
before storing it. Its default, pglz, cost 0.34 ms of the database's CPU per
stored reminder (bench/scale.py, the ``UPDATE outboxmessage SET payload``
statement) — more than everything else the sweep asks of the database. LZ4
compresses the same bytes several times faster. Rows already stored keep
their compression; new values use LZ4. A server built without LZ4 (or older
than PostgreSQL 14) keeps pglz; SQLite stores the bytes as they are.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (("outboxmessage", "payload"), ("inboundmessage", "raw"))


def _lz4_offered() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    offered = bind.execute(
        sa.text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
    ).scalar()
    return bool(offered) and "lz4" in offered


def _set(method: str) -> None:
    if not _lz4_offered():
        return
    for table, column in COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {method}")


def upgrade() -> None:
    _set("lz4")


def downgrade() -> None:
    _set("pglz")
