"""Engine settings and the stored time type."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import StatementError
from sqlmodel import Session, select

from mailflow.store.tables import Business


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_engine: Engine) -> None:
    """Every SQLite connection has WAL, enforced foreign keys and a busy timeout."""
    with sqlite_engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_times_come_back_aware_utc_on_both_engines(engine: Engine) -> None:
    """A time stored with any offset is read back as the same instant in UTC."""
    from zoneinfo import ZoneInfo

    created = datetime(2026, 3, 29, 3, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    with Session(engine) as session:
        session.add(Business(slug="b", name="B", timezone="Europe/Berlin", created_at=created))
        session.commit()
    with Session(engine) as session:
        stored = session.get_one(Business, 1).created_at
    assert stored.tzinfo is not None and stored.utcoffset() == UTC.utcoffset(None)
    assert stored == created


def test_naive_times_are_refused(engine: Engine) -> None:
    """Storing a naive datetime is an error, never a silent guess."""
    with Session(engine) as session:
        session.add(Business(slug="n", name="N", timezone="UTC", created_at=datetime(2026, 1, 1)))  # noqa: DTZ001
        with pytest.raises(StatementError, match="naive datetime"):
            session.commit()


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    """A row pointing at a missing parent is rejected on both engines."""
    from sqlalchemy.exc import IntegrityError

    from mailflow.store.tables import Staff

    with Session(engine) as session:
        session.add(Staff(business_id=999, email="x@example.com", timezone="UTC"))
        with pytest.raises(IntegrityError):
            session.commit()


def test_a_writer_of_another_process_waits_for_the_lock_file(sqlite_engine: Engine) -> None:
    """While another process holds ``<database>.lock``, a write transaction here waits; then it commits."""
    import subprocess
    import sys
    import threading

    from mailflow.store.engine import write_session

    lock_path = f"{sqlite_engine.url.database}.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
            "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.readline()",
            lock_path,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline().strip() == "held"
        committed = threading.Event()

        def write() -> None:
            with write_session(sqlite_engine) as session:
                session.add(Business(slug="waiting", name="W", timezone="UTC", created_at=datetime.now(UTC)))
            committed.set()

        writer = threading.Thread(target=write)
        writer.start()
        assert not committed.wait(0.5)  # the other process's turn
        holder.stdin.write("\n")
        holder.stdin.flush()
        writer.join(10)
        assert committed.is_set()
    finally:
        holder.kill()
        holder.wait()
    with Session(sqlite_engine) as session:
        assert session.exec(select(Business).where(Business.slug == "waiting")).one().name == "W"
