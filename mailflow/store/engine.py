"""Engines and transactions for SQLite (embedded) and PostgreSQL (production).

SQLite connections get WAL, foreign keys, a busy timeout and a ``lower()`` that
knows every letter, as PostgreSQL's does. Write
transactions opened with :func:`write_session` start with ``BEGIN IMMEDIATE``
on SQLite, so a read-check-write (no double booking, claiming rows) holds the
write lock from its first read; on PostgreSQL they are ordinary transactions
and the constraints and ``FOR UPDATE SKIP LOCKED`` do that work.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows has no fcntl: processes there meet SQLite's busy timeout only
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, make_url
from sqlmodel import Session

SQLITE_BUSY_TIMEOUT_MS = 10_000
_IMMEDIATE = "mailflow_immediate"


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create the engine for ``url``, with mailflow's SQLite settings where it applies."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **kwargs)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own
        # transaction handling would defer it and could not say IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        # SQLite's own lower() knows ASCII only; PostgreSQL's knows every letter ("ÖZIL" -> "özil"),
        # so searches that compare lower(column) (the admin's customer search) agree on both.
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def database_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the database cannot serve right now (down, restarting, the
    connection cut, every pooled connection busy, SQLite locked) rather than a faulty query:
    the answer to the caller is "try again shortly", and a retry may well succeed.
    """
    if isinstance(error, sa_exc.TimeoutError):  # the pool had no connection to give in time
        return True
    if not isinstance(error, sa_exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if not isinstance(error, sa_exc.OperationalError):
        return False
    # psycopg's OperationalError is about the server or the connection (refused, shutting down,
    # starting up, terminated; deadlocks and cancels too); sqlite3 also uses it for faulty SQL.
    if type(error.orig).__module__.startswith("sqlite3"):
        text = str(error.orig).lower()
        return "locked" in text or "unable to open" in text or "disk i/o" in text
    return True


_WRITE_LOCKS: dict[int, threading.Lock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _thread_turn(engine: Engine) -> threading.Lock:
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(id(engine), threading.Lock())


@contextmanager
def _write_turn(engine: Engine) -> Iterator[None]:
    """SQLite's writers take turns on a lock instead of sleeping in busy retries.

    SQLite admits one writer; a writer that finds the database locked sleeps in
    growing steps (up to 100 ms) before it looks again, so an inbound SMTP
    process storing a message could wait hundreds of milliseconds behind a
    worker that commits and begins its next transaction at once. Threads of one
    process queue on a lock, processes on ``flock`` of ``<database>.lock``;
    both wake the next writer as soon as the turn is given back. The kernel
    drops a killed process's lock. Without ``fcntl`` (Windows), or when the
    lock file cannot be opened, the busy timeout alone does the work.
    """
    database = engine.url.database
    path = f"{database}.lock" if database and database != ":memory:" and fcntl is not None else None
    with _thread_turn(engine):
        descriptor = None
        if path is not None:
            try:
                descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:
                descriptor = None
        try:
            if descriptor is not None:
                fcntl.flock(descriptor, fcntl.LOCK_EX)  # closing the descriptor gives it back
            yield
        finally:
            if descriptor is not None:
                os.close(descriptor)


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """One write transaction: commits on success, rolls back on any error.

    On SQLite the transaction takes the write lock at once (``BEGIN IMMEDIATE``).
    Callables appended to ``session.info[AFTER_COMMIT]`` run once it has committed and
    every lock is released (work that must not hold the lock, such as rendering emails);
    after a rollback they do not run.
    """
    after: list[Callable[[], None]] = []
    turn = _write_turn(engine) if engine.dialect.name == "sqlite" else nullcontext()
    with turn, engine.connect() as connection:
        connection = connection.execution_options(**{_IMMEDIATE: True})
        with Session(bind=connection) as session, connection.begin():
            session.info[AFTER_COMMIT] = after
            yield session
            session.flush()
    for run in after:
        run()


AFTER_COMMIT = "mailflow.after_commit"
RENDER_IN_TRANSACTION = "mailflow.render_in_transaction"
"""Set in ``session.info`` where the emails a transaction queues are better rendered inside it
than after the commit: where rendering holds no lock anyone waits for (see the reminder sweep)."""


def connection_of(session: Session) -> Connection:
    """The session's connection, its pending changes flushed first, for a hot path's column query
    or bulk statement: Core execution skips the ORM's per-statement work (about half of a small
    query's cost) yet sees what the session changed, as ``session.execute`` would (autoflush)."""
    session.flush()
    return session.connection()


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A session for reading; nothing it changes is committed."""
    with Session(engine) as session:
        yield session
