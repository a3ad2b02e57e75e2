"""Migrations: from empty on both engines, the way down and up again, and agreement with the tables."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from mailflow.errors import DatabaseNotMigrated
from mailflow.store.engine import make_engine
from mailflow.store.migrate import current_revision, downgrade, ensure_migrated, head_revision, upgrade
from mailflow.store.tables import metadata

EXPECTED_TABLES = {
    "business", "businessclosure", "staff", "stafftimeoff", "service", "servicestaff", "customer",
    "booking", "managetoken", "replykey", "outboxmessage", "reminder", "template", "templateversion",
    "inboundmessage", "auditevent",
}  # fmt: skip


def test_empty_database_is_refused_until_upgraded(sqlite_url: str) -> None:
    """An empty database raises the 'run mailflow db upgrade' error; after upgrade it passes."""
    engine = make_engine(sqlite_url)
    with pytest.raises(DatabaseNotMigrated, match="run `mailflow db upgrade`"):
        ensure_migrated(engine)
    upgrade(engine)
    ensure_migrated(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_upgrade_creates_every_table_and_matches_the_models(engine: Engine) -> None:
    """On SQLite and PostgreSQL the migrated schema has every table and no drift from the models."""
    assert set(inspect(engine).get_table_names()) >= EXPECTED_TABLES
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    assert diff == []


def test_downgrade_and_upgrade_round_trip(engine: Engine) -> None:
    """Down to empty and back up leaves the same head and tables (PostgreSQL constraint included)."""
    downgrade(engine, "base")
    assert current_revision(engine) is None
    assert not (EXPECTED_TABLES & set(inspect(engine).get_table_names()))
    with pytest.raises(DatabaseNotMigrated):
        ensure_migrated(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert set(inspect(engine).get_table_names()) >= EXPECTED_TABLES
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            names = connection.exec_driver_sql(
                "select conname from pg_constraint where conname = 'booking_no_overlap'"
            ).all()
        assert names == [("booking_no_overlap",)]


def test_outdated_database_is_refused(sqlite_url: str) -> None:
    """A database stamped with an unknown or older revision is refused with its revision named."""
    engine = make_engine(sqlite_url)
    upgrade(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0000_old'")
    with pytest.raises(DatabaseNotMigrated, match="0000_old"):
        ensure_migrated(engine)
    engine.dispose()
