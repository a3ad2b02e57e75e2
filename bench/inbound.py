"""Inbound replies over SMTP, end to end, next to a do-nothing aiosmtpd sink.

Sets up a throw-away mailflow on SQLite (temp data dir, migrated, demo
business seeded) and books a few hundred self-service appointments through
``mailflow.services.create_booking`` on free weekday slots of bob@ and carla@,
so every booking has its real confirmation email (with a ``reply+<key>@``
Reply-To) in the outbox. From those confirmations it builds a mix of replies
(default 2,000), shuffled:

- ~40% free-text questions: forwarded to the staff member (``customer_message``);
- ~20% "verschieben"/"reschedule": answered with ``reschedule_options``;
- ~15% "cancel"/"stornieren", each to a different booking: cancelled, emails queued;
- ~15% out-of-office auto-replies (``Auto-Submitted: auto-replied``): never answered;
- ~10% delivery-status notifications to the confirmation's signed return path
  (``bounce+<outbox id>.<signature>@``, 70% permanent 5.1.1).

A second process sends them with ``smtplib`` over a few parallel connections
(several messages per connection), recording when each got its ``250``:

1. to a do-nothing ``aiosmtpd`` sink (``250 OK`` for everything): the raw rate
   of SMTP on this machine, client included;
2. to the real server, ``python -m mailflow serve --roles smtp,worker`` with
   ``MAILFLOW_OUTBOUND_URL=memory://bench`` (delivery costs nothing), once the
   setup's own emails are delivered: the embedded one-process layout;
3. the same replies on the same starting state with the roles split:
   ``serve --roles smtp`` beside ``--workers`` (default 1) ``serve --roles
   worker`` processes, which notice stored messages by polling (every 250 ms).

A reply is complete when its InboundMessage row is ``done``: its processing
committed the action and queued the answers in one transaction. The bench
polls the SQLite file read-only every 20 ms; a reply's latency is the time it
was first seen ``done`` minus the time the client got ``250`` (so up to one
poll interval late). Reported: replies/s end to end (done / (last done - first
send)), the server's SMTP accept rate and SMTP transaction times, p50/p99/max
latency, the server's CPU per reply, the worker's job runs (batch sizes, and
wake-ups APScheduler skipped because a run was in progress), the rows by
kind/command per reply category, the answers queued, errors, and the verdict
on the goal (>= 300 replies/s, p99 < 250 ms on SQLite) for each layout.

``--breakdown`` then repeats the replies on a copy of the database as it was
before them, to show what dominates: storage alone (``--roles smtp``), the
worker alone on the stored backlog (``--roles worker``), and ``process_one``
in this process, timed per reply category.

    python bench/inbound.py [--count 2000] [--connections 4] [--per-connection 50]
                            [--rate 0] [--workers 1] [--breakdown] [--server-log PATH]

``--rate`` paces the sender (messages/s over all connections; 0, the default,
sends as fast as the server answers). Only loopback addresses are used; the
server's per-client message limit is lifted for the run. Every wait is
bounded, and the server gets SIGTERM at the end, also on errors. The default
run takes about 50 s, with ``--breakdown`` about 85 s.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import platform
import random
import shutil
import signal
import smtplib
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.policy import default as default_policy
from email.utils import format_datetime
from multiprocessing.connection import Connection
from pathlib import Path
from zoneinfo import ZoneInfo

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SmtpServer
from aiosmtpd.smtp import Envelope, Session
from sqlalchemy import func
from sqlmodel import col, select

from mailflow import services
from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.bootstrap import App, build
from mailflow.config import load_settings
from mailflow.demo import SLUG, TIMEZONE, seed_demo
from mailflow.errors import SlotUnavailable
from mailflow.store.engine import read_session
from mailflow.store.migrate import upgrade
from mailflow.store.tables import Booking, Business, Customer, InboundMessage, OutboxMessage, Service

DOMAIN = "replies.bench.example"
STAFF_EMAILS = ("bob@contoso.example", "carla@contoso.example")
GOAL_PER_SECOND = 300.0
GOAL_P99_MS = 250.0  # issue 20: both layouts, SMTP accept to committed action
ONE_PROCESS = "one process (serve --roles smtp,worker)"
MIX = (  # category, share of the replies
    ("question", 0.40),
    ("reschedule", 0.20),
    ("cancel", 0.15),
    ("auto_reply", 0.15),
    ("bounce", 0.10),
)
EXPECTED = {  # category -> (InboundMessage.kind, InboundMessage.command) it should end with
    "question": ("reply", None),
    "reschedule": ("reply", "reschedule"),
    "cancel": ("reply", "cancel"),
    "auto_reply": ("auto_reply", None),
    "bounce": ("bounce", None),
}
SPARE_BOOKINGS = 100  # bookings besides the cancel targets: reschedules, questions, bounces
POLL_INTERVAL = 0.02  # a poll is one indexed SELECT (~0.1 ms); latencies are up to this late
SMTP_TIMEOUT = 30.0
SERVER_START_TIMEOUT = 30.0
CLIENT_START_TIMEOUT = 30.0  # the client process importing this module
SEND_TIMEOUT_PER_MESSAGE = 0.5  # the whole send phase is bounded by count * this (at least 60 s)
DRAIN_TIMEOUT = 120.0  # after the last 250: messages not done by then count as errors
FINAL_STATUSES = ("done", "error")

QUESTIONS = (
    ("de", "Kann ich mit Karte zahlen?"),
    ("de", "Gibt es bei Ihnen in der Nähe Parkplätze?"),
    ("de", "Darf ich meine Tochter mitbringen? Sie ist sieben."),
    ("de", "Hallo, ich komme eventuell zehn Minuten später. Ist das ein Problem?"),
    ("en", "Can I bring my own product? My skin reacts to some shampoos."),
    ("en", "Is the entrance step-free? I use a wheelchair."),
    ("en", "Thanks! Do you also sell gift cards?"),
    ("en", "Hi, how long will the appointment take in total?\nAnd can I pay cash?"),
)
RESCHEDULES = ("verschieben", "Bitte verschieben.", "Reschedule", "reschedule please", "Umbuchen bitte")
CANCELS = ("cancel", "Stornieren", "Bitte absagen!", "Cancel please.", "stornieren")
AWAY_TEXTS = (
    "Vielen Dank für Ihre Nachricht. Ich bin bis zum 14. nicht im Büro und habe keinen Zugriff "
    "auf meine E-Mails. In dringenden Fällen wenden Sie sich bitte an meine Kollegin.",
    "Thank you for your email. I am out of the office until Monday with limited access to email. "
    "I will reply as soon as I can.",
)


# --- data -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A booking and the customer's confirmation email, as a reply needs them."""

    ref: str
    customer_email: str
    customer_name: str
    locale: str
    reply_to: str
    message_id: str
    subject: str
    text: str  # the plain-text body, quoted in replies
    return_path: str  # the signed envelope sender the confirmation went out with (bounces go there)


@dataclass(frozen=True)
class Reply:
    index: int
    category: str
    mail_from: str
    rcpt: str
    message_id: str
    raw: bytes


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _weekdays(first: date) -> list[date]:
    days: list[date] = []
    day = first
    while len(days) < 60:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def create_bookings(app: App, now: datetime, count: int, rng: random.Random) -> list[str]:
    """Book ``count`` self-service appointments on free hourly starts, from the day after tomorrow.

    Starts are on the hour and both services take at most 45 minutes, so free
    starts taken from ``find_slots`` once per staff member and day stay free.
    """
    zone = ZoneInfo(TIMEZONE)
    refs: list[str] = []
    with read_session(app.engine) as session:
        business = session.exec(select(Business).where(Business.slug == SLUG)).one()
        by_slug = {s.slug: s for s in session.exec(select(Service)).all()}
    actor = Actor(ActorKind.CUSTOMER_LINK, "bench")
    for day in _weekdays(now.astimezone(zone).date() + timedelta(days=2)):
        for staff in STAFF_EMAILS:
            with read_session(app.engine) as session:
                free = services.find_slots(
                    session,
                    business,
                    by_slug["consultation"],
                    day_from=day,
                    day_to=day,
                    now=now,
                    grid=app.grid,
                    staff_email=staff,
                )
            for start in sorted({slot.start for slot in free if slot.start.astimezone(zone).minute == 0}):
                number = len(refs)
                locale = "de" if number % 2 else "en"
                try:
                    view = services.create_booking(
                        app.engine,
                        business=SLUG,
                        service="haircut" if number % 3 == 2 else "consultation",
                        staff=staff,
                        customer=services.CustomerInput(
                            email=f"customer{number}@example.{'de' if locale == 'de' else 'com'}",
                            name=f"{rng.choice(('Max', 'Erika', 'Ada', 'Grace', 'Alan'))} Kunde{number}",
                            locale=locale,
                        ),
                        start=start,
                        origin=Origin.SELF_SERVICE,
                        actor=actor,
                        now=now,
                        public_url=app.settings.public_url,
                        **app.booking_kwargs(),
                    )
                except SlotUnavailable:
                    continue
                refs.append(view.ref)
                if len(refs) == count:
                    return refs
    raise SystemExit(f"only {len(refs)} free hourly slots in 60 weekdays; asked for {count}")


def collect_targets(app: App, refs: Sequence[str]) -> list[Target]:
    """Each booking's customer confirmation: Reply-To, Message-ID, subject, text."""
    from email import message_from_bytes

    targets = []
    with read_session(app.engine) as session:
        for ref in refs:
            booking = session.exec(select(Booking).where(Booking.ref == ref)).one()
            customer = session.get_one(Customer, booking.customer_id)
            sent = session.exec(
                select(OutboxMessage).where(
                    OutboxMessage.booking_id == booking.id,
                    OutboxMessage.kind == "confirmation",
                    OutboxMessage.recipient == customer.email,
                )
            ).one()
            message = message_from_bytes(sent.payload or b"", policy=default_policy)
            assert isinstance(message, EmailMessage)
            reply_to = message["Reply-To"].addresses[0].addr_spec
            if not reply_to.endswith("@" + DOMAIN):
                raise SystemExit(f"confirmation of {ref} has no reply address of {DOMAIN}: {reply_to}")
            body = message.get_body(preferencelist=("plain",))
            targets.append(
                Target(
                    ref=ref,
                    customer_email=customer.email,
                    customer_name=customer.name,
                    locale=customer.locale,
                    reply_to=reply_to,
                    message_id=str(message["Message-ID"]),
                    subject=str(message["Subject"]),
                    text=body.get_content() if body is not None else "",
                    return_path=app.smtp.return_paths.address(sent.id or 0, sent.message_id),
                )
            )
    return targets


def _quote(target: Target, german: bool) -> str:
    """The original confirmation below the new text, as Outlook (German) or Gmail (English) does it."""
    if german:
        return (
            "\n\n-----Ursprüngliche Nachricht-----\nVon: Contoso Salon <hello@contoso.example>\n"
            f"Betreff: {target.subject}\n\n{target.text}"
        )
    quoted = "\n".join(f"> {line}" if line else ">" for line in target.text.splitlines())
    return f"\n\nOn Mon, 2 Mar 2026 at 10:00, Contoso Salon <hello@contoso.example> wrote:\n{quoted}\n"


def _reply(index: int, category: str, target: Target, text: str, now: datetime) -> Reply:
    german = target.locale == "de"
    message = EmailMessage()
    message["From"] = f"{target.customer_name} <{target.customer_email}>"
    message["To"] = target.reply_to
    message["Subject"] = f"{'AW' if german else 'Re'}: {target.subject}"
    message["Date"] = format_datetime(now)
    message["Message-ID"] = f"<bench-{index}.{category}@mail.example.net>"
    message["In-Reply-To"] = target.message_id
    message["References"] = target.message_id
    if category == "auto_reply":
        message["Auto-Submitted"] = "auto-replied"
        message["X-Auto-Response-Suppress"] = "All"
        message.replace_header("Subject", f"{'Abwesend' if german else 'Out of office'}: {target.subject}")
        message.set_content(text)
    else:
        message.set_content(text + _quote(target, german))
    raw = message.as_bytes(policy=SMTP_POLICY)
    return Reply(index, category, target.customer_email, target.reply_to, message["Message-ID"], raw)


def _bounce(index: int, target: Target, now: datetime, permanent: bool) -> Reply:
    rcpt = target.return_path
    message_id = f"<bench-{index}.bounce@mx.example.net>"
    status, action, diagnostic = (
        ("5.1.1", "failed", "smtp; 550 5.1.1 <{0}>: Recipient address rejected: User unknown")
        if permanent
        else ("4.4.7", "delayed", "smtp; 451 4.4.7 delivery time expired for now, still trying")
    )
    subject = "Undelivered Mail Returned to Sender" if permanent else "Delayed Mail (still being retried)"
    raw = (
        f"From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\nTo: {rcpt}\r\nSubject: {subject}"
        f"\r\nDate: {format_datetime(now)}\r\nMessage-ID: {message_id}\r\nAuto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=b0\r\n\r\n"
        "--b0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nThis is the mail system at mx.example.net."
        "\r\n\r\nI'm sorry to have to inform you that your message could not be delivered.\r\n\r\n"
        "--b0\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {target.customer_email}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: {diagnostic.format(target.customer_email)}\r\n\r\n"
        "--b0\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: Contoso Salon <hello@contoso.example>\r\nTo: {target.customer_email}\r\n"
        f"Subject: {target.subject}\r\nMessage-ID: {target.message_id}\r\n"
        f"X-Mailflow-Kind: confirmation\r\nX-Mailflow-Booking: {target.ref}\r\n\r\n--b0--\r\n"
    ).encode()
    return Reply(index, "bounce", "", rcpt, message_id, raw)


def category_counts(count: int) -> dict[str, int]:
    counts = {name: int(count * share) for name, share in MIX}
    counts["question"] += count - sum(counts.values())
    return counts


def build_replies(targets: Sequence[Target], count: int, rng: random.Random, now: datetime) -> list[Reply]:
    """The mix of replies, shuffled. Cancels take one booking each; the others share the rest.

    The bookings besides the cancel targets are split: bounces (which may mark
    a customer as bouncing, after which that customer gets no more emails) go
    to a third of them, reschedules to the other two thirds; questions and
    auto-replies to any of them.
    """
    counts = category_counts(count)
    if len(targets) < counts["cancel"] + 3:
        raise SystemExit(f"{len(targets)} bookings are too few for {counts['cancel']} cancels")
    pool = list(targets)
    rng.shuffle(pool)
    cancel_pool, rest = pool[: counts["cancel"]], pool[counts["cancel"] :]
    bounce_pool, live_pool = rest[: len(rest) // 3], rest[len(rest) // 3 :]
    plan: list[tuple[str, Target]] = [("cancel", target) for target in cancel_pool]
    plan += [("reschedule", rng.choice(live_pool)) for _ in range(counts["reschedule"])]
    plan += [("bounce", rng.choice(bounce_pool)) for _ in range(counts["bounce"])]
    plan += [("question", rng.choice(rest)) for _ in range(counts["question"])]
    plan += [("auto_reply", rng.choice(rest)) for _ in range(counts["auto_reply"])]
    rng.shuffle(plan)
    replies = []
    for index, (category, target) in enumerate(plan):
        german = target.locale == "de"
        if category == "bounce":
            replies.append(_bounce(index, target, now, permanent=rng.random() < 0.7))
            continue
        if category == "question":
            text = rng.choice([q for lang, q in QUESTIONS if (lang == "de") == german])
        elif category == "reschedule":
            text = rng.choice(RESCHEDULES)
        elif category == "cancel":
            text = rng.choice(CANCELS)
        else:
            text = AWAY_TEXTS[0 if german else 1]
        replies.append(_reply(index, category, target, text, now))
    return replies


# --- the sending process ----------------------------------------------------------------

# (index, mail from, rcpt, raw) in; (index, started, accepted or nan, error or "") out
Outgoing = tuple[int, str, str, bytes]
Sent = tuple[int, float, float, str]


def _send_on_connections(
    port: int, items: Sequence[Outgoing], per_connection: int, due: list[float], deadline: float
) -> list[Sent]:
    """One connection's share, in order, reconnecting after ``per_connection`` messages."""
    results: list[Sent] = []
    client: smtplib.SMTP | None = None
    on_connection = 0
    try:
        for (index, mail_from, rcpt, raw), when in zip(items, due, strict=True):
            wait = when - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            started = time.monotonic()
            if started > deadline:
                results.append((index, started, math.nan, "not sent: send phase timed out"))
                continue
            try:
                if client is None:
                    client = smtplib.SMTP(
                        "127.0.0.1", port, local_hostname="client.bench", timeout=SMTP_TIMEOUT
                    )
                    on_connection = 0
                refused = client.sendmail(mail_from, [rcpt], raw)
                accepted = time.monotonic()
                results.append((index, started, accepted, f"refused {refused}" if refused else ""))
            except smtplib.SMTPResponseException as exc:
                results.append((index, started, math.nan, f"{exc.smtp_code} {exc.smtp_error[:80]!r}"))
                _drop(client)
                client = None
            except (OSError, smtplib.SMTPException) as exc:
                results.append((index, started, math.nan, f"{type(exc).__name__}: {exc}"[:120]))
                _drop(client)
                client = None
            on_connection += 1
            if client is not None and on_connection >= per_connection:
                try:
                    client.quit()
                except (OSError, smtplib.SMTPException):
                    client.close()
                client = None
    finally:
        _drop(client)
    return results


def _drop(client: smtplib.SMTP | None) -> None:
    if client is not None:
        client.close()


def client_process(
    port: int,
    messages: list[Outgoing],
    connections: int,
    per_connection: int,
    rate: float,
    timeout: float,
    results: Connection,
) -> None:
    """The second process: message *i* goes on connection *i % connections*; results go back.

    Times are ``time.monotonic()``, which on Linux is one clock for all processes
    (CLOCK_MONOTONIC), so the bench compares them with its own.
    """
    begin = time.monotonic() + 0.05
    deadline = begin + timeout
    shares = [messages[c::connections] for c in range(connections)]
    dues = [
        [begin + (c + k * connections) / rate if rate > 0 else 0.0 for k in range(len(share))]
        for c, share in enumerate(shares)
    ]
    collected: list[list[Sent]] = [[] for _ in range(connections)]

    def run(c: int) -> None:
        collected[c] = _send_on_connections(port, shares[c], per_connection, dues[c], deadline)

    threads = [threading.Thread(target=run, args=(c,), daemon=True) for c in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout + SMTP_TIMEOUT + 5)
    results.send([item for part in collected for item in part])
    results.close()


def start_client(
    port: int, replies: Sequence[Reply], args: argparse.Namespace
) -> tuple[multiprocessing.process.BaseProcess, Connection]:
    context = multiprocessing.get_context("spawn")  # no fork of a process with threads
    receiver, sender = context.Pipe(duplex=False)
    timeout = max(60.0, len(replies) * SEND_TIMEOUT_PER_MESSAGE)
    messages = [(r.index, r.mail_from, r.rcpt, r.raw) for r in replies]
    process = context.Process(
        target=client_process,
        args=(port, messages, args.connections, args.per_connection, args.rate, timeout, sender),
        name="bench-smtp-client",
        daemon=True,
    )
    process.start()
    sender.close()
    return process, receiver


def finish_client(process: multiprocessing.process.BaseProcess, receiver: Connection, timeout: float) -> None:
    process.join(timeout)
    if process.is_alive():
        process.terminate()
        process.join(5)
    receiver.close()


def client_budget(count: int) -> float:
    return CLIENT_START_TIMEOUT + max(60.0, count * SEND_TIMEOUT_PER_MESSAGE) + SMTP_TIMEOUT + 10


# --- the sink -----------------------------------------------------------------------------


class _SinkHandler:
    async def handle_DATA(self, server: SmtpServer, session: Session, envelope: Envelope) -> str:
        return "250 OK"


@dataclass
class SendRun:
    sent: list[Sent]

    @property
    def accepted(self) -> list[Sent]:
        return [s for s in self.sent if not s[3] and not math.isnan(s[2])]

    @property
    def errors(self) -> Counter[str]:
        return Counter(s[3] for s in self.sent if s[3] or math.isnan(s[2]))

    @property
    def first_start(self) -> float:
        return min((s[1] for s in self.sent), default=math.nan)

    def accept_rate(self) -> float:
        accepted = self.accepted
        if not accepted:
            return 0.0
        span = max(s[2] for s in accepted) - self.first_start
        return len(accepted) / span if span > 0 else math.nan

    def transaction_ms(self) -> str:
        """p50/p99 of one SMTP transaction (MAIL FROM to the 250 after DATA; a connect included)."""
        times = [(s[2] - s[1]) * 1000 for s in self.accepted]
        return f"SMTP transaction p50 {percentile(times, 0.5):.1f} ms, p99 {percentile(times, 0.99):.1f} ms"


def send_all(port: int, replies: Sequence[Reply], args: argparse.Namespace) -> SendRun:
    """Send every reply from the client process to ``port`` and wait for its results."""
    process, receiver = start_client(port, replies, args)
    try:
        if not receiver.poll(client_budget(len(replies))):
            raise RuntimeError("the client process sent no results in time")
        return SendRun(receiver.recv())
    finally:
        finish_client(process, receiver, 10)


def run_sink(replies: Sequence[Reply], args: argparse.Namespace) -> SendRun:
    """The same messages, the same way, to an aiosmtpd server that stores nothing."""
    port = free_port()
    controller = Controller(_SinkHandler(), hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    try:
        return send_all(port, replies, args)
    finally:
        controller.stop()


# --- the server ---------------------------------------------------------------------------


def server_environment(data_dir: Path, db_path: Path, smtp_port: int) -> dict[str, str]:
    """The MAILFLOW_* settings of the benchmark (inherited MAILFLOW_* variables are dropped)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MAILFLOW_")}
    env.update(
        {
            "MAILFLOW_DATA_DIR": str(data_dir),
            "MAILFLOW_DATABASE_URL": f"sqlite:///{db_path}",
            "MAILFLOW_INBOUND_DOMAIN": DOMAIN,
            "MAILFLOW_SMTP_BIND": f"127.0.0.1:{smtp_port or free_port()}",
            "MAILFLOW_OUTBOUND_URL": "memory://bench",
            # One client address sends everything: lift the per-client rate limit (451 at MAIL FROM).
            "MAILFLOW_SMTP_MESSAGES_PER_CLIENT_PER_MINUTE": "1000000",
        }
    )
    return env


@contextmanager
def running_server(
    data_dir: Path, db_path: Path, roles: str, smtp_port: int, log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """``mailflow serve --roles ROLES`` on ``db_path``; SIGTERM when the block ends, also on errors."""
    with log_path.open("ab") as log:
        # cwd is the temp dir, so no stray .env of the caller's directory is read.
        server = subprocess.Popen(
            [sys.executable, "-m", "mailflow", "serve", "--roles", roles],
            env=server_environment(data_dir, db_path, smtp_port),
            cwd=data_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            if "smtp" in roles:
                wait_smtp_ready(smtp_port, server, log_path)
            yield server
        except BaseException:
            print(f"server log (tail):\n{_tail(log_path)}", file=sys.stderr)
            raise
        finally:
            stop_server(server)


def wait_smtp_ready(port: int, server: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited with {server.returncode}:\n{_tail(log_path)}")
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=2) as client:
                if client.noop()[0] == 250:
                    return
        except (OSError, smtplib.SMTPException):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"SMTP not ready after {SERVER_START_TIMEOUT:.0f} s:\n{_tail(log_path)}")


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
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# --- watching the database ----------------------------------------------------------------


@dataclass
class Finished:
    seen: float  # monotonic time the bench first saw the row final
    row_id: int
    status: str
    kind: str | None
    command: str | None


@dataclass
class Watch:
    by_message_id: dict[str, Finished] = field(default_factory=dict)
    polls: int = 0
    poll_seconds: float = 0.0


def poll_once(db: sqlite3.Connection, watch: Watch, low: int) -> int:
    """Note newly final rows (id >= ``low``); returns the new ``low`` (the first row not final yet)."""
    began = time.monotonic()
    rows = db.execute(
        "SELECT id, message_id, status, kind, command FROM inboundmessage WHERE id >= ? ORDER BY id", (low,)
    ).fetchall()
    now = time.monotonic()
    watch.polls += 1
    watch.poll_seconds += now - began
    pending = None
    for row_id, message_id, status, kind, command in rows:
        if status in FINAL_STATUSES:
            if message_id is not None and message_id not in watch.by_message_id:
                watch.by_message_id[message_id] = Finished(now, row_id, status, kind, command)
        elif pending is None:
            pending = row_id
    if pending is not None:
        return int(pending)
    return int(rows[-1][0]) + 1 if rows else low


def wait_outbox_sent(db_path: Path, timeout: float = 60.0) -> None:
    """Wait until the worker has delivered every queued email (those of the setup), then a moment more."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5, isolation_level=None)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            (queued,) = db.execute("SELECT count(*) FROM outboxmessage WHERE status = 'queued'").fetchone()
            if not queued:
                time.sleep(0.5)
                return
            time.sleep(POLL_INTERVAL)
        raise RuntimeError(f"the worker did not deliver the setup's emails within {timeout:.0f} s")
    finally:
        db.close()


def run_server_phase(
    replies: Sequence[Reply], args: argparse.Namespace, db_path: Path, smtp_port: int, server_pids: list[int]
) -> tuple[SendRun, Watch, float]:
    """Send to the real server while polling the database; returns sends, completions, server CPU
    (of every server process)."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5, isolation_level=None)
    watch = Watch()
    low = 0
    try:
        (last_id,) = db.execute("SELECT coalesce(max(id), 0) FROM inboundmessage").fetchone()
        low = int(last_id) + 1
        cpu_before = sum(process_cpu_seconds(pid) for pid in server_pids)
        process, receiver = start_client(smtp_port, replies, args)
        try:
            sent: list[Sent] | None = None
            give_up = time.monotonic() + client_budget(len(replies))
            while sent is None:
                if time.monotonic() > give_up:
                    raise RuntimeError("the client process sent no results in time")
                low = poll_once(db, watch, low)
                if receiver.poll(POLL_INTERVAL):
                    sent = receiver.recv()
        finally:
            finish_client(process, receiver, 10)
        assert sent is not None
        run = SendRun(sent)
        wanted = {replies[s[0]].message_id for s in run.accepted}
        drain_until = time.monotonic() + DRAIN_TIMEOUT
        while not wanted <= watch.by_message_id.keys() and time.monotonic() < drain_until:
            time.sleep(POLL_INTERVAL)
            low = poll_once(db, watch, low)
        cpu = sum(process_cpu_seconds(pid) for pid in server_pids) - cpu_before
    finally:
        db.close()
    return run, watch, cpu


# --- report -------------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``nan`` without samples)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def answers_queued(db_path: Path, since_id: int) -> Counter[str]:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    try:
        rows = db.execute(
            "SELECT kind, count(*) FROM outboxmessage WHERE id > ? GROUP BY kind", (since_id,)
        ).fetchall()
    finally:
        db.close()
    return Counter({str(kind): int(n) for kind, n in rows})


def pipeline_runs(log_path: Path) -> tuple[list[int], int]:
    """Batch sizes of the worker's inbound job runs and APScheduler's "skipped" warnings, from the log."""
    batches, skipped = [], 0
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return [], 0
    for line in lines:
        if "mailflow.jobs: inbound: " in line and line.endswith(" processed"):
            batches.append(int(line.rsplit(" ", 2)[-2]))
        elif "maximum number of running instances reached" in line and ".inbound (trigger" in line:
            skipped += 1
    return batches, skipped


def report(
    replies: Sequence[Reply],
    sink: SendRun,
    run: SendRun,
    watch: Watch,
    server_cpu: float,
    queued: Counter[str],
    log_path: Path,
    layout: str,
) -> bool:
    count = len(replies)
    by_index = {r.index: r for r in replies}
    accepted_at = {s[0]: s[2] for s in run.accepted}
    latencies, done_times = [], []
    outcomes: dict[str, Counter[tuple[str | None, str | None, str]]] = {c: Counter() for c, _ in MIX}
    missing = 0
    for index, accepted in accepted_at.items():
        reply = by_index[index]
        finished = watch.by_message_id.get(reply.message_id)
        if finished is None:
            missing += 1
            continue
        outcomes[reply.category][(finished.kind, finished.command, finished.status)] += 1
        latencies.append((finished.seen - accepted) * 1000)
        done_times.append(finished.seen)
    completed = len(done_times)
    span = (max(done_times) - run.first_start) if done_times else math.nan
    rate = completed / span if span and span > 0 else 0.0
    failed = sum(n for c in outcomes.values() for (_, _, status), n in c.items() if status == "error")
    p99 = percentile(latencies, 0.99)

    print(f"--- {layout}")
    print(
        f"raw sink (aiosmtpd, 250 OK):  {len(sink.accepted)}/{count} accepted, "
        f"{sink.accept_rate():7.1f} msg/s; {sink.transaction_ms()}"
        + (f", errors {dict(sink.errors)}" if sink.errors else "")
    )
    print(
        f"mailflow SMTP accept:         {len(run.accepted)}/{count} accepted, "
        f"{run.accept_rate():7.1f} msg/s (stored before 250); {run.transaction_ms()}"
        + (f", errors {dict(run.errors)}" if run.errors else "")
    )
    print(
        f"end to end (250 -> done):     {completed}/{count} done, {rate:7.1f} replies/s over {span:.2f} s; "
        f"latency p50 {percentile(latencies, 0.5):.0f} ms, p99 {p99:.0f} ms, "
        f"max {max(latencies, default=math.nan):.0f} ms"
    )
    per_reply = server_cpu / completed * 1000 if completed else math.nan
    print(
        f"server CPU (all its processes): {server_cpu:.1f} s, {per_reply:.1f} ms per reply "
        "(SMTP + pipeline + dispatch to memory://); "
        f"database polled {watch.polls} times, {watch.poll_seconds / max(watch.polls, 1) * 1000:.1f} ms each"
    )
    batches, skipped = pipeline_runs(log_path)
    if batches:
        print(
            f"inbound job: {len(batches)} runs that processed something, batch sizes "
            f"min {min(batches)} / median {percentile(batches, 0.5):.0f} / max {max(batches)}; "
            f"{skipped} wake-ups skipped while a run was in progress"
        )
    print()
    print(f"{'category':<11} {'sent':>5}  outcome (kind/command: rows)")
    sent_per = Counter(r.category for r in replies)
    for category, _ in MIX:
        want_kind, want_command = EXPECTED[category]
        parts = []
        for (kind, command, status), n in outcomes[category].most_common():
            label = f"{kind}/{command or '-'}" + ("" if status == "done" else f" [{status}]")
            mark = "" if (kind, command, status) == (want_kind, want_command, "done") else " (unexpected)"
            parts.append(f"{label}: {n}{mark}")
        print(f"{category:<11} {sent_per[category]:>5}  {', '.join(parts) or '-'}")
    print(f"answers queued: {', '.join(f'{k} {n}' for k, n in sorted(queued.items())) or 'none'}")
    errors = len(run.sent) - len(run.accepted) + missing + failed
    print(
        f"errors: {len(run.sent) - len(run.accepted)} not accepted, {failed} rows in status error, "
        f"{missing} accepted but not done within {DRAIN_TIMEOUT:.0f} s"
    )
    print()
    ok = rate >= GOAL_PER_SECOND and p99 < GOAL_P99_MS and completed == count and errors == 0
    print(
        f"goal: >= {GOAL_PER_SECOND:.0f} replies/s, p99 < {GOAL_P99_MS:.0f} ms on SQLite (SMTP accept to "
        f"committed action and queued answer), {layout}: {'PASS' if ok else 'MISS'} ({rate:.1f} replies/s, "
        f"p99 {p99:.0f} ms" + ("" if errors == 0 else f", {errors} errors") + ")"
    )
    return ok


# --- breakdown ----------------------------------------------------------------------------


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database (the backup API, WAL included)."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def mark_outbox_sent(db_path: Path) -> None:
    """Record the queued emails (the setup's) as sent, as the main run's worker does first."""
    db = sqlite3.connect(db_path)
    try:
        with db:
            db.execute(
                "UPDATE outboxmessage SET status = 'sent', sent_at = created_at WHERE status = 'queued'"
            )
    finally:
        db.close()


@dataclass
class Breakdown:
    store_only: SendRun
    store_cpu: float  # server CPU seconds while storing
    worker_rows: int = 0
    worker_seconds: float = math.nan  # first claim seen -> last row seen done
    worker_cpu: float = math.nan
    worker_batches: list[int] = field(default_factory=list)
    pipeline_ms: dict[str, list[float]] = field(default_factory=dict)  # category -> process_one times


def drain_backlog(db_path: Path, server_pid: int, expected: int) -> tuple[int, float, float]:
    """Poll until ``expected`` stored rows are final: (rows, seconds from first claim, server CPU then)."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5, isolation_level=None)
    try:
        first_claim = math.nan
        cpu_at_claim = math.nan
        deadline = time.monotonic() + SERVER_START_TIMEOUT + DRAIN_TIMEOUT
        final = 0
        while time.monotonic() < deadline:
            statuses = dict(
                db.execute("SELECT status, count(*) FROM inboundmessage GROUP BY status").fetchall()
            )
            seen = time.monotonic()
            if math.isnan(first_claim) and statuses.get("received", 0) < expected:
                first_claim, cpu_at_claim = seen, process_cpu_seconds(server_pid)
            final = sum(int(statuses.get(status, 0)) for status in FINAL_STATUSES)
            if final >= expected:
                return final, seen - first_claim, process_cpu_seconds(server_pid) - cpu_at_claim
            time.sleep(POLL_INTERVAL)
        return final, math.nan, math.nan
    finally:
        db.close()


def time_pipeline(db_path: Path, data_dir: Path, replies: Sequence[Reply]) -> dict[str, list[float]]:
    """``process_one`` on every stored row in this process, one after another, timed per category."""
    from mailflow.inbound.process import _rule_context, claim_received, process_one

    category = {r.message_id: r.category for r in replies}
    app = build(
        load_settings(
            environ={
                "MAILFLOW_DATA_DIR": str(data_dir),
                "MAILFLOW_DATABASE_URL": f"sqlite:///{db_path}",
                "MAILFLOW_INBOUND_DOMAIN": DOMAIN,
                "MAILFLOW_OUTBOUND_URL": "memory://bench-breakdown",
            }
        )
    )
    timings: dict[str, list[float]] = {name: [] for name, _ in MIX}
    try:
        ids = claim_received(app.engine, datetime.now(UTC), len(replies) + 10)
        with read_session(app.engine) as session:
            message_ids = dict(
                session.exec(
                    select(InboundMessage.id, InboundMessage.message_id).where(
                        col(InboundMessage.id).in_(ids)
                    )
                ).all()
            )
        context = _rule_context(app.mailroom)
        for row_id in ids:
            began = time.perf_counter()
            process_one(app.mailroom, row_id, datetime.now(UTC), context)
            elapsed = (time.perf_counter() - began) * 1000
            timings[category.get(message_ids.get(row_id) or "", "question")].append(elapsed)
    finally:
        app.close()
    return timings


def run_breakdown(
    replies: Sequence[Reply], args: argparse.Namespace, data_dir: Path, snapshot: Path
) -> Breakdown:
    """On a copy of the database as it was before the run: storage alone, the worker alone, in-process."""
    log_path = data_dir / "breakdown.log"
    port = free_port()
    with running_server(data_dir, snapshot, "smtp", port, log_path) as server:
        cpu_before = process_cpu_seconds(server.pid)
        result = Breakdown(send_all(port, replies, args), math.nan)
        result.store_cpu = process_cpu_seconds(server.pid) - cpu_before
    stored = len(result.store_only.accepted)
    in_process = data_dir / "breakdown-in-process.db"
    copy_database(snapshot, in_process)
    with running_server(data_dir, snapshot, "worker", 0, log_path) as server:
        result.worker_rows, result.worker_seconds, result.worker_cpu = drain_backlog(
            snapshot, server.pid, stored
        )
    result.worker_batches, _ = pipeline_runs(log_path)
    result.pipeline_ms = time_pipeline(in_process, data_dir, replies)
    return result


def report_breakdown(result: Breakdown) -> None:
    stored = len(result.store_only.accepted)
    print("breakdown (on a copy of the database as it was before the replies):")
    print(
        f"  storage alone (serve --roles smtp):   {stored} accepted, "
        f"{result.store_only.accept_rate():7.1f} msg/s, server CPU "
        f"{result.store_cpu / max(stored, 1) * 1000:.1f} ms per message; {result.store_only.transaction_ms()}"
    )
    rate = result.worker_rows / result.worker_seconds if result.worker_seconds > 0 else math.nan
    batches = result.worker_batches
    print(
        f"  worker alone on the backlog (serve --roles worker): {result.worker_rows} done, "
        f"{rate:7.1f} replies/s, "
        f"server CPU {result.worker_cpu / max(result.worker_rows, 1) * 1000:.1f} ms per reply"
        + (f", {len(batches)} job runs (largest batch {max(batches)})" if batches else "")
    )
    every = [ms for values in result.pipeline_ms.values() for ms in values]
    total = sum(every)
    print(
        f"  pipeline in-process (process_one, one by one): {len(every)} rows, "
        f"{len(every) / total * 1000 if total else math.nan:7.1f} replies/s, "
        f"mean {total / max(len(every), 1):.1f} ms"
    )
    print(
        f"    {'category':<11} {'rows':>5} {'mean ms':>8} {'p50 ms':>7} {'p99 ms':>7} {'share of time':>13}"
    )
    for category, values in result.pipeline_ms.items():
        if not values:
            continue
        print(
            f"    {category:<11} {len(values):>5} {sum(values) / len(values):>8.1f} "
            f"{percentile(values, 0.5):>7.1f} {percentile(values, 0.99):>7.1f} "
            f"{sum(values) / total if total else math.nan:>13.0%}"
        )


# --- main ---------------------------------------------------------------------------------


def _interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="replies to send (default 2000)")
    parser.add_argument("--connections", type=int, default=4, help="parallel SMTP connections (default 4)")
    parser.add_argument(
        "--per-connection", type=int, default=50, help="messages per connection before QUIT (default 50)"
    )
    parser.add_argument(
        "--rate", type=float, default=0.0, help="paced send rate in msg/s over all connections (0: flat out)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes beside the SMTP one in the split run (default 1)",
    )
    parser.add_argument("--seed", type=int, default=2026, help="random seed of the replies")
    parser.add_argument("--server-log", type=Path, help="copy the server's log here at the end")
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="then measure storage alone, the worker alone and the pipeline per reply category",
    )
    args = parser.parse_args()
    if not 10 <= args.count <= 20_000:
        parser.error("--count must be between 10 and 20000")
    if not 1 <= args.connections <= 40:
        parser.error("--connections must be between 1 and 40 (the server allows 50 per client)")
    if not 1 <= args.workers <= 4:
        parser.error("--workers must be between 1 and 4")
    if args.per_connection < 1 or args.rate < 0:
        parser.error("--per-connection must be >= 1 and --rate >= 0")
    # SIGTERM (and SIGINT) become an exception, so the ``finally`` blocks stop the server.
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, _interrupted)
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory(prefix="mailflow-bench-inbound-") as tmp:
        data_dir = Path(tmp)
        settings = load_settings(
            environ={
                "MAILFLOW_DATA_DIR": str(data_dir),
                "MAILFLOW_INBOUND_DOMAIN": DOMAIN,
                "MAILFLOW_OUTBOUND_URL": "memory://bench",
            }
        )
        app = build(settings)  # also writes the secret key the server will read
        try:
            now = datetime.now(UTC)
            began = time.perf_counter()
            upgrade(app.engine)
            seed_demo(app.engine, now)
            wanted = category_counts(args.count)["cancel"] + SPARE_BOOKINGS
            refs = create_bookings(app, now, wanted, rng)
            targets = collect_targets(app, refs)
            with read_session(app.engine) as session:
                outbox_mark = int(session.exec(select(func.max(col(OutboxMessage.id)))).one() or 0)
            setup_seconds = time.perf_counter() - began
        finally:
            app.close()
        db_path = data_dir / "mailflow.db"
        pristine = data_dir / "before.db"
        copy_database(db_path, pristine)  # the state before any reply, for the other runs
        replies = build_replies(targets, args.count, rng, datetime.now(UTC))
        sizes = [len(r.raw) for r in replies]

        before = machine_busy_seconds()
        time.sleep(1.0)
        busy = (machine_busy_seconds() - before) / cpu_count()
        print(
            f"machine: {cpu_count()} CPUs (nproc), {platform.machine()}, Python {platform.python_version()}, "
            f"{busy:.0%} busy before the run"
        )
        if busy > 0.2:
            print("warning: the machine is busy; the rates will be lower than on an idle one")
        print(f"engine: sqlite {sqlite3.sqlite_version} ({db_path.name} in a temp dir, WAL)")
        print(
            f"data: {len(refs)} bookings with their emails ({len(refs) / setup_seconds:.0f}/s), "
            f"setup {setup_seconds:.1f} s; {len(replies)} replies, {percentile(sizes, 0.5) / 1024:.1f} KiB "
            f"median ({', '.join(f'{c} {n}' for c, n in category_counts(args.count).items())})"
        )
        pacing = f"paced at {args.rate:g} msg/s" if args.rate else "as fast as answered"
        print(
            f"load: one client process, {args.connections} SMTP connections, {args.per_connection} "
            f"messages per connection, {pacing}"
        )
        print()

        sink = run_sink(replies, args)

        smtp_port = free_port()
        log_path = data_dir / "server.log"
        with running_server(data_dir, db_path, "smtp,worker", smtp_port, log_path) as server:
            wait_outbox_sent(db_path)  # the setup's emails are delivered before the replies start
            run, watch, server_cpu = run_server_phase(replies, args, db_path, smtp_port, [server.pid])
        queued = answers_queued(db_path, outbox_mark)
        report(replies, sink, run, watch, server_cpu, queued, log_path, ONE_PROCESS)
        print()

        # The same replies on the same starting state, roles split over two processes.
        split_db = data_dir / "split.db"
        copy_database(pristine, split_db)
        split_log = data_dir / "split.log"
        smtp_port = free_port()
        with ExitStack() as servers:
            pids = [
                servers.enter_context(running_server(data_dir, split_db, "worker", 0, split_log)).pid
                for _ in range(args.workers)
            ]
            pids.append(
                servers.enter_context(running_server(data_dir, split_db, "smtp", smtp_port, split_log)).pid
            )
            wait_outbox_sent(split_db)
            run, watch, server_cpu = run_server_phase(replies, args, split_db, smtp_port, pids)
        queued = answers_queued(split_db, outbox_mark)
        layout = f"split: serve --roles smtp and {args.workers} x serve --roles worker"
        report(replies, sink, run, watch, server_cpu, queued, split_log, layout)
        if args.server_log is not None:
            shutil.copyfile(log_path, args.server_log)
        if args.breakdown:
            snapshot = data_dir / "breakdown.db"
            copy_database(pristine, snapshot)
            mark_outbox_sent(snapshot)  # so the worker-alone phase measures the replies only
            print()
            report_breakdown(run_breakdown(replies, args, data_dir, snapshot))


if __name__ == "__main__":
    main()
