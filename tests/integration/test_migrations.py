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


def test_booking_note_column_comes_with_0009_and_goes_with_its_downgrade(engine: Engine) -> None:
    """0009 adds the nullable ``booking.note`` on both engines; down to 0008 removes it, bookings kept."""
    from datetime import UTC, datetime, timedelta

    from mailflow.booking.model import Actor, ActorKind, Origin
    from mailflow.demo import seed_demo
    from mailflow.services import CustomerInput, create_booking

    def columns() -> dict[str, bool]:
        return {column["name"]: column["nullable"] for column in inspect(engine).get_columns("booking")}

    assert columns()["note"] is True
    now = datetime(2026, 3, 1, 9, tzinfo=UTC)
    seed_demo(engine, now)
    create_booking(
        engine,
        business="contoso",
        service="consultation",
        staff="bob@contoso.example",
        customer=CustomerInput(email="ada@example.com", name="Ada"),
        start=datetime(2026, 3, 3, 9, tzinfo=UTC),
        origin=Origin.SELF_SERVICE,
        actor=Actor(ActorKind.STAFF, "test"),
        now=now,
        public_url="http://testserver",
        grid=timedelta(minutes=15),
        notifier=None,
        note="fragrance-free, please",
    )
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT note FROM booking").scalars().all() == [
            "fragrance-free, please"
        ]
        bookings = connection.exec_driver_sql("SELECT count(*) FROM booking").scalar_one()
    assert bookings > 0
    downgrade(engine, "0008")
    assert "note" not in columns()
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM booking").scalar_one() == bookings
    upgrade(engine)
    assert columns()["note"] is True
    with engine.connect() as connection:
        notes = connection.exec_driver_sql("SELECT DISTINCT note FROM booking").scalars().all()
    assert notes == [None]


def test_stored_emails_are_compressed_with_lz4_on_postgresql(postgres_engine: Engine) -> None:
    """0013: an outbox body and a raw inbound message of email size are stored LZ4-compressed;
    down to 0012 new values go back to pglz."""
    from datetime import UTC, datetime

    from mailflow.demo import seed_demo

    seed_demo(postgres_engine, datetime(2026, 12, 7, tzinfo=UTC))
    body = b"".join(b'<tr><td class="mf-row">Termin %d</td></tr>\r\n' % i for i in range(800))

    def stored_with() -> list[str]:
        with postgres_engine.begin() as connection:
            connection.exec_driver_sql("DELETE FROM outboxmessage")
            connection.exec_driver_sql(
                "INSERT INTO outboxmessage (business_id, kind, recipient, message_id, status, attempts, "
                "next_attempt_at, payload, context, created_at) "
                "SELECT min(id), 'reminder', 'a@example.com', '<m@x>', 'sent', 1, %(at)s, %(body)s, '{}', "
                "%(at)s FROM business",
                {"at": datetime(2026, 12, 7, tzinfo=UTC), "body": body},
            )
            return list(
                connection.exec_driver_sql(
                    "SELECT pg_column_compression(payload) FROM outboxmessage"
                ).scalars()
            )

    with postgres_engine.begin() as connection:
        offered = connection.exec_driver_sql(
            "SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'"
        ).scalar()
        methods = dict(
            connection.exec_driver_sql(
                "SELECT attrelid::regclass::text, attcompression FROM pg_attribute WHERE "
                "(attrelid, attname) IN (('outboxmessage'::regclass, 'payload'), "
                "('inboundmessage'::regclass, 'raw'))"
            ).all()
        )
    assert offered is not None and "lz4" in offered  # Debian's PostgreSQL 15 is built with LZ4
    assert methods == {"outboxmessage": "l", "inboundmessage": "l"}
    assert stored_with() == ["lz4"]
    downgrade(postgres_engine, "0012")
    assert stored_with() == ["pglz"]
    upgrade(postgres_engine)
    assert stored_with() == ["lz4"]
