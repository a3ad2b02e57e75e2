"""Set-up: service texts per language, the business's change instructions per language,
one-time set-up links.

``service.names`` / ``descriptions`` / ``instructions`` and ``business.instructions`` map a
language to its text (``{"en": "Haircut", "de": "Haarschnitt"}``); the single-text columns
beside them keep the business's default language for every reader that does not localize.
Existing rows get their single text as the default language's entry.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mailflow.store.types import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EMPTY = sa.text("'{}'")


def upgrade() -> None:
    for column in ("names", "descriptions", "instructions"):
        op.add_column("service", sa.Column(column, sa.JSON(), nullable=False, server_default=EMPTY))
    op.add_column("business", sa.Column("instructions", sa.JSON(), nullable=False, server_default=EMPTY))
    op.create_table(
        "setuplink",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", UTCDateTime(timezone=True), nullable=True),
    )
    _fill_from_single_texts()


def _fill_from_single_texts() -> None:
    connection = op.get_bind()
    business = sa.table(
        "business",
        sa.column("id", sa.Integer()),
        sa.column("default_locale", sa.String()),
        sa.column("change_instructions", sa.Text()),
        sa.column("instructions", sa.JSON()),
    )
    service = sa.table(
        "service",
        sa.column("id", sa.Integer()),
        sa.column("business_id", sa.Integer()),
        sa.column("name", sa.String()),
        sa.column("description", sa.Text()),
        sa.column("change_instructions", sa.Text()),
        sa.column("names", sa.JSON()),
        sa.column("descriptions", sa.JSON()),
        sa.column("instructions", sa.JSON()),
    )
    locales = {}
    for row in connection.execute(
        sa.select(business.c.id, business.c.default_locale, business.c.change_instructions)
    ):
        locales[row.id] = row.default_locale
        if row.change_instructions:
            connection.execute(
                business.update()
                .where(business.c.id == row.id)
                .values(instructions={row.default_locale: row.change_instructions})
            )
    rows = connection.execute(
        sa.select(
            service.c.id,
            service.c.business_id,
            service.c.name,
            service.c.description,
            service.c.change_instructions,
        )
    ).all()
    for row in rows:
        locale = locales.get(row.business_id, "en")
        connection.execute(
            service.update()
            .where(service.c.id == row.id)
            .values(
                names={locale: row.name},
                descriptions={locale: row.description} if row.description else {},
                instructions={locale: row.change_instructions} if row.change_instructions else {},
            )
        )


def downgrade() -> None:
    op.drop_table("setuplink")
    with op.batch_alter_table("business") as batch:
        batch.drop_column("instructions")
    with op.batch_alter_table("service") as batch:
        for column in ("instructions", "descriptions", "names"):
            batch.drop_column(column)
