"""Outgoing webhooks (issue 19, item 1): endpoints and their deliveries.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mailflow.store.types import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = sa.text("status IN ('pending', 'sending')")


def upgrade() -> None:
    op.create_table(
        "webhookendpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("failing_since", UTCDateTime(timezone=True), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["business_id"], ["business.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_webhookendpoint_business_id", "webhookendpoint", ["business_id"], unique=False)
    op.create_table(
        "webhookdelivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=True),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("webhook_id", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_response", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["endpoint_id"], ["webhookendpoint.id"]),
        sa.ForeignKeyConstraint(["business_id"], ["business.id"]),
        sa.ForeignKeyConstraint(["booking_id"], ["booking.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("webhook_id"),
    )
    op.create_index("ix_webhookdelivery_endpoint_id", "webhookdelivery", ["endpoint_id"], unique=False)
    op.create_index("ix_webhookdelivery_booking_id", "webhookdelivery", ["booking_id"], unique=False)
    op.create_index("ix_webhookdelivery_due", "webhookdelivery", ["status", "next_attempt_at"], unique=False)
    op.create_index(
        "ix_webhookdelivery_waiting",
        "webhookdelivery",
        ["endpoint_id", "booking_id", "id"],
        unique=False,
        postgresql_where=WAITING,
        sqlite_where=WAITING,
    )


def downgrade() -> None:
    op.drop_index("ix_webhookdelivery_waiting", table_name="webhookdelivery")
    op.drop_index("ix_webhookdelivery_due", table_name="webhookdelivery")
    op.drop_index("ix_webhookdelivery_booking_id", table_name="webhookdelivery")
    op.drop_index("ix_webhookdelivery_endpoint_id", table_name="webhookdelivery")
    op.drop_table("webhookdelivery")
    op.drop_index("ix_webhookendpoint_business_id", table_name="webhookendpoint")
    op.drop_table("webhookendpoint")
