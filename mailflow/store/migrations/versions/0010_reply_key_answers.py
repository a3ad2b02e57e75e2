"""A reply key remembers the customer's email a forward carries, so a staff answer threads under it.

``replykey.answers`` holds the Message-ID of the customer's own email that a
``customer_message`` forward to staff carries; the staff member's answer,
relayed to the customer, names it in ``In-Reply-To`` (issue 18). Existing keys
have none: answers to them thread under the booking as before.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("replykey", sa.Column("answers", sa.String(length=998), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("replykey") as batch:
        batch.drop_column("answers")
