"""Shared fixtures: real SQLite and PostgreSQL engines, the demo business, the CLI.

A test that needs a service this machine lacks (PostgreSQL, later Dovecot or
Chromium) skips with the reason; with ``MAILFLOW_REQUIRE_SERVICES=1`` (as CI
sets it) the same situation fails instead, so CI can never pass by skipping.
"""

from __future__ import annotations

import email
import email.policy
import functools
import os
import re
import shutil
import smtplib
import subprocess
import sys
import time as _time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from mailflow.demo import seed_demo
from mailflow.store.engine import make_engine
from mailflow.store.migrate import upgrade

if TYPE_CHECKING:
    from mailflow.bootstrap import App

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPORA_DIR = Path(os.environ.get("MAILFLOW_CORPORA", REPO_ROOT.parent / "shared" / "corpora"))
POSTGRES_URL_VAR = "MAILFLOW_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BERLIN = ZoneInfo("Europe/Berlin")


def queued_emails(engine: Engine, kind: str, recipient: str) -> list[EmailMessage]:
    """The outbox's emails of ``kind`` to ``recipient``, oldest first, parsed."""
    from sqlmodel import Session, col, select

    from mailflow.store.tables import OutboxMessage

    with Session(engine) as session:
        rows = session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.kind == kind, OutboxMessage.recipient == recipient)
            .order_by(col(OutboxMessage.id))
        ).all()
    parsed = []
    for row in rows:
        message = email.message_from_bytes(row.payload or b"", policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        parsed.append(message)
    return parsed


_NON_ASCII_REFERENCE = re.compile(r"&#(\d+);")


def html_as_read(part: EmailMessage) -> str:
    """An HTML part's document as a mail client reads it: the character references mailflow
    writes for non-ASCII (its HTML goes as 7bit) read back as the characters."""
    return _NON_ASCII_REFERENCE.sub(
        lambda found: chr(int(found[1])) if int(found[1]) > 127 else found[0], str(part.get_content())
    )


def require_service(reason: str) -> NoReturn:
    """Skip for a missing service, or fail when CI demands every service."""
    if os.environ.get("MAILFLOW_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service missing: {reason}", pytrace=False)
    pytest.skip(reason)


def next_weekday(after: date, weekday: int) -> date:
    """The first date strictly after ``after`` falling on ``weekday`` (0 = Monday)."""
    days = (weekday - after.weekday()) % 7 or 7
    return after + timedelta(days=days)


def berlin(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), BERLIN)


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def next_tuesday(now: datetime) -> date:
    """A Tuesday a week or more ahead: inside working hours, outside every notice period."""
    return next_weekday(now.astimezone(BERLIN).date() + timedelta(days=7), 1)


@pytest.fixture(scope="session")
def corpora() -> Path:
    """The shared email corpora (../shared/corpora, or MAILFLOW_CORPORA); never copied into the repo."""
    needed = (
        "sisimai/maildir/bsd",
        "talon/tests/fixtures",
        "email-reply-trimmer/test/emails",
        "flufl-bounce/data",
    )
    if not all((CORPORA_DIR / part).is_dir() for part in needed):
        require_service(f"corpora not found at {CORPORA_DIR}; set MAILFLOW_CORPORA")
    return CORPORA_DIR


# --- SQLite ------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file; each test that wants a migrated database gets a copy."""
    path = tmp_path_factory.mktemp("sqlite-template") / "mailflow.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mailflow.db'}"


def _copy_migrated(template: Path, url: str) -> None:
    target = make_url(url).database
    assert target is not None
    shutil.copyfile(template, target)


@pytest.fixture
def sqlite_engine(sqlite_url: str, sqlite_template: Path) -> Iterator[Engine]:
    _copy_migrated(sqlite_template, sqlite_url)
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


# --- PostgreSQL --------------------------------------------------------------


def _postgres_admin_url() -> str:
    return os.environ.get(POSTGRES_URL_VAR, DEFAULT_POSTGRES_URL)


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated database used as the template of each test's own database."""
    admin_url = _postgres_admin_url()
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text("select 1"))
    except Exception as exc:
        admin.dispose()
        require_service(
            f"PostgreSQL not reachable at {admin_url} ({type(exc).__name__}); set {POSTGRES_URL_VAR}"
        )
    name = f"mailflow_tmpl_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def postgres_database(postgres_template: str) -> Iterator[str]:
    """The one PostgreSQL database the tests share, made from the template (0.5 s each on a busy machine)."""
    admin_url = _postgres_admin_url()
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"mailflow_t_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    yield name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def postgres_url(postgres_database: str, postgres_template: str) -> str:
    """A migrated PostgreSQL database holding no rows, for one test.

    The shared database is emptied (TRUNCATE … RESTART IDENTITY, after ending
    any connection a previous test left open); a test that changed its schema
    (a downgrade, a faked revision) gets it made again from the template.
    """
    admin_url = _postgres_admin_url()
    url = make_url(admin_url).set(database=postgres_database).render_as_string(hide_password=False)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": postgres_database},
            )
        database = create_engine(url, poolclass=NullPool)
        try:
            with database.begin() as connection:
                tables = (
                    connection.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
                    .scalars()
                    .all()
                )
                revision = None
                if "alembic_version" in tables:
                    revision = connection.execute(
                        text("SELECT max(version_num) FROM alembic_version")
                    ).scalar()
                if revision == _head_revision():
                    emptied = ", ".join(f'"{table}"' for table in tables if table != "alembic_version")
                    connection.execute(text(f"TRUNCATE {emptied} RESTART IDENTITY CASCADE"))
                    return url
        finally:
            database.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{postgres_database}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{postgres_database}" TEMPLATE "{postgres_template}"'))
        return url
    finally:
        admin.dispose()


@functools.cache
def _head_revision() -> str:
    from mailflow.store.migrate import head_revision

    return head_revision()


@pytest.fixture
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """The URL of a fresh migrated database, once per engine."""
    if request.param == "sqlite":
        url: str = request.getfixturevalue("sqlite_url")
        _copy_migrated(request.getfixturevalue("sqlite_template"), url)
        return url
    postgres: str = request.getfixturevalue("postgres_url")
    return postgres


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A fresh migrated engine, once on SQLite and once on PostgreSQL."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def demo_engine(engine: Engine, now: datetime) -> Engine:
    """An engine whose database holds the demo business (no bookings)."""
    seed_demo(engine, now)
    return engine


@contextmanager
def demo_app_on(
    db_url: str, tmp_path: Path, now: datetime, settings: dict[str, str] | None = None
) -> Iterator[App]:
    """A built ``App`` on the migrated database ``db_url`` with the demo business, its data in
    ``tmp_path`` and its emails to ``memory://``, unless ``settings`` say otherwise; closed when
    the block ends."""
    from mailflow.bootstrap import build
    from mailflow.config import load_settings

    defaults = {
        "MAILFLOW_DATABASE_URL": db_url,
        "MAILFLOW_DATA_DIR": str(tmp_path),
        "MAILFLOW_OUTBOUND_URL": f"memory://{tmp_path.name}",
    }
    application = build(load_settings({**defaults, **(settings or {})}))
    try:
        seed_demo(application.engine, now)
        yield application
    finally:
        application.close()


@pytest.fixture
def demo_app(db_url: str, tmp_path: Path, now: datetime) -> Iterator[App]:
    """A built ``App`` on a fresh database with the demo business, emails to ``memory://``."""
    with demo_app_on(db_url, tmp_path, now) as application:
        yield application


# --- CLI -----------------------------------------------------------------------


def _cli_environment(data_dir: Path, env: dict[str, str] | None) -> dict[str, str]:
    """The process environment without the caller's ``MAILFLOW_*`` settings, plus the data dir and ``env``."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("MAILFLOW_") or key == "MAILFLOW_CORPORA"
    }
    environ["MAILFLOW_DATA_DIR"] = str(data_dir)
    environ.update(env or {})
    return environ


def run_mailflow_in_process(
    args: list[str], environ: dict[str, str], cwd: Path, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``mailflow.cli.main(args)`` as a process would run it: its own environment, working
    directory, standard streams and root logging, all put back afterwards; the exit code
    comes from its ``SystemExit``."""
    import io
    import logging

    from mailflow.cli import main

    out_bytes, err_bytes = io.BytesIO(), io.BytesIO()
    stdin = io.TextIOWrapper(io.BytesIO((input or "").encode()), encoding="utf-8")
    stdout = io.TextIOWrapper(out_bytes, encoding="utf-8", write_through=True)
    stderr = io.TextIOWrapper(err_bytes, encoding="utf-8", write_through=True)
    root = logging.getLogger()
    saved_logging = (root.handlers[:], root.level)
    saved_environ = dict(os.environ)
    saved_streams = (sys.stdin, sys.stdout, sys.stderr)
    saved_cwd = Path.cwd()
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)
    sys.stdin, sys.stdout, sys.stderr = stdin, stdout, stderr
    try:
        main(args)
        returncode = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            returncode = exc.code or 0
        else:
            stderr.write(f"{exc.code}\n")
            returncode = 1
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_environ)
        root.handlers[:], level = saved_logging
        root.setLevel(level)
    stdout.flush()
    stderr.flush()
    out, err = out_bytes.getvalue().decode("utf-8"), err_bytes.getvalue().decode("utf-8")
    return subprocess.CompletedProcess(["mailflow", *args], returncode, out, err)


@pytest.fixture
def run_cli(tmp_path: Path) -> Any:
    """Run ``mailflow`` in its own data dir; returns a CompletedProcess (returncode, stdout, stderr).

    In-process by default (``mailflow.cli.main``: a subprocess start costs about a second);
    ``real_process=True`` runs ``python -m mailflow`` for what needs a real process."""
    data_dir = tmp_path / "data"

    def run(
        *args: str,
        env: dict[str, str] | None = None,
        check: bool = False,
        input: str | None = None,
        real_process: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        environ = _cli_environment(data_dir, env)
        if real_process:
            result = run_mailflow_subprocess(list(args), environ, tmp_path, input)
        else:
            result = run_mailflow_in_process(list(args), environ, tmp_path, input)
        if check and result.returncode != 0:
            raise AssertionError(f"mailflow {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    return run


def run_mailflow_subprocess(
    args: list[str], environ: dict[str, str], cwd: Path, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m mailflow`` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "mailflow", *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=cwd,
        timeout=120,
        input=input,
    )


def self_signed_certificate(folder: Path, name: str) -> Path:
    """A throwaway certificate for ``name``, localhost and 127.0.0.1, its own CA (Debian's
    snakeoil is the same kind): ``folder/cert.pem``, its key beside it as ``key.pem``."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
            "-addext", f"subjectAltName=DNS:{name},DNS:localhost,IP:127.0.0.1",
            "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem"),
        ],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return folder / "cert.pem"


def book_self_service(
    app: Any,
    start: datetime,
    email: str,
    now: datetime,
    name: str = "Ada Lovelace",
    *,
    business: str = "contoso",
    service: str = "consultation",
    staff: str = "bob@contoso.example",
) -> str:
    """A booking the customer made on the self-service page (by default the demo's consultation
    with Bob); its ref."""
    from mailflow import services
    from mailflow.booking.model import Actor, ActorKind, Origin

    return services.create_booking(
        app.engine,
        business=business,
        service=service,
        staff=staff,
        customer=services.CustomerInput(email=email, name=name),
        start=start,
        origin=Origin.SELF_SERVICE,
        actor=Actor(ActorKind.CUSTOMER_LINK, email),
        now=now,
        public_url=app.settings.public_url,
        **app.booking_kwargs(),
    ).ref


def wait_for_smtp(port: int, server: subprocess.Popen[bytes], log: Path, *, lmtp: bool = False) -> None:
    """Wait (up to 30 s) until ``server`` answers SMTP (or LMTP) on ``port``; fail with its log if it
    exits first."""
    client = smtplib.LMTP if lmtp else smtplib.SMTP
    deadline = _time.monotonic() + 30
    while _time.monotonic() < deadline:
        try:
            with client("127.0.0.1", port, timeout=2) as probe:
                probe.noop()
            return
        except OSError:
            assert server.poll() is None, log.read_text()
            _time.sleep(0.2)
    raise AssertionError(f"nothing answered on port {port} within 30 s\n{log.read_text()[-2000:]}")


# --- SMTP sink -----------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RecordingHandler:
    """An aiosmtpd handler that keeps what it received (and can refuse or slow down)."""

    def __init__(self) -> None:
        import threading

        self.messages: list[tuple[str, list[str], bytes]] = []
        self.refuse: dict[str, str] = {}
        self.refuse_data = ""
        """An answer to DATA (e.g. "554 5.7.1 spam") for every message, when set."""
        self.delay = 0.0
        self.lock = threading.Lock()
        self.ehlo_names: list[str] = []
        self.quits = 0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        self.ehlo_names.append(hostname)
        return responses

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        self.quits += 1
        return "221 Bye"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        import asyncio

        if self.delay:
            await asyncio.sleep(self.delay)
        if self.refuse_data:
            return self.refuse_data
        with self.lock:
            self.messages.append(
                (envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content))
            )
        return "250 OK"

    def parsed(self) -> list[Any]:
        import email
        import email.policy

        return [email.message_from_bytes(raw, policy=email.policy.default) for _, _, raw in self.messages]


class SmtpSink:
    """A real aiosmtpd server on 127.0.0.1 that can be stopped and started on the same port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.handler = RecordingHandler()
        self.controller: Any = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?timeout=5"

    def start(self) -> SmtpSink:
        from aiosmtpd.controller import Controller

        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


# --- Dovecot (IMAP) ------------------------------------------------------------


class Dovecot:
    """A throwaway Dovecot IMAP server on a free port: one passwd-file user, Maildir storage."""

    USER = "bookings@contoso.example"
    PASSWORD = "s3cret-imap"

    def __init__(self, root: Path) -> None:
        import pwd
        import shutil

        binary = shutil.which("dovecot") or (
            "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
        )
        if binary is None:
            require_service("Dovecot not installed (Debian package dovecot-imapd)")
        try:
            mail_user = pwd.getpwnam("dovenull")
        except KeyError:
            require_service("Dovecot's system users are missing (reinstall dovecot-core)")
        self.binary = str(binary)
        self.root = root
        self.port = free_port()
        for sub in ("run", "state", "home"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        os.chown(root / "home", mail_user.pw_uid, mail_user.pw_gid)
        (root / "passwd").write_text(f"{self.USER}:{{PLAIN}}{self.PASSWORD}::::::\n")
        self.config = root / "dovecot.conf"
        self.config.write_text(
            f"""base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = {mail_user.pw_uid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user.pw_uid} gid={mail_user.pw_gid} home={root}/home/%u
}}
mail_location = maildir:~/Maildir
# IDLE learns of new mail through inotify; where a busy machine has no inotify instance left,
# Dovecot falls back to looking every 30 s. Look every second, so IDLE tests never wait on that.
mailbox_idle_check_interval = 1 secs
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""
        )

    def start(self) -> Dovecot:
        import socket

        # Dovecot daemonizes: its output must not be a pipe we wait on.
        subprocess.run(
            [self.binary, "-c", str(self.config)],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
        )
        deadline = _time.monotonic() + 15
        while _time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                _time.sleep(0.1)
        raise AssertionError(f"Dovecot did not start: {(self.root / 'dovecot.log').read_text()}")

    def log_tail(self) -> str:
        """The end of Dovecot's log, for a failing test's message."""
        log = self.root / "dovecot.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"

    def stop(self) -> None:
        subprocess.run(
            [self.binary, "-c", str(self.config), "stop"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
        )
        import socket

        # `dovecot stop` returns while the master still accepts logins for a moment: a client
        # that reconnects at once gets in. Stopped means the port refuses connections.
        deadline = _time.monotonic() + 15
        while _time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    pass
            except OSError:
                return
            _time.sleep(0.05)
        raise AssertionError(f"Dovecot did not stop: {(self.root / 'dovecot.log').read_text()[-2000:]}")

    def client(self) -> Any:
        from imapclient import IMAPClient

        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        client.login(self.USER, self.PASSWORD)
        return client

    def url(self, password: str | None = None) -> str:
        from urllib.parse import quote

        return f"imap://{quote(self.USER)}:{quote(password or self.PASSWORD)}@127.0.0.1:{self.port}/INBOX"

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text() if path.exists() else ""


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    """A fresh Dovecot for one test (its own directory, port and mailbox)."""
    import shutil
    import tempfile

    # Its own world-traversable directory: Dovecot's mail user must reach the mailbox,
    # and pytest's tmp_path is private to root.
    root = Path(tempfile.mkdtemp(prefix="mailflow-dovecot-"))
    root.chmod(0o755)
    server = Dovecot(root).start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)
