"""Schema migrations (Alembic), driven from code: no ``alembic.ini`` needed.

``upgrade`` is what ``mailflow db upgrade`` runs; ``ensure_migrated`` is what
every other command runs first, refusing an empty or outdated database with
"run `mailflow db upgrade`".
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from mailflow.errors import DatabaseNotMigrated

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


@cache
def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or ``None`` for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (default: the newest)."""
    command.upgrade(_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema back to ``revision`` (``base`` empties it)."""
    command.downgrade(_config(engine), revision)


def ensure_migrated(engine: Engine) -> None:
    """Raise ``DatabaseNotMigrated`` unless the database is at the head revision."""
    current = current_revision(engine)
    if current != head_revision():
        raise DatabaseNotMigrated(current, head_revision())


def is_empty(engine: Engine) -> bool:
    """Whether the database holds no tables at all (brand-new, as opposed to behind)."""
    with engine.connect() as connection:
        return not inspect(connection).get_table_names()
