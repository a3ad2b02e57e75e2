"""Staff calendars (issue 19): the feed's conditional GET, and slot pages over cached busy times.

Sets up a throw-away mailflow like ``bench/web.py`` (temp data dir, demo business, 10,000
confirmed bookings as rows), then:

1. in-process, for bob's feed (``services.calendar_feed.read_feed``): the cost of the
   ETag alone (what a poll answered 304 costs: one narrow query and a digest) against
   the ETag and the body (a 200), median and p99 of 200 calls each;
2. with the real server (``python -m mailflow serve --roles web``), three staff members
   performing the haircut, each holding 500 cached busy times of an external calendar
   over the next 90 days: ``GET /book/haircut?day=…&staff=any`` open-loop at 50 req/s
   (goal: p99 < 100 ms), and ``GET /cal/{token}.ics`` (a 200 with the whole feed) at
   50 req/s.

    python bench/calendars.py [--seconds 10] [--database-url postgresql+psycopg://…/<empty db>]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import itertools
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert
from sqlmodel import select

from mailflow.booking.model import Actor, ActorKind
from mailflow.bootstrap import build
from mailflow.config import load_settings
from mailflow.demo import seed_demo
from mailflow.services.busy_times import merge
from mailflow.services.calendar_feed import new_feed_url, read_feed
from mailflow.store.engine import read_session
from mailflow.store.migrate import current_revision, upgrade
from mailflow.store.tables import (
    ExternalCalendar,
    Service,
    ServiceStaff,
    Staff,
    pk,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
web = importlib.import_module("web")  # bench/web.py: the data, server and load helpers

BUSY_PER_STAFF = 500
PERFORMERS = ("admin@contoso.example", "bob@contoso.example", "carla@contoso.example")
CALLS = 200


def add_busy_times(engine: Engine, now: datetime, rng: random.Random, per_staff: int) -> None:
    """The admin performs the haircut too; each performer gets ``per_staff`` busy times (30-90
    minutes, between 08:00 and 18:00 Berlin) over the next 90 days."""
    zone = ZoneInfo(web.TIMEZONE)
    with read_session(engine) as session:
        haircut = session.exec(select(Service).where(Service.slug == "haircut")).one()
        members = {m.email: m for m in session.exec(select(Staff)).all()}
        performing = {
            row.staff_id for row in session.exec(select(ServiceStaff)).all() if row.service_id == haircut.id
        }
    with engine.begin() as connection:
        for email in PERFORMERS:
            member = members[email]
            if pk(member) not in performing:
                connection.execute(insert(ServiceStaff), {"service_id": pk(haircut), "staff_id": pk(member)})
            spans = []
            for _ in range(per_staff):
                day = (now + timedelta(days=rng.randint(1, 90))).astimezone(zone).date()
                start = datetime.combine(day, web.wall(rng.randint(8, 17)), zone).astimezone(UTC)
                start += timedelta(minutes=rng.choice((0, 15, 30, 45)))
                end = start + timedelta(minutes=rng.choice((30, 45, 60, 90)))
                spans.append((start, end))
            # As a sync stores them: merged and sorted (a few of the random ones overlap).
            busy = [[int(start.timestamp()), int(end.timestamp())] for start, end in merge(spans)]
            connection.execute(
                insert(ExternalCalendar),
                {
                    "business_id": member.business_id, "staff_id": pk(member), "kind": "ics",
                    "url": f"https://calendar.example/{email}.ics", "created_at": now,
                    "next_sync_at": now + timedelta(days=365), "last_success_at": now,
                    "busy_count": len(busy), "busy": busy,
                },
            )  # fmt: skip


def time_calls(call: Callable[[], object]) -> tuple[float, float]:
    """Median and p99 in milliseconds of ``CALLS`` calls."""
    timings = []
    for _ in range(CALLS):
        began = time.perf_counter()
        call()
        timings.append((time.perf_counter() - began) * 1000)
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each phase (default 10)")
    parser.add_argument("--database-url", default="", help="an empty PostgreSQL database on loopback")
    parser.add_argument(
        "--busy", type=int, default=BUSY_PER_STAFF, help="busy times per staff member (0: the baseline)"
    )
    args = parser.parse_args()
    web.check_loopback(args.database_url)
    with tempfile.TemporaryDirectory(prefix="mailflow-bench-calendars-") as tmp:
        data_dir = Path(tmp)
        port = web.free_port()
        settings = load_settings(
            environ={
                "MAILFLOW_DATA_DIR": str(data_dir),
                "MAILFLOW_DATABASE_URL": args.database_url,
                "MAILFLOW_OUTBOUND_URL": "memory://bench",
            }
        )
        app = build(settings)
        engine = app.engine
        try:
            if current_revision(engine) is not None:
                raise SystemExit("the database is not empty: pass a fresh database")
            now = datetime.now(UTC)
            upgrade(engine)
            seed_demo(engine, now)
            data = web.populate(engine, now, random.Random(2026))
            add_busy_times(engine, now, random.Random(19), args.busy)
            actor = Actor(ActorKind.STAFF, "bench")
            base_url = f"http://127.0.0.1:{port}"
            url = new_feed_url(
                engine, "contoso", "bob@contoso.example", public_url=base_url, actor=actor, now=now
            )
            token = url.rsplit("/", 1)[1].removesuffix(".ics")
            domain = app.notifier.builder.settings.message_domain
            feed = read_feed(engine, token, now, public_url=base_url, domain=domain)
            assert feed is not None
            body = feed.build()
            events = body.count(b"BEGIN:VEVENT")
            etag_only = time_calls(lambda: read_feed(engine, token, now, public_url=base_url, domain=domain))

            def whole() -> object:
                found = read_feed(engine, token, now, public_url=base_url, domain=domain)
                assert found is not None
                return found.build()

            with_body = time_calls(whole)
        finally:
            app.close()
        print(f"machine: {web.cpu_count()} CPUs, engine {engine.dialect.name}; {data.bookings} bookings")
        print(f"feed of bob: {events} events, {len(body) / 1024:.0f} KiB")
        print(f"  ETag only (a 304):      median {etag_only[0]:6.2f} ms, p99 {etag_only[1]:6.2f} ms")
        print(f"  ETag and body (a 200):  median {with_body[0]:6.2f} ms, p99 {with_body[1]:6.2f} ms")

        zone = ZoneInfo(web.TIMEZONE)
        today = datetime.now(UTC).astimezone(zone).date()
        horizon = today + timedelta(days=30)
        days = list(itertools.takewhile(lambda d: d <= horizon, web._weekdays(today + timedelta(days=1), 1)))
        phases = [
            web.Phase(
                f"GET /book/haircut (any staff, 3 x {args.busy} busy times)",
                50,
                lambda i: f"/book/haircut?day={days[i % len(days)].isoformat()}&staff=any",
            ),
            web.Phase("GET /cal/{token}.ics (200)", 50, lambda i: f"/cal/{token}.ics"),
        ]
        log_path = data_dir / "server.log"
        with log_path.open("wb") as log:
            server = web.start_server(
                web.server_environment(data_dir, settings.database_url, port), data_dir, log
            )
            try:
                web.wait_healthy(base_url, server, log_path)
                results = asyncio.run(web.measure(base_url, phases, args.seconds, server.pid))
            finally:
                web.stop_server(server)
    print()
    web.print_results(results)
    print()
    web.verdict(results[0], "self-service slot page with busy times", 100)


if __name__ == "__main__":
    main()
