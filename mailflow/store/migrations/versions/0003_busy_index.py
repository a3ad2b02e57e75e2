"""Index a staff member's bookings by end, so busy-time searches skip the past.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_booking_staff_end", "booking", ["staff_id", "block_end"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_booking_staff_end", table_name="booking")
