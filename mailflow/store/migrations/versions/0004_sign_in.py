"""Sign-in for staff and admins: a password hash on Staff, server-side sessions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - column types of SQLModel tables
from alembic import op

from mailflow.store.types import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(length=255), nullable=True))
    op.create_table(
        "adminsession",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_adminsession_token_hash", "adminsession", ["token_hash"], unique=True)
    op.create_index("ix_adminsession_staff_id", "adminsession", ["staff_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_adminsession_staff_id", table_name="adminsession")
    op.drop_index("ix_adminsession_token_hash", table_name="adminsession")
    op.drop_table("adminsession")
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("password_hash")
