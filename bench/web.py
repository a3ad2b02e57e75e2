"""Customer web pages under open-loop load, with 10,000 bookings in the database.

Sets up a throw-away mailflow (temp data dir, migrated, demo business seeded,
10,000 confirmed bookings written directly as rows, a manage token for every
booking), starts the real server (``python -m mailflow serve --roles web``) on
a free loopback port and measures, each at a fixed target rate for a fixed
time:

1. ``GET /healthz`` at 200 req/s (baseline: the HTTP stack alone);
2. ``GET /m/{token}`` (manage page) at 200 req/s, cycling through the tokens
   of the future consultation bookings;
3. ``GET /m/{token}/reschedule`` (one day's free slots and the 30-day
   calendar) at 50 req/s;
4. ``GET /book/haircut?day=…&staff=any`` (the self-service slot page of a
   chosen day with "any staff member": every free time once, spread over the
   people who are free, issue 17) at 50 req/s, cycling through the weekdays
   of the next 30 days.

Requests are sent open-loop: request *i* is due at ``start + i / rate``
whether or not earlier ones have answered, and its latency counts from that
due time, so queueing (in the client's small connection pool or in the
server) shows up in the figures instead of slowing the sender down
(no coordinated omission). Goals: manage page p99 < 50 ms at 200 req/s, slot
pages (reschedule, and self-service with any staff) p99 < 100 ms at 50 req/s.

    python bench/web.py [--seconds 10]
    python bench/web.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/<empty db>

Each line gives the answered requests, the achieved rate, p50/p99/max
latency, errors (non-200 answers, transport errors, requests not sent because
the backlog was still queued 5 s after the last one was due), the server
process's CPU time per request (from ``/proc``: the cost of a page,
independent of queueing) and the CPU other processes used meanwhile (on a
busy machine the latencies are pessimistic; on PostgreSQL this includes the
database's own backends).

A PostgreSQL database must exist and be empty; the script leaves its rows
there (drop the database afterwards). Only loopback addresses are used. With
the defaults the whole run takes about 40 seconds; every wait is bounded, and
the server is stopped with SIGTERM at the end, also on errors.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import platform
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import Engine, func, insert
from sqlmodel import col, select

from mailflow.booking.tokens import REF_ALPHABET, hash_token, token_expiry
from mailflow.bootstrap import build
from mailflow.config import load_settings
from mailflow.demo import SLUG, TIMEZONE, seed_demo
from mailflow.store.engine import read_session
from mailflow.store.migrate import current_revision, upgrade
from mailflow.store.tables import Booking, Business, Customer, ManageToken, Service, Staff, pk

BOOKINGS = 10_000
CUSTOMERS = 2_500
STAFF_EMAILS = ("bob@contoso.example", "carla@contoso.example")
FUTURE_DAYS = 120  # bookings are planned this far ahead; the rest of the 10,000 lie in the past
BOOKINGS_PER_STAFF_DAY = (3, 6)  # out of eight hourly starts 09:00..16:00: partly full
POOL_SIZE = 8
REQUEST_TIMEOUT = 5.0
DRAIN_SECONDS = 5.0  # after the last request was due, queued ones are dropped
WARMUP_REQUESTS = 20
WARMUP_TIMEOUT = 10.0  # per endpoint
SERVER_START_TIMEOUT = 30.0
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Phase:
    name: str
    rate: float
    path: Callable[[int], str]


@dataclass
class Result:
    name: str
    target_rate: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    elapsed: float = 0.0
    server_cpu: float = math.nan  # seconds of CPU the server process used during the phase
    other_cpu_share: float = math.nan  # CPU used by other processes, as a share of the whole machine

    @property
    def server_cpu_ms_per_request(self) -> float:
        return self.server_cpu / self.requests * 1000 if self.requests else math.nan

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def achieved_rate(self) -> float:
        return self.requests / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, fraction: float) -> float:
        """Nearest-rank percentile in ms (``nan`` without samples)."""
        if not self.latencies_ms:
            return math.nan
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass(frozen=True)
class Dataset:
    bookings: int
    in_next_30_days: int
    tokens: list[str]  # manage tokens of future consultation bookings (customer may manage them)


# --- data -------------------------------------------------------------------------------


def _ref(number: int) -> str:
    """A unique booking reference in mailflow's ``BK-XXXXXX`` shape."""
    chars = []
    for _ in range(6):
        number, digit = divmod(number, len(REF_ALPHABET))
        chars.append(REF_ALPHABET[digit])
    return "BK-" + "".join(reversed(chars))


def _weekdays(first: date, step: int) -> Iterator[date]:
    """Monday-to-Friday dates from ``first`` on, forwards (``step`` 1) or backwards (-1)."""
    day = first
    while True:
        if day.weekday() < 5:
            yield day
        day += timedelta(days=step)


def populate(engine: Engine, now: datetime, rng: random.Random) -> Dataset:
    """Write customers, 10,000 confirmed bookings and their manage tokens as plain rows.

    Future weekdays (from tomorrow, ``FUTURE_DAYS`` ahead) get 3-6 bookings per
    staff member on distinct hours; the remaining bookings fill weekdays going
    back from yesterday the same way. Starts are on the hour and services take
    at most 45 minutes, so no staff member has overlapping bookings.
    """
    zone = ZoneInfo(TIMEZONE)
    today = now.astimezone(zone).date()
    with read_session(engine) as session:
        business = session.exec(select(Business).where(Business.slug == SLUG)).one()
        services = {s.slug: s for s in session.exec(select(Service)).all()}
        staff_ids = [
            pk(session.exec(select(Staff).where(Staff.email == email)).one()) for email in STAFF_EMAILS
        ]
    business_id = pk(business)

    plan: list[tuple[int, Service, datetime]] = []  # staff id, service, start (UTC)

    def fill(day: date) -> None:
        for staff_id in staff_ids:
            for hour in sorted(rng.sample(range(9, 17), rng.randint(*BOOKINGS_PER_STAFF_DAY))):
                start = datetime.combine(day, wall(hour), zone).astimezone(UTC)
                plan.append((staff_id, rng.choice(list(services.values())), start))

    for day in _weekdays(today + timedelta(days=1), 1):
        if day > today + timedelta(days=FUTURE_DAYS):
            break
        fill(day)
    for day in _weekdays(today - timedelta(days=1), -1):
        if len(plan) >= BOOKINGS:
            break
        fill(day)
    plan = plan[:BOOKINGS]

    oldest = min(start for _, _, start in plan) - timedelta(days=30)
    customers = [
        {
            "business_id": business_id,
            "email": f"customer{i}@example.com",
            "name": f"Customer {i}",
            "phone": "",
            "locale": "de" if i % 3 == 0 else "en",
            "timezone": TIMEZONE,
            "bouncing": False,
            "created_at": oldest,
        }
        for i in range(CUSTOMERS)
    ]
    with engine.begin() as connection:
        connection.execute(insert(Customer), customers)
    with read_session(engine) as session:
        customer_ids = list(session.exec(select(Customer.id).order_by(col(Customer.id))).all())

    rows: list[dict[str, Any]] = []
    for number, (staff_id, service, start) in enumerate(plan):
        end = start + timedelta(minutes=service.duration_minutes)
        created = min(now, start) - timedelta(days=rng.randint(1, 30), minutes=rng.randint(0, 1439))
        rows.append(
            {
                "business_id": business_id,
                "ref": _ref(number),
                "service_id": pk(service),
                "staff_id": staff_id,
                "customer_id": rng.choice(customer_ids),
                "origin": rng.choice(("self_service", "staff")),
                "status": "confirmed",
                "start": start,
                "end": end,
                "block_start": start,  # the demo services have no buffers
                "block_end": end,
                "sequence": 0,
                "version": 1,
                "created_at": created,
                "updated_at": created,
            }
        )
    with engine.begin() as connection:
        connection.execute(insert(Booking), rows)
    with read_session(engine) as session:
        ids = dict(session.exec(select(Booking.ref, Booking.id)).all())

    consultation = pk(services["consultation"])
    tokens: list[str] = []
    token_rows: list[dict[str, Any]] = []
    for row in rows:
        token = secrets.token_urlsafe(32)
        token_rows.append(
            {
                "booking_id": ids[row["ref"]],
                "token_hash": hash_token(token),
                "created_at": row["created_at"],
                "expires_at": token_expiry(row["end"]),
            }
        )
        # Tomorrow or later: well clear of the one-hour minimum notice and of "started".
        if row["service_id"] == consultation and row["start"] > now + timedelta(days=1):
            tokens.append(token)
    with engine.begin() as connection:
        connection.execute(insert(ManageToken), token_rows)
    rng.shuffle(tokens)

    horizon = now + timedelta(days=30)
    with read_session(engine) as session:
        total = session.exec(select(func.count()).select_from(Booking)).one()
        soon = session.exec(
            select(func.count()).where(col(Booking.start) >= now, col(Booking.start) < horizon)
        ).one()
    return Dataset(bookings=int(total), in_next_30_days=int(soon), tokens=tokens)


# --- server -----------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_environment(data_dir: Path, database_url: str, port: int) -> dict[str, str]:
    """The MAILFLOW_* settings of the benchmark (inherited MAILFLOW_* variables are dropped)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MAILFLOW_")}
    env.update(
        {
            "MAILFLOW_DATA_DIR": str(data_dir),
            "MAILFLOW_DATABASE_URL": database_url,
            "MAILFLOW_WEB_BIND": f"127.0.0.1:{port}",
            "MAILFLOW_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "MAILFLOW_OUTBOUND_URL": "memory://bench",
            "MAILFLOW_TOKEN_FAILURES_PER_IP": "1000000",
        }
    )
    return env


def start_server(env: dict[str, str], cwd: Path, log: IO[bytes]) -> subprocess.Popen[bytes]:
    # cwd is the temp dir, so no stray .env of the caller's directory is read.
    return subprocess.Popen(
        [sys.executable, "-m", "mailflow", "serve", "--roles", "web"],
        env=env,
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_healthy(base_url: str, server: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    with httpx.Client(base_url=base_url, timeout=1.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"server exited with {server.returncode}:\n{_tail(log_path)}")
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise RuntimeError(f"server not healthy after {SERVER_START_TIMEOUT:.0f} s:\n{_tail(log_path)}")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=5)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


# --- load -------------------------------------------------------------------------------


async def warm_up(client: httpx.AsyncClient, phase: Phase) -> None:
    """A few sequential requests (templates compiled, connections open); all must answer 200."""
    for i in range(WARMUP_REQUESTS):
        response = await client.get(phase.path(i))
        if response.status_code != 200:
            raise RuntimeError(f"{phase.name}: warm-up got {response.status_code} for {phase.path(i)}")


async def run_phase(client: httpx.AsyncClient, phase: Phase, seconds: float) -> Result:
    """Send ``rate * seconds`` requests open-loop; latency counts from each request's due time.

    A producer puts each request on a queue at its due time; ``POOL_SIZE``
    workers (one connection each) take them in order. A request that waits
    for a free worker is late, and its latency says so. Requests still queued
    ``DRAIN_SECONDS`` after the last one was due are not sent and count as
    errors ("not sent"), which keeps the phase bounded however slow the server.
    """
    loop = asyncio.get_running_loop()
    result = Result(phase.name, phase.rate)
    count = max(1, round(phase.rate * seconds))
    interval = 1.0 / phase.rate
    queue: asyncio.Queue[tuple[str, float] | None] = asyncio.Queue()
    begin = loop.time() + 0.01
    give_up = begin + count * interval + DRAIN_SECONDS

    def record(due: float, status: str) -> None:
        result.latencies_ms.append((loop.time() - due) * 1000)
        result.statuses[status] += 1
        if status != "200":
            result.errors += 1

    async def worker() -> None:
        while (item := await queue.get()) is not None:
            path, due = item
            if loop.time() > give_up:
                result.statuses["not sent"] += 1
                result.errors += 1
                continue
            try:
                response = await client.get(path)
                record(due, str(response.status_code))
            except httpx.HTTPError as exc:
                record(due, type(exc).__name__)

    workers = [asyncio.create_task(worker()) for _ in range(POOL_SIZE)]
    for i in range(count):
        due = begin + i * interval
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((phase.path(i), due))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    result.elapsed = loop.time() - begin
    return result


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads), or ``nan`` off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all processes have used since boot (``/proc/stat``), or ``nan`` off Linux."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return math.nan
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def machine_busy_share(sample: float = 1.0) -> float:
    """Share of all CPUs in use over ``sample`` seconds (before the server starts: other processes)."""
    before = machine_busy_seconds()
    time.sleep(sample)
    return (machine_busy_seconds() - before) / (sample * cpu_count())


async def measure(base_url: str, phases: Sequence[Phase], seconds: float, server_pid: int) -> list[Result]:
    # Idle connections are dropped before uvicorn's 5 s keep-alive timeout can close them under a request.
    limits = httpx.Limits(
        max_connections=POOL_SIZE, max_keepalive_connections=POOL_SIZE, keepalive_expiry=2.0
    )
    timeout = httpx.Timeout(REQUEST_TIMEOUT)
    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, timeout=timeout, trust_env=False
    ) as client:
        for phase in phases:
            async with asyncio.timeout(WARMUP_TIMEOUT):
                await warm_up(client, phase)
        results = []
        for phase in phases:
            server_before, own_before = process_cpu_seconds(server_pid), time.process_time()
            machine_before = machine_busy_seconds()
            result = await run_phase(client, phase, seconds)
            result.server_cpu = process_cpu_seconds(server_pid) - server_before
            others = machine_busy_seconds() - machine_before - result.server_cpu
            others -= time.process_time() - own_before
            result.other_cpu_share = max(0.0, others) / (result.elapsed * cpu_count())
            results.append(result)
            await asyncio.sleep(0.5)  # let the server drain before the next phase
        return results


# --- report -----------------------------------------------------------------------------


def print_results(results: Sequence[Result]) -> None:
    width = max(len(r.name) for r in results)
    print(
        f"{'endpoint':<{width}}  {'target/s':>8}  {'requests':>8}  {'got/s':>7}  "
        f"{'p50 ms':>8}  {'p99 ms':>8}  {'max ms':>8}  {'errors':>6}  {'server CPU ms/req':>17}  "
        f"{'other load':>10}"
    )
    for r in results:
        print(
            f"{r.name:<{width}}  {r.target_rate:>8.0f}  {r.requests:>8}  {r.achieved_rate:>7.1f}  "
            f"{r.percentile(0.5):>8.1f}  {r.percentile(0.99):>8.1f}  "
            f"{max(r.latencies_ms, default=math.nan):>8.1f}  {r.errors:>6}  "
            f"{r.server_cpu_ms_per_request:>17.2f}  {r.other_cpu_share:>10.0%}"
        )
        others = {status: n for status, n in r.statuses.items() if status != "200"}
        if others:
            print(f"{'':<{width}}  non-200: {dict(sorted(others.items()))}")
    print(
        "(server CPU: the mailflow server process's CPU time per answered request; other load: CPU used\n"
        " by all other processes during the phase, as a share of all CPUs, PostgreSQL's backends included;\n"
        " on SQLite, much above 0% means something else ran and the latencies are pessimistic)"
    )


def verdict(result: Result, label: str, limit_ms: float) -> bool:
    p99 = result.percentile(0.99)
    ok = p99 < limit_ms and result.errors == 0
    extra = "" if result.errors == 0 else f", {result.errors} errors"
    print(
        f"goal: {label} p99 < {limit_ms:.0f} ms at {result.target_rate:.0f} req/s: "
        f"{'PASS' if ok else 'MISS'} (p99 {p99:.1f} ms{extra})"
    )
    return ok


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_loopback(database_url: str) -> None:
    host = urlsplit(database_url).hostname
    if database_url and not database_url.startswith("sqlite") and host not in LOOPBACK_HOSTS:
        raise SystemExit(f"--database-url must point at a loopback address, not {host!r}")


# --- main -------------------------------------------------------------------------------


def _interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each phase (default 10)")
    parser.add_argument(
        "--database-url", default="", help="an empty PostgreSQL database on loopback (default: SQLite)"
    )
    parser.add_argument("--seed", type=int, default=2026, help="random seed of the generated bookings")
    args = parser.parse_args()
    if not 0 < args.seconds <= 30:
        parser.error("--seconds must be between 0 and 30")
    check_loopback(args.database_url)
    # SIGTERM (and SIGINT, even where a shell started us with it ignored) becomes an exception,
    # so the ``finally`` blocks stop the server and remove the temp dir.
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, _interrupted)

    with tempfile.TemporaryDirectory(prefix="mailflow-bench-web-") as tmp:
        data_dir = Path(tmp)
        port = free_port()
        settings = load_settings(
            environ={
                "MAILFLOW_DATA_DIR": str(data_dir),
                "MAILFLOW_DATABASE_URL": args.database_url,
                "MAILFLOW_OUTBOUND_URL": "memory://bench",
            }
        )
        app = build(settings)  # also writes the secret key the server will read
        engine = app.engine
        try:
            if current_revision(engine) is not None:
                raise SystemExit("the database is not empty: pass a fresh database")
            now = datetime.now(UTC)
            began = time.perf_counter()
            upgrade(engine)
            seed_demo(engine, now)
            data = populate(engine, now, random.Random(args.seed))
            setup_seconds = time.perf_counter() - began
            server_info = engine.dialect.server_version_info or ()
            engine_name = f"{engine.dialect.name} {'.'.join(str(v) for v in server_info)} ({engine.driver})"
        finally:
            app.close()
        if len(data.tokens) < 100:
            raise SystemExit(f"only {len(data.tokens)} future consultation bookings: check the data plan")

        tokens = data.tokens
        today = datetime.now(UTC).astimezone(ZoneInfo(TIMEZONE)).date()
        horizon = today + timedelta(days=30)
        days = list(itertools.takewhile(lambda d: d <= horizon, _weekdays(today + timedelta(days=1), 1)))
        phases = [
            Phase("GET /healthz", 200, lambda i: "/healthz"),
            Phase("GET /m/{token}", 200, lambda i: f"/m/{tokens[i % len(tokens)]}"),
            Phase("GET /m/{token}/reschedule", 50, lambda i: f"/m/{tokens[i % len(tokens)]}/reschedule"),
            Phase(
                "GET /book/haircut (any staff)",
                50,
                lambda i: f"/book/haircut?day={days[i % len(days)].isoformat()}&staff=any",
            ),
        ]
        busy = machine_busy_share()
        print(
            f"machine: {cpu_count()} CPUs (nproc), {platform.machine()}, Python {platform.python_version()}, "
            f"{busy:.0%} busy before the run"
        )
        if busy > 0.2:
            print("warning: the machine is busy; latencies will be worse than on an idle one")
        print(f"engine: {engine_name}")
        print(
            f"data: {data.bookings} bookings ({data.in_next_30_days} in the next 30 days), "
            f"{len(tokens)} manage tokens requested in turn; setup {setup_seconds:.1f} s"
        )
        print(f"load: open-loop, {args.seconds:g} s per endpoint, httpx pool of {POOL_SIZE} connections")

        log_path = data_dir / "server.log"
        base_url = f"http://127.0.0.1:{port}"
        with log_path.open("wb") as log:
            server = start_server(server_environment(data_dir, settings.database_url, port), data_dir, log)
            try:
                wait_healthy(base_url, server, log_path)
                print(f"server: pid {server.pid} on {base_url}")
                print()
                results = asyncio.run(measure(base_url, phases, args.seconds, server.pid))
            except BaseException:
                print(f"server log (tail):\n{_tail(log_path)}", file=sys.stderr)
                raise
            finally:
                stop_server(server)

    print_results(results)
    print()
    verdict(results[1], "manage page", 50)
    verdict(results[2], "slot page", 100)
    verdict(results[3], "self-service slot page, any staff", 100)


if __name__ == "__main__":
    main()
