"""Admin: one-time links (password reset, invitation), API keys, a note on template versions.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - column types of SQLModel tables
from alembic import op

from mailflow.store.types import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "adminlink",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_adminlink_token_hash", "adminlink", ["token_hash"], unique=True)
    op.create_index("ix_adminlink_staff_id", "adminlink", ["staff_id"], unique=False)
    op.create_table(
        "apikey",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.Column("last_used_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["business_id"], ["business.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_apikey_key_hash", "apikey", ["key_hash"], unique=True)
    op.create_index("ix_apikey_business_id", "apikey", ["business_id"], unique=False)
    with op.batch_alter_table("templateversion") as batch:
        batch.add_column(sa.Column("note", sa.String(length=500), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("templateversion") as batch:
        batch.drop_column("note")
    op.drop_index("ix_apikey_business_id", table_name="apikey")
    op.drop_index("ix_apikey_key_hash", table_name="apikey")
    op.drop_table("apikey")
    op.drop_index("ix_adminlink_staff_id", table_name="adminlink")
    op.drop_index("ix_adminlink_token_hash", table_name="adminlink")
    op.drop_table("adminlink")
