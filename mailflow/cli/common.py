"""What every part of the ``mailflow`` command shares: the wired app, the clock, the output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import typer

from mailflow.app import App, build
from mailflow.booking.model import Actor, ActorKind
from mailflow.config import load_settings
from mailflow.store import migrate

JsonOption = typer.Option(False, "--json", help="Print JSON only (logs go to stderr).")
STAFF_ACTOR = Actor(ActorKind.STAFF, "cli")


@contextmanager
def open_app(*, migrated: bool = True) -> Iterator[App]:
    """The application wired from the settings, refusing an unmigrated database by default."""
    app = build(load_settings())
    try:
        if migrated:
            migrate.ensure_migrated(app.engine)
        yield app
    finally:
        app.close()


def now() -> datetime:
    return datetime.now(UTC)


def emit(data: Any, as_json: bool, human: Callable[[], str]) -> None:
    """``data`` as JSON on stdout with ``--json``, else the human text."""
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(human() + "\n")
