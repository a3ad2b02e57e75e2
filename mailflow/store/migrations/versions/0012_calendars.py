"""Staff calendars (issue 19): private feeds out, external calendars' busy times in.

``calendarfeed`` holds the SHA-256 of each staff member's feed token;
``externalcalendar`` a staff member's own calendars (iCalendar URL or CalDAV,
the password encrypted with the secret key) with their sync state and, in
``busy``, the busy intervals of their last successful sync.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mailflow.store.types import UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calendarfeed",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("staff_id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "externalcalendar",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("username", sa.String(length=254), nullable=True),
        sa.Column("password_secret", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_sync_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_attempt_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("busy_count", sa.Integer(), nullable=False),
        sa.Column("busy", sa.JSON(), nullable=False, server_default=sa.text("'[]'")),
        sa.ForeignKeyConstraint(["business_id"], ["business.id"]),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_externalcalendar_business_id", "externalcalendar", ["business_id"])
    op.create_index("ix_externalcalendar_staff_id", "externalcalendar", ["staff_id"])
    op.create_index("ix_externalcalendar_next_sync_at", "externalcalendar", ["next_sync_at"])


def downgrade() -> None:
    op.drop_index("ix_externalcalendar_next_sync_at", table_name="externalcalendar")
    op.drop_index("ix_externalcalendar_staff_id", table_name="externalcalendar")
    op.drop_index("ix_externalcalendar_business_id", table_name="externalcalendar")
    op.drop_table("externalcalendar")
    op.drop_table("calendarfeed")
