"""The inbound SMTP and LMTP servers (aiosmtpd): check, store, answer 250; the worker judges later.

Only ``reply+<key>@<inbound domain>`` (a key we issued),
``bounce+<outbox id>.<signature>@`` (a return path we signed, of an email we
queued) and ``postmaster@`` (RFC 5321; it reaches the admins) are accepted:
an unknown key, an unsigned or unknown return path get
``550 5.1.1`` at RCPT, a foreign domain
``550 5.7.1``; a message over the size limit gets ``552`` (aiosmtpd's
``data_size_limit``). The raw bytes and the InboundMessage row are committed
before the ``250``, one row per accepted recipient; then the inbound job is
woken. LMTP answers once per recipient. Each client address may hold a limited
number of connections at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import re
import ssl
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.exc import DBAPIError

from mailflow.config import parse_bind
from mailflow.errors import ConfigError
from mailflow.inbound.recipients import LOCAL_PART
from mailflow.inbound.smtp_data import DataLines
from mailflow.outbound.return_path import ReturnPaths
from mailflow.ratelimit import RateLimiter
from mailflow.services.bounces import return_path_is_ours
from mailflow.services.inbound_store import Received, store_many
from mailflow.services.postmaster import is_postmaster
from mailflow.services.reply_targets import known_reply_keys

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from mailflow.parts import SmtpParts

log = logging.getLogger("mailflow.smtp")

Asked = TypeVar("Asked")
Answer = TypeVar("Answer")
IDLE_SECONDS = 10.0  # the storing thread retires after this long without a message
_LOCAL = LOCAL_PART
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
# The everyday path of MAIL FROM and RCPT TO: ``<>`` or ``<dot-atom@dot-atom>``, then optional
# blanks before the parameters. Anything else (comments, quoting, routes, UTF-8) is aiosmtpd's.
_PLAIN_PATH = re.compile(
    rf"<(?P<local>{_ATEXT}(?:\.{_ATEXT})*)@(?P<domain>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>[ \t]*+(?!\()"
)


class _BatchThread(Generic[Asked, Answer]):
    """Answers requests on a thread of its own; what arrives together is handled together.

    Each request is handed over and awaited; the thread takes everything waiting
    (up to ``most``), hands the lot to ``handle`` and answers every waiter. Under
    load several SMTP sessions share one turn at the database; alone, a request
    is handled at once. The thread retires after ``IDLE_SECONDS`` without work.
    """

    name = "mailflow-smtp"

    def __init__(self, most: int) -> None:
        self.most = most
        self.waiting: queue.SimpleQueue[_Waiting[Asked, Answer]] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    async def ask(self, asked: Asked) -> Answer:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Answer] = loop.create_future()
        self.waiting.put(_Waiting(asked, loop, done))
        self._start()  # after the put: a thread about to retire sees the request and stays
        return await done

    def handle(self, batch: list[_Waiting[Asked, Answer]]) -> None:
        raise NotImplementedError

    def retire(self) -> None:
        """Called on the thread as it retires (holding the lock: no new thread starts meanwhile)."""

    def _start(self) -> None:
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                batch = [self.waiting.get(timeout=IDLE_SECONDS)]
            except queue.Empty:
                with self.lock:
                    if self.waiting.empty():
                        self.retire()
                        self.thread = None  # idle: retire; the next request starts a new thread
                        return
                continue
            while len(batch) < self.most:
                try:
                    batch.append(self.waiting.get_nowait())
                except queue.Empty:
                    break
            self.handle(batch)


class GroupStore(_BatchThread[list[Received], list[int]]):
    """Stores received messages; what arrives together commits together.

    The storing thread answers every waiter once the shared transaction is
    committed: several connections share one commit and one turn at SQLite's
    write lock. If a shared transaction fails, each message is tried on its own,
    so one bad message cannot refuse the others.
    """

    name = "mailflow-smtp-store"

    def __init__(self, engine: Engine, most: int = 32) -> None:
        super().__init__(most)
        self.engine = engine

    async def store(self, messages: list[Received]) -> list[int]:
        """Store ``messages`` (one per recipient); their row ids once committed, or the error."""
        return await self.ask(messages)

    def handle(self, batch: list[_Waiting[list[Received], list[int]]]) -> None:
        now = datetime.now(UTC)
        try:
            ids = store_many(self.engine, [m for item in batch for m in item.asked], now)
        except Exception as exc:
            if len(batch) == 1:
                batch[0].answer(exc)
                return
            for item in batch:
                self.handle([item])
            return
        for item in batch:
            item.answer(ids[: len(item.asked)])
            ids = ids[len(item.asked) :]


class KeyLookup(_BatchThread[str, bool]):
    """Whether reply keys are ours: the keys asked at the same moment, in one query.

    The thread keeps one connection while it runs (checking one out of the pool for every
    lookup was a twentieth of the SMTP side's time) and ends each lookup's transaction, so no
    snapshot is held between lookups. A connection the database dropped (a restart) is
    replaced and the lookup asked again once, as the pool's ping would have.
    """

    name = "mailflow-smtp-keys"

    def __init__(self, engine: Engine, most: int = 64) -> None:
        super().__init__(most)
        self.engine = engine
        self.connection: Connection | None = None

    async def known(self, key: str) -> bool:
        """Whether ``key`` (lower case) is a reply key we issued; the error if the database is away."""
        return await self.ask(key)

    def handle(self, batch: list[_Waiting[str, bool]]) -> None:
        try:
            known = self._look_up({item.asked for item in batch})
        except Exception as exc:
            for item in batch:
                item.answer(exc)
            return
        for item in batch:
            item.answer(item.asked in known)

    def _look_up(self, keys: set[str], again: bool = True) -> set[str]:
        if self.connection is None:
            self.connection = self.engine.connect()
        try:
            known = known_reply_keys(self.connection, keys)
            self.connection.rollback()
        except DBAPIError as exc:
            self.retire()
            if again and exc.connection_invalidated:
                return self._look_up(keys, again=False)
            raise
        except Exception:
            self.retire()
            raise
        return known

    def retire(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):  # a dead connection cannot be closed cleanly
                self.connection.close()
            self.connection = None


@dataclass
class _Waiting(Generic[Asked, Answer]):
    asked: Asked
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[Answer]

    def answer(self, result: Answer | BaseException) -> None:
        def settle() -> None:
            if self.done.done():
                return  # the client went away meanwhile
            if isinstance(result, BaseException):
                self.done.set_exception(result)
            else:
                self.done.set_result(result)

        with contextlib.suppress(RuntimeError):  # the event loop is closed: the server is gone
            self.loop.call_soon_threadsafe(settle)


class InboundHandler:
    """aiosmtpd hooks: recipient check at RCPT, storage at DATA.

    ``engine`` is where reply keys are looked up and, through ``storer`` (a
    ``GroupStore`` of its own by default), messages stored; only recipients at
    ``domain`` (the inbound domain) are taken, a ``bounce+`` one only when ``return_paths``
    says we signed it.
    """

    def __init__(
        self,
        engine: Engine,
        domain: str,
        return_paths: ReturnPaths,
        *,
        lmtp: bool = False,
        on_stored: Callable[[], None] | None = None,
        rate: RateLimiter | None = None,
        storer: GroupStore | None = None,
        keys: KeyLookup | None = None,
        relays: tuple[IPv4Network | IPv6Network, ...] = (),
    ) -> None:
        self.engine = engine
        self.relays = relays
        self.storer = storer or GroupStore(engine)
        self.keys = keys or KeyLookup(engine)
        self.rate = rate
        self.domain = domain
        self.return_paths = return_paths
        self.lmtp = lmtp
        self.on_stored = on_stored

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        client = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        # Behind an MTA every customer arrives from its one address: the sender is who is limited.
        key = f"sender:{address.strip().lower()}" if is_relay(client, self.relays) else client
        if self.rate is not None and not self.rate.hit(key):
            return "451 4.7.1 too many messages from your address, try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        local, _, domain = address.strip().lower().rpartition("@")
        if is_postmaster(address, self.domain):  # RFC 5321 4.5.1: always taken; the admins read it
            envelope.rcpt_tos.append(address)
            return "250 2.1.5 OK"
        if not self.domain or domain != self.domain:
            return "550 5.7.1 relaying denied: this server only takes replies to its own emails"
        match = _LOCAL.match(local)
        if match is None:
            return "550 5.1.1 no such recipient"
        if match.group(1) == "reply":
            try:
                known = await self.keys.known(match.group(2))
            except Exception as exc:  # the database is away: the sender must retry, not bounce the reply
                log.warning("could not look up a reply key (%s): deferring %s", type(exc).__name__, address)
                return "451 4.3.0 temporary lookup failure, please retry"
            if not known:
                return "550 5.1.1 unknown reply address"
        else:
            refused = await self._check_return_path(address, match.group(2))
            if refused is not None:
                return refused
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def _check_return_path(self, address: str, key: str) -> str | None:
        """None for a return path we signed (``key`` is ``<outbox id>.<signature>``), else the answer."""
        signed = self.return_paths.parse_key(key)
        if signed is None:  # not even the form of ours: a forged bounce never reaches the pipeline
            return "550 5.1.1 unknown bounce address"
        try:
            ours = await asyncio.to_thread(return_path_is_ours, self.engine, self.return_paths, *signed)
        except Exception as exc:  # the database is away: the MTA must retry, not drop the bounce
            log.warning("could not look up a return path (%s): deferring %s", type(exc).__name__, address)
            return "451 4.3.0 temporary lookup failure, please retry"
        return None if ours else "550 5.1.1 unknown bounce address"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        raw = content.encode("utf-8", "surrogateescape") if isinstance(content, str) else bytes(content)
        sender = str(envelope.mail_from or "")
        statuses = []
        try:
            ids = await self.storer.store([Received(raw, sender, rcpt) for rcpt in envelope.rcpt_tos])
        except Exception:
            log.exception("could not store a message for %s", ", ".join(envelope.rcpt_tos))
            statuses = ["451 4.3.0 temporary storage failure, please retry"] * len(envelope.rcpt_tos)
        else:
            for row_id in ids:
                log.info(
                    "stored inbound message %d (%d bytes)", row_id, len(raw), extra={"inbound_id": row_id}
                )
                statuses.append("250 2.0.0 stored")
        if self.on_stored is not None and any(s.startswith("250") for s in statuses):
            self.on_stored()
        if self.lmtp:
            return "\r\n".join(statuses)
        # SMTP has one answer for the message: accepted only if every recipient's copy is stored.
        return statuses[0] if len(set(statuses)) == 1 else "451 4.3.0 temporary storage failure, please retry"


def is_relay(client: str, relays: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    """Whether ``client`` (an IP address) is one of the trusted relays (MAILFLOW_TRUSTED_RELAYS).

    >>> from ipaddress import ip_network
    >>> is_relay("127.0.0.1", (ip_network("127.0.0.0/8"),)), is_relay("203.0.113.9", (ip_network("::1"),))
    (True, False)
    """
    try:
        address = ip_address(client)
    except ValueError:
        return False
    return any(address in network for network in relays)


class _Limited:
    """Counts connections per client address; the protocol refuses beyond the limit (but for the
    trusted relays: an MTA has its own concurrency limit, and every customer comes through it)."""

    def __init__(self, limit: int, relays: tuple[IPv4Network | IPv6Network, ...] = ()) -> None:
        self.limit = limit
        self.relays = relays
        self.open: Counter[str] = Counter()

    def refuses(self, client: str) -> bool:
        return self.open[client] > self.limit and not is_relay(client, self.relays)


def plain_path(arg: str) -> tuple[str, str, str] | None:
    """``(address, local part, rest)`` of an SMTP path in its everyday form, None for any other.

    What aiosmtpd's ``_getaddr`` makes of the same text, without its RFC 5322 token parser
    (and the class it defines on every call): a quarter of the SMTP side's time per message.

    >>> plain_path("<Reply+K1@Mail.Example> SIZE=120"), plain_path("<>"), plain_path("<a(b)@c>")
    (('Reply+K1@Mail.Example', 'Reply+K1', 'SIZE=120'), ('<>', '', ''), None)
    """
    if arg.startswith("<>"):  # the null sender; the parser keeps what follows as it is
        return "<>", "", arg[2:]
    found = _PLAIN_PATH.match(arg)
    if found is None:
        return None
    local = found.group("local")
    return f"{local}@{found.group('domain')}", local, arg[found.end() :]


def _protocol(base: type[SMTP], handler: InboundHandler, limits: _Limited, **options: Any) -> SMTP:
    class Protocol(base):  # type: ignore[valid-type, misc]
        def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
            plain = plain_path(arg)
            if plain is None:
                return super()._getaddr(arg)  # type: ignore[no-any-return]
            address, local, rest = plain
            if self.local_part_limit and len(local) > self.local_part_limit:
                return None, None
            return address, rest

        async def smtp_DATA(self, arg: str) -> None:
            reader: asyncio.StreamReader = self._reader  # type: ignore[has-type]  # aiosmtpd leaves it unannotated
            self._reader = cast(Any, DataLines(reader, self.line_length_limit))  # for this command only
            try:
                await super().smtp_DATA(arg)
            finally:
                self._reader = reader

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            peer = transport.get_extra_info("peername")
            self._mailflow_client = peer[0] if peer else "unknown"
            limits.open[self._mailflow_client] += 1
            if limits.refuses(self._mailflow_client) and isinstance(transport, asyncio.Transport):
                transport.write(b"421 4.7.0 too many connections from your address, try again later\r\n")
                transport.close()
                return
            super().connection_made(transport)

        def connection_lost(self, exc: Exception | None) -> None:
            limits.open[self._mailflow_client] -= 1
            if limits.open[self._mailflow_client] <= 0:
                del limits.open[self._mailflow_client]
            super().connection_lost(exc)

    return Protocol(handler, **options)


def tls_context(cert: str, key: str) -> ssl.SSLContext | None:
    """The server's STARTTLS context, or None without a certificate; ``ConfigError`` if unusable."""
    if not cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key or None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            "MAILFLOW_SMTP_TLS_CERT", f"cannot load {cert} (key {key or cert}): {exc}"
        ) from None
    return context


async def start_servers(
    parts: SmtpParts, *, on_stored: Callable[[], None] | None = None
) -> list[asyncio.AbstractServer]:
    """Start the SMTP server (and LMTP when configured) inside the running event loop."""
    loop = asyncio.get_running_loop()
    limits = _Limited(parts.max_connections_per_client, parts.trusted_relays)
    servers: list[asyncio.AbstractServer] = []
    options: dict[str, Any] = {
        "data_size_limit": parts.max_message_bytes,
        "hostname": parts.inbound_domain or None,
    }
    tls = tls_context(parts.tls_cert, parts.tls_key)
    if tls is not None:
        options["tls_context"] = tls
    host, port = parse_bind(parts.smtp_bind)
    rate = RateLimiter(parts.messages_per_client_per_minute, 60)
    storer, keys = GroupStore(parts.engine), KeyLookup(parts.engine)
    domain = parts.inbound_domain
    relays = parts.trusted_relays
    smtp_handler = InboundHandler(
        parts.engine, domain, parts.return_paths, on_stored=on_stored, rate=rate, storer=storer, keys=keys,
        relays=relays,
    )  # fmt: skip
    servers.append(
        await loop.create_server(lambda: _protocol(SMTP, smtp_handler, limits, **options), host, port)
    )
    log.info("inbound SMTP on %s:%d for @%s", host, port, domain)
    if parts.lmtp_bind:
        host, port = parse_bind(parts.lmtp_bind)
        lmtp_handler = InboundHandler(
            parts.engine, domain, parts.return_paths, lmtp=True, on_stored=on_stored, rate=rate,
            storer=storer, keys=keys, relays=relays,
        )  # fmt: skip
        servers.append(
            await loop.create_server(lambda: _protocol(LMTP, lmtp_handler, limits, **options), host, port)
        )
        log.info("inbound LMTP on %s:%d", host, port)
    return servers
