"""The one place that builds and starts everything (web now; workers, SMTP, IMAP later).

Nothing else in mailflow connects to anything or reads the environment.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from mailflow.config import Settings, parse_bind, resolve_secret_key
from mailflow.errors import InvalidInput
from mailflow.store.engine import make_engine
from mailflow.store.migrate import ensure_migrated, upgrade

log = logging.getLogger("mailflow")

ROLES = ("web", "worker", "smtp", "imap")
AVAILABLE_ROLES = ("web",)


@dataclass
class App:
    """The wired application: settings, engine and secrets, built once."""

    settings: Settings
    engine: Engine
    secret_key: str

    def close(self) -> None:
        self.engine.dispose()


def build(settings: Settings) -> App:
    """Wire the application for ``settings``; connects lazily."""
    return App(
        settings=settings,
        engine=make_engine(settings.database_url),
        secret_key=resolve_secret_key(settings),
    )


def parse_roles(value: str) -> tuple[str, ...]:
    """``web,worker`` -> ``("web", "worker")``; unknown names raise ``InvalidInput``."""
    roles = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    unknown = [role for role in roles if role not in ROLES]
    if unknown or not roles:
        raise InvalidInput(
            f"unknown role(s) {', '.join(unknown) or '(none)'}: choose from {', '.join(ROLES)}"
        )
    return roles


def serve(app: App, *, demo: bool, roles: Iterable[str]) -> None:
    """Run the given roles until interrupted; ``demo`` migrates and seeds first."""
    # Imported here: the web stack is heavy and most CLI commands never need it.
    import uvicorn

    from mailflow.demo import seed_demo, seed_sample_bookings
    from mailflow.web.app import create_web_app

    now = datetime.now(UTC)
    if demo:
        upgrade(app.engine)
        seed_demo(app.engine, now)
        created = seed_sample_bookings(app.engine, now, app.settings.public_url)
        log.info("demo business ready (%d sample bookings added)", created)
    ensure_migrated(app.engine)
    roles = tuple(roles)
    for role in roles:
        if role not in AVAILABLE_ROLES:
            log.warning("role %s is not part of this version yet; skipping it", role)
    if "web" not in roles:
        return
    host, port = parse_bind(app.settings.web_bind)
    log.info("web on http://%s:%d (public URL %s)", host, port, app.settings.public_url)
    uvicorn.run(create_web_app(app.engine), host=host, port=port, log_level="warning", access_log=False)
