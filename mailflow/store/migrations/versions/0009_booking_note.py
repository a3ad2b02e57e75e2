"""The customer's note to the business on a booking (``booking.note``, given on the booking
form or through the API; shown to staff in their emails and on the admin's booking page).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("booking", sa.Column("note", sa.Text(), nullable=True))


def downgrade() -> None:
    # In place on both engines (SQLite 3.35+ drops a plain column itself): a batch rebuild of
    # ``booking`` would drop the table under the rows that reference it (tokens, audit, ...).
    op.drop_column("booking", "note")
