"""A booking's time with a stalling admin template in force (issue 16, item 4).

Puts an edited ``confirmation`` (en) in force whose body runs nested loops
(2.5 million empty iterations; the issue's template took 2.3 s to validate and
1.26 s per booking), stored directly, as a version saved before the template
limits existed would be. Then books ``--bookings`` times through the service
layer (``create_booking``: the API's and the pages' path) and prints:

- the time of one booking (median and slowest), from the call to its return;
- the longest write transaction during those bookings (what every other
  writer, e.g. another customer booking, had to wait for at worst);
- the same two figures with the shipped default template, for reference.

    python bench/template_stall.py [--bookings 5] [--database-url postgresql+psycopg://…]

Runs on any revision that has ``create_booking`` (also before the limits, to
compare: ``git stash; python bench/template_stall.py``).
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event, text

from mailflow import services
from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.bootstrap import App, build
from mailflow.config import load_settings
from mailflow.demo import seed_demo
from mailflow.outbound import template_store
from mailflow.outbound.templates import TemplateSource, default_source
from mailflow.store.engine import read_session, write_session
from mailflow.store.migrate import upgrade

STALL = (
    "{% for a in range(250) %}{% for b in range(250) %}{% for c in range(40) %}"
    "{% endfor %}{% endfor %}{% endfor %}"
)
BERLIN = ZoneInfo("Europe/Berlin")


class TransactionClock:
    """The longest time any connection of the engine spent between BEGIN and COMMIT/ROLLBACK."""

    def __init__(self, app: App) -> None:
        self.started: dict[int, float] = {}
        self.longest = 0.0
        engine = app.engine
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._end)
        event.listen(engine, "rollback", self._end)

    def _begin(self, connection: Any) -> None:
        self.started[id(connection.connection)] = time.perf_counter()

    def _end(self, connection: Any) -> None:
        began = self.started.pop(id(connection.connection), None)
        if began is not None:
            self.longest = max(self.longest, time.perf_counter() - began)

    def reset(self) -> None:
        self.longest = 0.0


def put_in_force(app: App, business_id: int, jinja: str) -> None:
    default = default_source("confirmation", "en")
    mjml = default.mjml.replace("</mj-column>", f"<mj-text>{jinja}</mj-text></mj-column>", 1)
    source = TemplateSource("confirmation", "en", default.subject, mjml, default.text)
    now = datetime.now(UTC)
    kwargs: dict[str, Any] = {"author": "admin@contoso.example", "now": now}
    if "checked" in inspect.signature(template_store.save_version).parameters:
        kwargs["checked"] = True  # no validation: it would refuse this template now
    with write_session(app.engine) as session:
        template_store.save_version(session, business_id, source, **kwargs)


def book(app: App, day: date, count: int, first: int) -> list[float]:
    times = []
    for index in range(first, first + count):
        week, slot = divmod(index, 28)  # 28 quarter hours from 09:00, then the next Tuesday
        start = datetime.combine(day + timedelta(weeks=week), datetime.min.time(), BERLIN)
        start += timedelta(hours=9, minutes=15 * slot)
        began = time.perf_counter()
        services.create_booking(
            app.engine,
            business="contoso",
            service="consultation",
            staff=("bob@contoso.example", "carla@contoso.example")[index % 2],
            customer=services.CustomerInput(email=f"c{index}@example.com", name=f"Customer {index}"),
            start=start,
            origin=Origin.STAFF,
            actor=Actor(ActorKind.STAFF, "bench"),
            now=datetime.now(UTC),
            public_url=app.settings.public_url,
            **app.booking_kwargs(),
        )
        times.append(time.perf_counter() - began)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=5)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'mailflow.db'}"
        settings = load_settings(
            {
                "MAILFLOW_DATABASE_URL": url,
                "MAILFLOW_DATA_DIR": folder,
                "MAILFLOW_OUTBOUND_URL": "memory://bench",
            }
        )
        app = build(settings)
        upgrade(app.engine)
        seed_demo(app.engine, datetime.now(UTC))
        with read_session(app.engine) as session:
            business_id = int(
                session.execute(text("SELECT id FROM business WHERE slug = 'contoso'")).scalar_one()
            )
        clock = TransactionClock(app)
        day = datetime.now(BERLIN).date() + timedelta(days=14)
        day += timedelta(days=(1 - day.weekday()) % 7)  # a Tuesday: Bob and Carla work
        book(app, day, 1, 0)  # warm-up: compile the default templates once
        clock.reset()
        plain = book(app, day, args.bookings, 1)
        plain_lock = clock.longest
        put_in_force(app, business_id, STALL)
        clock.reset()
        stalled = book(app, day, args.bookings, 1 + args.bookings)
        stalled_lock = clock.longest
        app.close()
    engine = url.split(":", 1)[0]
    print(f"template stall, {args.bookings} bookings each, {engine}:")
    for label, times, lock in (
        ("default template", plain, plain_lock),
        ("stalling template", stalled, stalled_lock),
    ):
        print(
            f"  {label:18} booking median {statistics.median(times) * 1000:8.1f} ms, "
            f"slowest {max(times) * 1000:8.1f} ms; longest write transaction {lock * 1000:8.1f} ms"
        )


if __name__ == "__main__":
    main()
