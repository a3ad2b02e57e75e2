"""Scale: the reminder sweep and outbox dispatch with 10,000 and with 1,000,000 bookings in PostgreSQL.

    python bench/scale.py [--bookings 1000000] [--small 10000] [--sample 2000] [--dispatch 5000]
                          [--workers 1,2]

A throwaway PostgreSQL cluster (``tests/pgcluster.py``; never the shared
server) is migrated and loaded with COPY, first to ``--small`` bookings, then
to ``--bookings``. The rows are what mailflow itself leaves behind: businesses
of three staff members and an admin, bookings every hour of their weekdays
from two years back to 90 days ahead (5% cancelled), one 24-hour reminder each
(``sent``, ``skipped``, ``dropped`` or, for the future, ``pending``, as
``plan_reminders`` and the sweep set them), the outbox rows of their emails
(confirmation and the staff and admin notifications, the reminder once sent,
the cancellation emails; all ``sent``, their bodies dropped as housekeeping
does), a reply key per email and a manage token per customer email that
carries the button.

At each size, for 1 and 2 worker processes (the functions ``mailflow serve
--roles worker`` runs), ``--sample`` future reminders are made due (2,000: ten batches
of 200, which two workers can share evenly; 1,000 made five, split 3:2, which capped
two workers at x1.67 of one), then
timed: the sweep (``sweep_reminders`` until nothing is due: rendering each
reminder and queueing it) and the dispatch of ``--dispatch`` emails (those
reminders, and sent emails queued again with a reminder's body) by
``Dispatcher.run_once`` with the ``memory://`` transport: claim, "send", record. Printed: items/s, wall ms
per item, the CPU per item of the workers and of PostgreSQL, and the
statements that took the database's time (pg_stat_statements) with their mean
time per call, so a cost that grows with the tables shows which query it is.

Not part of CI; ``bench/run.py --scale`` adds it to the report (it takes a
while: 10 to 20 minutes at 1,000,000 bookings on two busy cores). Check it quickly
with ``--bookings 20000``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import math
import multiprocessing
import os
import secrets
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests/pgcluster.py

from run import machine  # noqa: E402  (bench/run.py, beside this file)

from mailflow.booking.tokens import REF_ALPHABET, token_expiry  # noqa: E402
from mailflow.bootstrap import build  # noqa: E402
from mailflow.config import load_settings  # noqa: E402
from mailflow.outbound.dispatch import Dispatcher  # noqa: E402
from mailflow.outbound.transports import MemoryTransport  # noqa: E402
from mailflow.runtime import freeze_start_up  # noqa: E402  (as mailflow serve does once built)
from mailflow.services.reminders import sweep_reminders  # noqa: E402
from mailflow.store.engine import make_engine, read_session  # noqa: E402
from mailflow.store.migrate import upgrade  # noqa: E402
from mailflow.store.tables import Booking  # noqa: E402
from tests.pgcluster import PgCluster  # noqa: E402

ZONE = ZoneInfo("Europe/Berlin")
PAST_DAYS = 730
FUTURE_DAYS = 90
HOURS = range(9, 17)  # one booking an hour, 09:00 to 16:00 starts
STAFF_PER_BUSINESS = 3
CUSTOMERS_PER_BUSINESS_SHARE = 4  # a customer books four times on average
CANCELLED_PER_MILLE = 50
CHUNK = 25_000  # bookings per COPY transaction
DOMAIN = "mailflow.localhost"
CLUSTER_SETTINGS = {
    "shared_buffers": "2GB",
    "effective_cache_size": "8GB",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
    "maintenance_work_mem": "256MB",
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "top",
    "autovacuum": "on",
}


# --- the rows ----------------------------------------------------------------------------


def mix(number: int, salt: int) -> int:
    """A cheap deterministic hash of ``number``: the same "random" choices on every pass."""
    value = (number * 0x9E3779B97F4A7C15 + salt * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    value ^= value >> 31
    value = (value * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return value ^ (value >> 29)


def ref_of(number: int) -> str:
    chars = []
    for _ in range(6):
        number, digit = divmod(number, len(REF_ALPHABET))
        chars.append(REF_ALPHABET[digit])
    return "BK-" + "".join(reversed(chars))


@dataclass
class Plan:
    """Where N bookings go: ``businesses`` of three staff, every hour of every weekday in ``days``."""

    bookings: int
    now: datetime
    days: list[date] = field(default_factory=list)
    businesses: int = 0
    slots: int = 0  # capacity: businesses x staff x days x hours
    step: int = 1  # the permutation's multiplier (coprime with slots)

    def __post_init__(self) -> None:
        today = self.now.astimezone(ZONE).date()
        day = today - timedelta(days=PAST_DAYS)
        while day <= today + timedelta(days=FUTURE_DAYS):
            if day.weekday() < 5 and day != today:
                self.days.append(day)
            day += timedelta(days=1)
        per_business = STAFF_PER_BUSINESS * len(self.days) * len(HOURS)
        self.businesses = math.ceil(self.bookings / per_business)
        self.slots = self.businesses * per_business
        # A fixed permutation of the slots: the first 10,000 bookings are spread over every
        # business and day like the first million, past and future in the same shares.
        step = int(self.slots * 0.6180339887) | 1
        while math.gcd(step, self.slots) != 1:
            step += 2
        self.step = step

    def customers_per_business(self) -> int:
        return max(1, STAFF_PER_BUSINESS * len(self.days) * len(HOURS) // CUSTOMERS_PER_BUSINESS_SHARE)

    def slot(self, number: int) -> tuple[int, int, date, int]:
        """(business index, staff index, day, hour) of booking ``number`` (0-based)."""
        index = (number * self.step + 7) % self.slots
        per_staff = len(self.days) * len(HOURS)
        business, rest = divmod(index, STAFF_PER_BUSINESS * per_staff)
        staff, rest = divmod(rest, per_staff)
        day, hour = divmod(rest, len(HOURS))
        return business, staff, self.days[day], HOURS[hour]


# Ids of the fixed rows of business b (0-based): admin 4b+1, staff 4b+2..4b+4; services 2b+1
# (consultation, customers may manage) and 2b+2 (haircut, they may not).
def admin_id(business: int) -> int:
    return 4 * business + 1


def staff_id(business: int, staff: int) -> int:
    return 4 * business + 2 + staff


def staff_email(business: int, staff: int | None) -> str:
    return f"admin@b{business}.example" if staff is None else f"staff{staff}@b{business}.example"


def load_fixed(connection: psycopg.Connection[Any], plan: Plan) -> None:
    """Businesses, their staff and services (few rows), with explicit ids."""
    hours = '{"0": [["09:00", "17:00"]], "1": [["09:00", "17:00"]], "2": [["09:00", "17:00"]], ' + (
        '"3": [["09:00", "17:00"]], "4": [["09:00", "17:00"]]}'
    )
    created = plan.now - timedelta(days=PAST_DAYS + 30)
    with connection.cursor() as cursor:
        with cursor.copy(
            "COPY business (id, slug, name, timezone, default_locale, locales, phone, email, address, "
            "sender_name, sender_email, change_instructions, created_at) FROM STDIN"
        ) as copy:
            for b in range(plan.businesses):
                copy.write_row(
                    (b + 1, f"b{b}", f"Salon {b}", "Europe/Berlin", "en", '["en", "de"]', "+49 30 1234567",
                     f"hello@b{b}.example", "Hauptstraße 1, 10115 Berlin", f"Salon {b}",
                     f"hello@b{b}.example", None, created)
                )  # fmt: skip
        with cursor.copy(
            "COPY staff (id, business_id, email, name, role, locale, timezone, weekly_hours, "
            "notification_prefs, active, password_hash) FROM STDIN"
        ) as copy:
            for b in range(plan.businesses):
                copy.write_row(
                    (admin_id(b), b + 1, staff_email(b, None), "Admin", "admin", "en", "Europe/Berlin",
                     hours, "{}", True, None)
                )  # fmt: skip
                for s in range(STAFF_PER_BUSINESS):
                    copy.write_row(
                        (staff_id(b, s), b + 1, staff_email(b, s), f"Staff {s}", "staff", "en",
                         "Europe/Berlin", hours, "{}", True, None)
                    )  # fmt: skip
        with cursor.copy(
            "COPY service (id, business_id, slug, name, description, duration_minutes, "
            "buffer_before_minutes, buffer_after_minutes, customer_can_manage, change_cutoff_minutes, "
            "min_notice_minutes, horizon_days, reminder_offsets_minutes, location, change_instructions, "
            "active) FROM STDIN"
        ) as copy:
            for b in range(plan.businesses):
                copy.write_row(
                    (2 * b + 1, b + 1, "consultation", "Consultation", "", 30, 0, 0, True, 0, 60, 90,
                     "[1440]", "", None, True)
                )  # fmt: skip
                copy.write_row(
                    (2 * b + 2, b + 1, "haircut", "Haircut", "", 45, 0, 0, False, 0, 60, 90, "[1440]", "",
                     None, True)
                )  # fmt: skip
        with cursor.copy("COPY servicestaff (service_id, staff_id) FROM STDIN") as copy:
            for b in range(plan.businesses):
                for s in range(STAFF_PER_BUSINESS):
                    copy.write_row((2 * b + 1, staff_id(b, s)))
                    copy.write_row((2 * b + 2, staff_id(b, s)))


COLUMNS = {
    "customer": (
        "id",
        "business_id",
        "email",
        "name",
        "phone",
        "locale",
        "timezone",
        "bouncing",
        "created_at",
    ),
    "booking": (
        *("id", "business_id", "ref", "service_id", "staff_id", "customer_id", "origin", "status", "start"),
        *('"end"', "block_start", "block_end", "sequence", "version", "cancel_reason", "cancelled_at"),
        *("created_at", "updated_at"),
    ),
    "reminder": ("id", "booking_id", "offset_minutes", "due_at", "status", "booking_version", "sent_at"),
    "outboxmessage": (
        *("id", "business_id", "booking_id", "kind", "recipient", "message_id", "status", "attempts"),
        *("next_attempt_at", "claimed_until", "last_error", "payload", "context", "created_at", "sent_at"),
    ),
    "replykey": ("id", "key", "booking_id", "recipient", "created_at", "kind", "offered"),
    "managetoken": ("id", "booking_id", "token_hash", "created_at", "expires_at"),
}


@dataclass
class Rows:
    customer: list[tuple[Any, ...]] = field(default_factory=list)
    booking: list[tuple[Any, ...]] = field(default_factory=list)
    reminder: list[tuple[Any, ...]] = field(default_factory=list)
    outbox: list[tuple[Any, ...]] = field(default_factory=list)
    reply_key: list[tuple[Any, ...]] = field(default_factory=list)
    token: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass
class Loader:
    """Writes bookings ``[done, target)`` of ``plan`` and everything mailflow keeps about them."""

    plan: Plan
    done: int = 0
    outbox_id: int = 0
    reply_key_id: int = 0
    token_id: int = 0
    reminder_id: int = 0
    customers: set[int] = field(default_factory=set)

    def rows(self, first: int, last: int) -> Rows:
        plan, now, rows = self.plan, self.plan.now, Rows()
        per_business = plan.customers_per_business()
        for number in range(first, last):
            booking_id = number + 1
            business, staff, day, hour = plan.slot(number)
            consultation = hour % 2 == 0
            service_id = 2 * business + (1 if consultation else 2)
            minutes = 30 if consultation else 45
            customer = mix(number, 1) % per_business
            customer_id = business * per_business + customer + 1
            customer_email = f"c{customer}@b{business}.example"
            locale = "de" if customer % 3 == 0 else "en"
            start = datetime.combine(day, wall(hour), ZONE).astimezone(UTC)
            end = start + timedelta(minutes=minutes)
            created = min(start, now) - timedelta(minutes=60 + mix(number, 2) % (30 * 24 * 60))
            if customer_id not in self.customers:
                self.customers.add(customer_id)
                rows.customer.append(
                    (customer_id, business + 1, customer_email, f"Customer {customer}", "", locale,
                     "Europe/Berlin", False, created)
                )  # fmt: skip
            origin = "self_service" if mix(number, 3) % 2 else "staff"
            cancelled = mix(number, 4) % 1000 < CANCELLED_PER_MILLE
            cancelled_at = created + (min(start, now) - created) / 2 if cancelled else None
            rows.booking.append(
                (booking_id, business + 1, ref_of(booking_id), service_id, staff_id(business, staff),
                 customer_id, origin, "cancelled" if cancelled else "confirmed", start, end, start, end,
                 1 if cancelled else 0, 2 if cancelled else 1, "ill" if cancelled else None, cancelled_at,
                 created, cancelled_at or created)
            )  # fmt: skip
            due = start - timedelta(days=1)
            sent_at: datetime | None = None
            if due <= created:  # booked less than a day ahead: planned as skipped
                status = "skipped"
            elif cancelled and cancelled_at is not None:
                status, sent_at = ("sent", due) if due <= cancelled_at else ("dropped", None)
            elif due <= now:
                status, sent_at = "sent", due
            else:
                status = "pending"
            self.reminder_id += 1
            rows.reminder.append((self.reminder_id, booking_id, 1440, due, status, 1, sent_at))
            manage = consultation or origin == "self_service"
            emails: list[tuple[str, str, datetime, bool]] = [
                ("confirmation", customer_email, created, manage),
                ("booking_created", staff_email(business, staff), created, False),
                ("booking_created", staff_email(business, None), created, False),
            ]
            if sent_at is not None:
                emails.append(("reminder", customer_email, sent_at, manage))
            if cancelled_at is not None:
                emails += [
                    ("cancelled", customer_email, cancelled_at, False),
                    ("booking_cancelled", staff_email(business, staff), cancelled_at, False),
                    ("booking_cancelled", staff_email(business, None), cancelled_at, False),
                ]
            envelope = f'{{"subject": "Booking {ref_of(booking_id)}", "envelope_from": "bounce+x@{DOMAIN}"}}'
            for kind, recipient, at, with_button in emails:
                self.outbox_id += 1
                rows.outbox.append(
                    (self.outbox_id, business + 1, booking_id, kind, recipient,
                     f"<scale.{self.outbox_id}@{DOMAIN}>", "sent", 1, at, None, None, None, envelope, at,
                     at + timedelta(seconds=2))
                )  # fmt: skip
                self.reply_key_id += 1
                rows.reply_key.append(
                    (self.reply_key_id, secrets.token_hex(12), booking_id, recipient, at, kind, None)
                )
                if with_button:
                    self.token_id += 1
                    token_hash = hashlib.sha256(secrets.token_bytes(32)).hexdigest()
                    rows.token.append((self.token_id, booking_id, token_hash, at, token_expiry(end)))
        return rows

    def load_until(self, connection: psycopg.Connection[Any], target: int) -> None:
        started, first = time.perf_counter(), self.done
        with connection.cursor() as cursor:  # the measured sweeps added rows since the last stage
            for attribute, table in (
                ("outbox_id", "outboxmessage"),
                ("reply_key_id", "replykey"),
                ("token_id", "managetoken"),
                ("reminder_id", "reminder"),
            ):
                query = sql.SQL("SELECT coalesce(max(id), 0) FROM {}").format(sql.Identifier(table))
                highest = cursor.execute(query).fetchone()
                setattr(self, attribute, max(getattr(self, attribute), int(highest[0] if highest else 0)))
        while self.done < target:
            last = min(target, self.done + CHUNK)
            rows = self.rows(self.done, last)
            with connection.transaction(), connection.cursor() as cursor:
                for table, data in (
                    ("customer", rows.customer),
                    ("booking", rows.booking),
                    ("reminder", rows.reminder),
                    ("outboxmessage", rows.outbox),
                    ("replykey", rows.reply_key),
                    ("managetoken", rows.token),
                ):
                    statement = f"COPY {table} ({', '.join(COLUMNS[table])}) FROM STDIN"
                    with cursor.copy(statement) as copy:
                        for row in data:
                            copy.write_row(row)
            self.done = last
            rate = (self.done - first) / max(time.perf_counter() - started, 1e-9)
            print(f"  loaded {self.done:,} bookings ({rate:,.0f}/s)", flush=True)
        with connection.cursor() as cursor:
            for table, last_id in (
                ("customer", max(self.customers, default=0)),
                ("booking", self.done),
                ("reminder", self.reminder_id),
                ("outboxmessage", self.outbox_id),
                ("replykey", self.reply_key_id),
                ("managetoken", self.token_id),
                ("business", self.plan.businesses),
                ("staff", admin_id(self.plan.businesses)),
                ("service", 2 * self.plan.businesses),
            ):
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {max(last_id, 1)})")
        connection.commit()


# --- measuring ---------------------------------------------------------------------------


def worker_app(url: str) -> Any:
    settings = {
        "MAILFLOW_DATABASE_URL": url,
        "MAILFLOW_OUTBOUND_URL": "memory://",
        "MAILFLOW_DATA_DIR": tempfile.gettempdir(),
        "MAILFLOW_SECRET_KEY": "scale-bench-" + "x" * 40,
        "MAILFLOW_INBOUND_DOMAIN": DOMAIN,
    }
    return build(load_settings(settings))


def sweep_worker(url: str, warm: list[int], ready: Any, go: Any, results: Any) -> None:
    """One worker process: warm up (render reminders of ``warm``, rolled back), wait for ``go``,
    sweep until nothing is due."""
    app = worker_app(url)
    freeze_start_up()
    now = datetime.now(UTC)
    with read_session(app.engine) as session:
        for booking_id in warm:
            app.notifier.send_reminder(session, session.get_one(Booking, booking_id), now)
            session.rollback()
    ready.put(os.getpid())
    go.wait()
    cpu, started = time.process_time(), time.perf_counter()
    done = 0
    while True:
        queued = sweep_reminders(app.engine, app.notifier.send_reminder, datetime.now(UTC))
        if not queued:
            break
        done += queued
    results.put((done, time.process_time() - cpu, time.perf_counter() - started))
    app.close()


def dispatch_worker(url: str, _warm: list[int], ready: Any, go: Any, results: Any) -> None:
    """One worker process: wait for ``go``, dispatch until nothing is due."""
    app = worker_app(url)
    freeze_start_up()
    transport = MemoryTransport()
    dispatcher = Dispatcher(app.engine, transport, report_failure=app.notifier.report_failure)
    ready.put(os.getpid())
    go.wait()
    cpu, started = time.process_time(), time.perf_counter()
    done = 0
    while True:
        report = asyncio.run(dispatcher.run_once(datetime.now(UTC)))
        transport.sent.clear()
        if not report.sent:
            break
        done += report.sent
    results.put((done, time.process_time() - cpu, time.perf_counter() - started))
    app.close()


def postgres_cpu_seconds(cluster: PgCluster) -> float:
    """CPU time of the cluster's processes so far (live backends plus the ones that exited)."""
    try:
        postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError):
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if pid == postmaster:
            total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
        elif ppid == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


Statement = tuple[str, int, float, float]  # query, calls, mean ms, rows per call


@dataclass
class Measured:
    size: int
    phase: str
    workers: int
    items: int
    seconds: float
    worker_cpu: float
    db_cpu: float
    statements: list[Statement]
    waits: str

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        per = 1000 / max(self.items, 1)
        return (
            f"{self.phase:<8} {self.workers} worker{'s' if self.workers > 1 else ' '} "
            f"{self.items:>6,} items {self.seconds:7.2f} s  {self.rate:8,.0f} items/s  "
            f"{self.seconds * per:6.2f} ms/item wall  {self.worker_cpu * per:6.2f} ms/item worker CPU  "
            f"{self.db_cpu * per:6.2f} ms/item PostgreSQL CPU"
        )


class WaitSampler:
    """What the database's busy backends are doing, sampled every 50 ms while the workers run:
    on CPU, or waiting (for a lock, for I/O, for the client)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.seen: Counter[str] = Counter()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            while not self.stop.wait(0.05):
                for kind, event in connection.execute(
                    "SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE datname = "
                    "current_database() AND pid <> pg_backend_pid() AND state = 'active'"
                ):
                    self.seen["running" if kind is None else f"{kind}:{event}"] += 1

    def summary(self) -> str:
        total = sum(self.seen.values()) or 1
        return ", ".join(f"{name} {100 * count / total:.0f}%" for name, count in self.seen.most_common(4))


def run_workers(
    target: Any, url: str, workers: int, warm: list[int], cluster: PgCluster
) -> tuple[int, float, float, float, str]:
    """Start ``workers`` processes running ``target``; once all are ready, time them from one signal."""
    context = multiprocessing.get_context("spawn")
    ready, go, results = context.Queue(), context.Event(), context.Queue()
    arguments = (url, warm, ready, go, results)
    processes = [context.Process(target=target, args=arguments, daemon=True) for _ in range(workers)]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=300)
    sampler = WaitSampler(url.replace("postgresql+psycopg", "postgresql"))
    sampler.thread.start()
    db_before = postgres_cpu_seconds(cluster)
    started = time.perf_counter()
    go.set()
    got = [results.get(timeout=7200) for _ in processes]
    seconds = time.perf_counter() - started
    db_cpu = postgres_cpu_seconds(cluster) - db_before
    sampler.stop.set()
    sampler.thread.join(timeout=10)
    for process in processes:
        process.join(timeout=60)
    return sum(g[0] for g in got), seconds, sum(g[1] for g in got), db_cpu, sampler.summary()


def arm_dispatch(connection: psycopg.Connection[Any], count: int) -> None:
    """Queue ``count`` emails: the reminders the sweep just queued, and the newest sent emails
    queued again with the body of one of those (housekeeping had dropped theirs)."""
    queued = connection.execute("SELECT count(*) FROM outboxmessage WHERE status = 'queued'").fetchone()
    more = count - (int(queued[0]) if queued else 0)
    if more > 0:
        connection.execute(
            "UPDATE outboxmessage SET status = 'queued', next_attempt_at = now() - interval '1 minute', "
            "sent_at = NULL, payload = (SELECT payload FROM outboxmessage WHERE kind = 'reminder' "
            "AND payload IS NOT NULL LIMIT 1) WHERE id IN (SELECT id FROM outboxmessage "
            "WHERE status = 'sent' ORDER BY id DESC LIMIT %s)",
            (more,),
        )
    connection.execute("VACUUM ANALYZE outboxmessage")


def arm(connection: psycopg.Connection[Any], sample: list[int]) -> None:
    """Make the sample's reminders due a minute ago (pending again)."""
    due = datetime.now(UTC) - timedelta(minutes=1)
    connection.execute(
        "UPDATE reminder SET status = 'pending', sent_at = NULL, due_at = %s WHERE id = ANY(%s)",
        (due, sample),
    )


def top_statements(
    connection: psycopg.Connection[Any], limit: int = 6
) -> list[tuple[str, int, float, float]]:
    rows = connection.execute(
        "SELECT query, calls, mean_exec_time, rows::float / greatest(calls, 1) FROM pg_stat_statements "
        "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND query NOT ILIKE '%%pg_stat_statements%%' ORDER BY total_exec_time DESC LIMIT %s",
        (limit,),
    ).fetchall()
    return [(" ".join(str(q).split())[:150], int(c), float(m), float(r)) for q, c, m, r in rows]


def measure(
    cluster: PgCluster,
    url: str,
    size: int,
    sample_size: int,
    dispatch_size: int,
    worker_counts: Sequence[int],
) -> list[Measured]:
    figures = []
    dsn = url.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(dsn, autocommit=True) as connection:
        sample = [
            row[0]
            for row in connection.execute(
                "SELECT r.id FROM reminder r JOIN booking b ON b.id = r.booking_id "
                "WHERE r.status = 'pending' AND b.status = 'confirmed' "
                "AND b.start > now() + interval '2 days' "
                "ORDER BY md5(r.id::text) LIMIT %s",
                (sample_size,),
            )
        ]
        if not sample:
            raise SystemExit(f"no pending reminders at {size:,} bookings: load more (--small/--bookings)")
        # Bookings to warm the workers' templates up with: a customer of each language.
        warm = [
            row[0]
            for row in connection.execute(
                "SELECT DISTINCT ON (c.locale) b.id FROM booking b JOIN customer c ON c.id = b.customer_id "
                "WHERE b.status = 'confirmed' ORDER BY c.locale, b.id"
            )
        ]
        for workers in worker_counts:
            for phase, target in (("sweep", sweep_worker), ("dispatch", dispatch_worker)):
                if phase == "sweep":
                    arm(connection, sample)
                else:
                    arm_dispatch(connection, dispatch_size)
                connection.execute("SELECT pg_stat_statements_reset()")
                items, seconds, worker_cpu, db_cpu, waits = run_workers(target, url, workers, warm, cluster)
                statements = top_statements(connection)
                figure = Measured(size, phase, workers, items, seconds, worker_cpu, db_cpu, statements, waits)
                print(f"  {figure.line()}\n    database backends: {waits}", flush=True)
                figures.append(figure)
        connection.execute("VACUUM ANALYZE reminder")
        connection.execute("VACUUM ANALYZE outboxmessage")
    return figures


def table_sizes(connection: psycopg.Connection[Any]) -> str:
    rows = connection.execute(
        "SELECT relname, n_live_tup, pg_total_relation_size(relid) FROM pg_stat_user_tables "
        "WHERE n_live_tup > 1000 ORDER BY n_live_tup DESC"
    ).fetchall()
    return ", ".join(f"{name} {count:,} rows ({size / 2**20:,.0f} MiB)" for name, count, size in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--bookings", type=int, default=1_000_000, help="bookings at the large size")
    parser.add_argument("--small", type=int, default=10_000, help="bookings at the small size")
    parser.add_argument("--sample", type=int, default=2000, help="reminders swept (10 batches of 200)")
    parser.add_argument("--dispatch", type=int, default=5000, help="emails dispatched")
    parser.add_argument("--workers", default="1,2", help="worker process counts to measure")
    args = parser.parse_args()
    worker_counts = [int(part) for part in args.workers.split(",") if part.strip()]
    sizes = sorted({args.small, args.bookings})
    now = datetime.now(UTC)
    plan = Plan(max(sizes), now)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"machine: {machine()}, load {load}")
    print(
        f"plan: {max(sizes):,} bookings over {plan.businesses} businesses x {STAFF_PER_BUSINESS} staff, "
        f"{len(plan.days)} weekdays ({PAST_DAYS} days back to {FUTURE_DAYS} ahead), one an hour; "
        f"sizes {', '.join(f'{s:,}' for s in sizes)}; sample {args.sample:,}",
        flush=True,
    )
    cluster = PgCluster.create(CLUSTER_SETTINGS)
    figures: list[Measured] = []
    try:
        cluster.start()
        url = cluster.create_database("mailflow")
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        dsn = url.replace("postgresql+psycopg", "postgresql")
        with psycopg.connect(dsn) as connection:
            connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            load_fixed(connection, plan)
            connection.commit()
        loader = Loader(plan)
        for size in sizes:
            print(f"\n== {size:,} bookings", flush=True)
            started = time.perf_counter()
            with psycopg.connect(dsn) as connection:
                loader.load_until(connection, size)
                connection.autocommit = True
                connection.execute("VACUUM ANALYZE")
                print(f"  loaded and analysed in {time.perf_counter() - started:,.0f} s")
                print(f"  tables: {table_sizes(connection)}", flush=True)
            figures += measure(cluster, url, size, args.sample, args.dispatch, worker_counts)
    finally:
        cluster.cleanup()
    report(figures, sizes)


def report(figures: list[Measured], sizes: list[int]) -> None:
    print("\n== results")
    for figure in figures:
        print(f"{figure.size:>9,} bookings  {figure.line()}")
    if len(sizes) > 1:
        print("\nper-item cost, large size / small size (1.0 = flat):")
        small, large = sizes[0], sizes[-1]
        for figure in figures:
            if figure.size != small:
                continue
            other = next(
                (f for f in figures if (f.size, f.phase, f.workers) == (large, figure.phase, figure.workers)),
                None,
            )
            if other is None or not figure.items or not other.items:
                continue
            wall_ratio = (other.seconds / other.items) / (figure.seconds / figure.items)
            db_ratio = (other.db_cpu / other.items) / max(figure.db_cpu / figure.items, 1e-9)
            print(
                f"scale {figure.phase} {figure.workers} worker(s): wall x{wall_ratio:.2f}, "
                f"PostgreSQL CPU x{db_ratio:.2f} ({small:,} -> {large:,} bookings)"
            )
    print("\nstatements by total time (mean ms per call, rows per call), per measurement:")
    for figure in figures:
        print(f"-- {figure.size:,} bookings, {figure.phase}, {figure.workers} worker(s)")
        print(f"   database backends: {figure.waits}")
        for query, calls, mean, rows in figure.statements:
            print(f"   {calls:>6} x {mean:8.3f} ms  {rows:7.1f} rows  {query}")


if __name__ == "__main__":
    main()
