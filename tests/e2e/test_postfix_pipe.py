"""Replies handed over by Postfix's pipe (issue 21): Debian's Postfix 3.7 runs ``mailflow inbound
feed`` for each reply with the master.cf entry of docs/deploy.md, as an unprivileged user, in its
queue directory, with no environment; the settings come from the config file the entry names.

The entry, its recipient limit and its transport map are read out of docs/deploy.md, so the
document stays the tested truth; only the command's path (a stand-in for the installed console
script, see ``mailflow_for_pipe_user``), the config file's path and the user (nobody) differ.
Stored once; a reply key we never issued bounced by Postfix (feed exits 67) with a DSN to the
sender; the database down or read-only deferred by Postfix (feed exits 75), then delivered exactly
once on its retry. One Postfix serves the module; the customers' server (an aiosmtpd sink) is both
the outbound relay and Postfix's relayhost, so it receives the confirmations and the DSNs.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import shutil
import smtplib
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from itertools import takewhile
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from sqlmodel import col

from mailflow.store.tables import InboundMessage, ReplyKey
from tests.conftest import (
    BERLIN,
    REPO_ROOT,
    SmtpSink,
    berlin,
    free_port,
    next_weekday,
    run_mailflow_in_process,
)
from tests.postfix import PIPE_GROUP, PIPE_USER, Postfix, as_pipe_user, mailflow_for_pipe_user

DOMAIN = "replies.test"
CLIENT = "mx.customer.example.com"  # the customers' server, as it greets Postfix
CUSTOMER = "ada@customers.example.com"
DEPLOY = REPO_ROOT / "docs" / "deploy.md"


@dataclass(frozen=True)
class DocumentedPipe:
    """What docs/deploy.md tells an operator to add to Postfix for the pipe."""

    master: str
    """The master.cf entry (the ``mailflow  unix … pipe`` line and its continuation)."""
    main: dict[str, str]
    """The main.cf settings besides ``transport_maps`` (the recipient limit)."""
    transport: str
    """The transport map's value for the reply domain (``mailflow:``)."""


def documented_pipe(command: Path, config: Path) -> DocumentedPipe:
    """The pipe's Postfix configuration as docs/deploy.md gives it, with our command, config
    file and user in place of ``/opt/mailflow/…``, ``/etc/mailflow/…`` and ``mailflow``."""
    section = DEPLOY.read_text().split("**Postfix in front (pipe):**", 1)[1]
    block = textwrap.dedent(section.split("```")[1])
    lines = block.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == ["mailflow"])
    entry = [lines[start], *takewhile(lambda line: line[:1].isspace() and line.strip(), lines[start + 1 :])]
    master = "\n".join(entry) + "\n"
    assert entry[0].split()[-1] == "pipe", master
    for documented, here in (
        ("/opt/mailflow/.venv/bin/mailflow", str(command)),
        ("/etc/mailflow/mailflow.env", str(config)),
        ("user=mailflow", f"user={PIPE_USER}"),
    ):
        assert master.count(documented) == 1, f"docs/deploy.md's entry no longer has {documented}"
        master = master.replace(documented, here)
    main = dict(re.findall(r"^(\w+) = (.+)$", block, re.MULTILINE))
    assert main.pop("transport_maps", None), block
    transport = re.search(r"^replies\.example\.com\s+(\S+)$", block, re.MULTILINE)
    assert transport is not None, block
    return DocumentedPipe(master, main, transport.group(1))


@dataclass
class Pipe:
    postfix: Postfix
    sink: SmtpSink
    folder: Path
    command: Path
    config: Path

    def configure(self, settings: dict[str, str]) -> None:
        """Write the config file the master.cf entry names, readable by the pipe's group only;
        replaced at once, as Postfix may be running ``feed`` meanwhile."""
        draft = self.config.with_name(f"{self.config.name}.new")
        draft.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
        shutil.chown(draft, user="root", group=PIPE_GROUP)
        draft.chmod(0o640)
        draft.replace(self.config)

    def operator(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``mailflow --config <config file> ARGS`` run as the pipe's user, as an operator would."""
        done = subprocess.run(
            as_pipe_user(str(self.command), "--config", str(self.config), *args),
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"mailflow {' '.join(args)} exited {done.returncode}: {done.stderr}"
        return done

    def send(self, recipient: str, message: EmailMessage) -> str:
        """``message`` from the customer to ``recipient`` through Postfix's SMTP port; its queue id."""
        with smtplib.SMTP("127.0.0.1", self.postfix.port, local_hostname=CLIENT, timeout=30) as client:
            client.ehlo()
            client.mail(CUSTOMER)
            code, answer = client.rcpt(recipient)
            assert code == 250, answer
            code, answer = client.data(message.as_bytes())
        assert code == 250, answer
        queued = re.search(rb"queued as (\w+)", answer)
        assert queued is not None, answer
        return queued.group(1).decode()

    def delivery(self, queue_id: str, status: str) -> str:
        """Postfix's log line for an attempt of the ``mailflow`` transport on ``queue_id`` ending
        in ``status`` (sent, deferred, bounced)."""
        found = self.postfix.wait_log(rf"^.*\b{queue_id}: to=<[^>]*>, relay=mailflow,.*status={status}.*$")
        return found.group(0)

    def received(self, recipient: str, containing: str, timeout: float = 30) -> EmailMessage:
        """The first message the customers' server got for ``recipient`` whose bytes hold ``containing``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for _, rcpts, raw in list(self.sink.handler.messages):
                if recipient in rcpts and containing.encode() in raw:
                    message = email.message_from_bytes(raw, policy=email.policy.default)
                    assert isinstance(message, EmailMessage)
                    return message
            time.sleep(0.2)
        raise AssertionError(
            f"nothing with {containing!r} for {recipient} within {timeout} s\n{self.postfix.tail()}"
        )


def reply(to: str, body: str, message_id: str) -> EmailMessage:
    """The customer's email to ``to``."""
    message = EmailMessage()
    message["From"] = f"Ada Lovelace <{CUSTOMER}>"
    message["To"] = to
    message["Subject"] = "Re: Your booking"
    message["Message-ID"] = message_id
    message.set_content(body)
    return message


@pytest.fixture(scope="module")
def pipe() -> Iterator[Pipe]:
    folder = Path(tempfile.mkdtemp(prefix="mailflow-pipe-"))  # under /tmp: pytest's are root's only
    folder.chmod(0o755)
    sink = SmtpSink().start()
    postfix = None
    try:
        command = mailflow_for_pipe_user(folder)
        config = folder / "etc" / "mailflow.env"
        config.parent.mkdir(mode=0o755)
        documented = documented_pipe(command, config)
        postfix = Postfix(
            {
                "relay_domains": DOMAIN,
                "transport_maps": f"inline:{{ {DOMAIN}={documented.transport} }}",
                "relayhost": f"[127.0.0.1]:{sink.port}",  # where DSNs to the customers go
                **documented.main,
            },
            services=documented.master,
        ).start()
        yield Pipe(postfix, sink, folder, command, config)
    finally:
        if postfix is not None:
            postfix.stop()
        sink.stop()
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class SqliteSite:
    settings: dict[str, str]
    database: Path
    ref: str
    """Ada's self-service booking."""
    reply_to: str
    """The Reply-To address of its confirmation."""


@pytest.fixture(scope="module")
def sqlite_site(pipe: Pipe) -> SqliteSite:
    """A SQLite site whose data folder belongs to the pipe's user, who also runs the CLI (as the
    docs say: that user reads and writes the database file and its folder); the demo business,
    Ada's booking and its confirmation, sent to the customers' server."""
    data = pipe.folder / "data"
    data.mkdir(mode=0o755)
    shutil.chown(data, user=PIPE_USER, group=PIPE_GROUP)
    settings = {
        "MAILFLOW_DATA_DIR": str(data),
        "MAILFLOW_DATABASE_URL": f"sqlite:///{data / 'mailflow.db'}",
        "MAILFLOW_INBOUND_DOMAIN": DOMAIN,
        "MAILFLOW_PUBLIC_URL": "https://book.contoso.test",
        "MAILFLOW_OUTBOUND_URL": pipe.sink.url,
    }
    pipe.configure(settings)
    pipe.operator("db", "upgrade")
    pipe.operator("demo")
    day = next_weekday(datetime.now(BERLIN).date() + timedelta(days=7), 1)
    created = pipe.operator(
        "bookings", "create", "--service", "consultation", "--staff", "bob@contoso.example",
        "--customer-email", CUSTOMER, "--customer-name", "Ada Lovelace", "--locale", "en",
        "--origin", "self_service", "--start", berlin(day, 10).isoformat(), "--json",
    )  # fmt: skip
    ref = str(json.loads(created.stdout)["ref"])
    pipe.operator("run-once")
    confirmation = pipe.received(CUSTOMER, "X-Mailflow-Kind: confirmation")
    return SqliteSite(settings, data / "mailflow.db", ref, confirmation["Reply-To"].addresses[0].addr_spec)


def stored_in_sqlite(pipe: Pipe, message_id: str) -> list[dict[str, object]]:
    """The inbound messages with ``message_id``, as ``inbound list --json`` shows them."""
    rows = json.loads(pipe.operator("inbound", "list", "--limit", "1000", "--json").stdout)
    return [row for row in rows if row["message_id"] == message_id]


def test_a_reply_piped_by_postfix_as_an_unprivileged_user_cancels_the_booking(
    pipe: Pipe, sqlite_site: SqliteSite
) -> None:
    """Postfix runs the documented pipe as nobody; feed stores the customer's "cancel" once
    (status=sent in Postfix's log), and the worker then cancels the booking."""
    pipe.configure(sqlite_site.settings)
    queue_id = pipe.send(
        sqlite_site.reply_to, reply(sqlite_site.reply_to, "cancel\n\nAda\n", "<cancel@pipe.test>")
    )
    assert "delivered via mailflow service" in pipe.delivery(queue_id, "sent")
    [stored] = stored_in_sqlite(pipe, "<cancel@pipe.test>")
    assert stored["status"] == "received"

    pipe.operator("run-once")
    [judged] = stored_in_sqlite(pipe, "<cancel@pipe.test>")
    assert (judged["status"], judged["command"], judged["booking"]) == ("done", "cancel", sqlite_site.ref)
    shown = json.loads(pipe.operator("bookings", "show", sqlite_site.ref, "--json").stdout)
    assert shown["status"] == "cancelled"


def test_a_reply_to_an_unknown_key_is_bounced_by_postfix(pipe: Pipe, sqlite_site: SqliteSite) -> None:
    """feed exits 67 for a reply key we never issued: Postfix bounces the reply (5.1.1) and the
    sender gets its DSN; nothing is stored."""
    pipe.configure(sqlite_site.settings)
    unknown = f"reply+{'cd' * 12}@{DOMAIN}"
    queue_id = pipe.send(unknown, reply(unknown, "cancel\n", "<unknown-key@pipe.test>"))
    assert "dsn=5.1.1" in pipe.delivery(queue_id, "bounced")
    dsn = pipe.received(CUSTOMER, f"X-Postfix-Queue-ID: {queue_id}")
    assert dsn.get_content_type() == "multipart/report", dsn
    status = list(dsn.iter_parts())[1].as_string()  # message/delivery-status
    assert f"Final-Recipient: rfc822; {unknown}" in status and "Status: 5.1.1" in status, status
    assert "no such recipient here" in dsn.as_string()  # feed's own words, passed on by Postfix
    assert stored_in_sqlite(pipe, "<unknown-key@pipe.test>") == []


def test_a_read_only_sqlite_file_defers_the_reply_until_it_is_writable(
    pipe: Pipe, sqlite_site: SqliteSite
) -> None:
    """The pipe's user cannot write the database file: feed exits 75, Postfix keeps the reply;
    once the file (and the -wal and -shm files SQLite made meanwhile) is writable again, the retry
    stores it exactly once."""
    pipe.configure(sqlite_site.settings)
    sqlite_site.database.chmod(0o444)
    try:
        queue_id = pipe.send(sqlite_site.reply_to, reply(sqlite_site.reply_to, "Thanks!\n", "<ro@pipe.test>"))
        assert "the message was not stored, retry later" in pipe.delivery(queue_id, "deferred")
    finally:
        # SQLite made its -wal and -shm files beside it with the file's own mode, read-only too.
        for file in sqlite_site.database.parent.glob(f"{sqlite_site.database.name}*"):
            file.chmod(0o644)
    pipe.postfix.flush()
    pipe.delivery(queue_id, "sent")
    assert len(stored_in_sqlite(pipe, "<ro@pipe.test>")) == 1


# --- PostgreSQL ----------------------------------------------------------------


def postgres_reply_to(postgres_url: str, folder: Path) -> str:
    """The Reply-To address of the confirmation of a new self-service booking of Ada's."""
    env = {
        "MAILFLOW_DATA_DIR": str(folder / "data"),
        "MAILFLOW_DATABASE_URL": postgres_url,
        "MAILFLOW_INBOUND_DOMAIN": DOMAIN,
    }
    day = next_weekday(datetime.now(BERLIN).date() + timedelta(days=7), 1)
    for args in (
        ["demo"],
        [
            "bookings", "create", "--service", "consultation", "--staff", "bob@contoso.example",
            "--customer-email", CUSTOMER, "--customer-name", "Ada Lovelace", "--locale", "en",
            "--origin", "self_service", "--start", berlin(day, 11).isoformat(),
        ],
    ):  # fmt: skip
        done = run_mailflow_in_process(args, env, folder)
        assert done.returncode == 0, done.stderr
    engine = create_engine(postgres_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            key = connection.execute(
                select(col(ReplyKey.key)).where(
                    col(ReplyKey.recipient) == CUSTOMER, col(ReplyKey.kind) == "confirmation"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    return f"reply+{key}@{DOMAIN}"


def stored_in_postgres(postgres_url: str, message_id: str) -> int:
    engine = create_engine(postgres_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            count = (
                select(func.count())
                .select_from(InboundMessage)
                .where(col(InboundMessage.message_id) == message_id)
            )
            return int(connection.execute(count).scalar_one())
    finally:
        engine.dispose()


def test_the_database_down_defers_the_reply_until_it_is_back(
    pipe: Pipe, postgres_url: str, tmp_path: Path
) -> None:
    """The config file names a PostgreSQL nobody listens on: feed exits 75 and Postfix keeps the
    reply; with the right URL, Postfix's retry stores it exactly once."""
    address = postgres_reply_to(postgres_url, tmp_path)
    down = make_url(postgres_url).set(port=free_port()).render_as_string(hide_password=False)
    pipe.configure({"MAILFLOW_DATABASE_URL": down, "MAILFLOW_INBOUND_DOMAIN": DOMAIN})
    queue_id = pipe.send(address, reply(address, "cancel\n", "<down@pipe.test>"))
    deferred = pipe.delivery(queue_id, "deferred")
    assert "the message was not stored, retry later" in deferred, deferred
    assert stored_in_postgres(postgres_url, "<down@pipe.test>") == 0

    pipe.configure({"MAILFLOW_DATABASE_URL": postgres_url, "MAILFLOW_INBOUND_DOMAIN": DOMAIN})
    pipe.postfix.flush()
    pipe.delivery(queue_id, "sent")
    assert stored_in_postgres(postgres_url, "<down@pipe.test>") == 1


def test_a_read_only_database_defers_the_reply_until_it_is_writable(
    pipe: Pipe, postgres_url: str, tmp_path: Path
) -> None:
    """PostgreSQL in read-only mode (default_transaction_read_only, as on a standby or a full
    disk's emergency setting): feed exits 75 and Postfix keeps the reply; once writable again,
    the retry stores it exactly once."""
    address = postgres_reply_to(postgres_url, tmp_path)
    name = make_url(postgres_url).database
    pipe.configure({"MAILFLOW_DATABASE_URL": postgres_url, "MAILFLOW_INBOUND_DOMAIN": DOMAIN})
    # Not connected to that database itself: its sessions are read-only too, the RESET included.
    elsewhere = make_url(postgres_url).set(database="postgres")
    admin = create_engine(elsewhere, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
        try:
            queue_id = pipe.send(address, reply(address, "cancel\n", "<read-only@pipe.test>"))
            deferred = pipe.delivery(queue_id, "deferred")
            assert "read-only transaction" in deferred, deferred
            assert stored_in_postgres(postgres_url, "<read-only@pipe.test>") == 0
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'ALTER DATABASE "{name}" RESET default_transaction_read_only'))
    finally:
        admin.dispose()
    pipe.postfix.flush()
    pipe.delivery(queue_id, "sent")
    assert stored_in_postgres(postgres_url, "<read-only@pipe.test>") == 1
