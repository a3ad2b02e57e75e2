"""Outbound transports, chosen by ``MAILFLOW_OUTBOUND_URL``.

- ``smtp://user:pass@host:587?starttls=true`` / ``smtps://…:465``: aiosmtplib,
  one connection per batch, per-message results (4xx and connection errors are
  temporary, 5xx permanent); ``?ca_file=/path/ca.pem`` trusts a relay's own
  certificate (a local Postfix's self-signed one), ``?verify=false`` checks none
  (loopback only, unless ``MAILFLOW_OUTBOUND_ALLOW_UNVERIFIED=1``);
- ``maildir:///abs/path`` (relative paths resolve against the working
  directory): a standard Maildir, one complete message per file;
- ``memory://name``: kept in this process (tests).
"""

from __future__ import annotations

import asyncio
import mailbox
import os
import smtplib
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from mailflow.errors import ConfigError

OUTBOUND_VARIABLE = "MAILFLOW_OUTBOUND_URL"
REACHABLE_TIMEOUT = 2.0  # seconds for /readyz's TCP check of the relay
REACHABLE_CACHE_SECONDS = 10.0  # a health check every few seconds opens at most one connection per 10 s


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to hand to a transport."""

    envelope_from: str
    recipient: str
    data: bytes


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    permanent: bool = False
    detail: str = ""
    refused_recipient: bool = False
    """The relay refused the recipient's address at RCPT (not the message at DATA)."""


SENT = SendResult(ok=True)

Progress = Callable[[Sequence[SendResult]], Awaitable[None]]
"""Awaited by a transport after each message with the results so far (see ``Transport.send_batch``)."""


class Transport(Protocol):
    name: str

    async def send_batch(
        self, messages: Sequence[Outgoing], progress: Progress | None = None
    ) -> list[SendResult]:
        """Send ``messages`` in order; one result per message.

        A transport that sends one message at a time awaits ``progress`` after
        each with the results so far, so the dispatcher can record accepted
        messages while the batch goes on (a crash then re-sends only the few
        accepted since the last record, not the whole batch).
        """
        ...

    def reachable(self) -> str:
        """``ok``, or why the transport cannot take mail now (for ``/readyz``)."""
        ...


@dataclass
class MemoryTransport:
    """Keeps every message in ``sent`` (for tests and the ``memory://`` URL)."""

    name: str = "memory"
    sent: list[Outgoing] = field(default_factory=list)

    async def send_batch(
        self, messages: Sequence[Outgoing], progress: Progress | None = None
    ) -> list[SendResult]:
        self.sent.extend(messages)
        return [SENT for _ in messages]

    def reachable(self) -> str:
        return "ok"


MEMORY_TRANSPORTS: dict[str, MemoryTransport] = {}


def return_path_header(envelope_from: str) -> bytes:
    """``Return-Path: <sender>`` and CRLF, as the final delivery writes it (no CR/LF let through)."""
    sender = "".join(c for c in envelope_from if c not in "\r\n<>")
    return f"Return-Path: <{sender}>\r\n".encode("utf-8", "replace")


@dataclass
class MaildirTransport:
    """Writes each message into a Maildir (``tmp/`` then ``new/``, never half a file)."""

    path: Path
    name: str = "maildir"

    def _write(self, messages: Sequence[Outgoing]) -> list[SendResult]:
        """One result per message: those written before a failure stay delivered, never written twice."""
        try:
            box = mailbox.Maildir(self.path, factory=None, create=True)
        except OSError as exc:
            return [SendResult(ok=False, detail=f"maildir: {exc}") for _ in messages]
        results: list[SendResult] = []
        for message in messages:
            try:
                # tmp/ then new/: a failed write leaves no half message. Return-Path, as a delivery
                # agent writes it (RFC 5321 4.4), shows the envelope sender (the VERP address).
                box.add(return_path_header(message.envelope_from) + message.data)
            except OSError as exc:  # a full disk stays full for the rest of the batch: retry them later
                failed = SendResult(ok=False, detail=f"maildir: {exc}")
                return results + [failed] * (len(messages) - len(results))
            results.append(SENT)
        return results

    async def send_batch(
        self, messages: Sequence[Outgoing], progress: Progress | None = None
    ) -> list[SendResult]:
        # Writing a batch takes milliseconds: no progress reports.
        return await asyncio.to_thread(self._write, messages)

    def reachable(self) -> str:
        existing = next((p for p in (self.path / "new", self.path, *self.path.parents) if p.exists()), None)
        if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            return f"maildir {self.path} is not writable"
        return "ok"


@dataclass
class SmtpTransport:
    """An SMTP relay; one connection is reused for the whole batch."""

    hostname: str
    port: int
    use_tls: bool
    start_tls: bool | None
    username: str | None
    password: str | None
    timeout: float = 30.0
    helo: str = "localhost"
    """The EHLO name (``Settings.helo_name``): relays may refuse one that is not fully qualified."""
    tls_context: ssl.SSLContext | None = None
    """How the relay's certificate is checked: ``?ca_file=`` or ``?verify=false``; None: the system's CAs."""
    name: str = "smtp"
    _checked: tuple[float, str] | None = field(default=None, repr=False, compare=False)
    _refused: str | None = field(default=None, repr=False, compare=False)
    """Why the last connection failed in a way no retry mends (TLS, authentication); /readyz says it."""

    def reachable(self) -> str:
        """The relay's greeting, EHLO and QUIT (a polite conversation: a bare connect leaves "lost
        connection after CONNECT" in the relay's log at every probe), remembered for a few seconds."""
        if self._refused is not None:  # until a delivery gets through again
            return self._refused
        now = time.monotonic()
        if self._checked is not None and now - self._checked[0] < REACHABLE_CACHE_SECONDS:
            return self._checked[1]
        try:
            self._probe()
            answer = "ok"
        except (OSError, smtplib.SMTPException) as exc:
            refused = _refusal(exc)
            answer = (
                f"the relay {self.hostname}:{self.port} {refused}"
                if refused
                else f"cannot reach the relay {self.hostname}:{self.port}: {exc}"
            )
        self._checked = (now, answer)
        return answer

    def _probe(self) -> None:
        address = (self.hostname, self.port)
        client: smtplib.SMTP
        if self.use_tls:
            context = self.tls_context or ssl.create_default_context()
            client = smtplib.SMTP_SSL(*address, self.helo, timeout=REACHABLE_TIMEOUT, context=context)
        else:
            client = smtplib.SMTP(*address, self.helo, timeout=REACHABLE_TIMEOUT)
        with client:
            code, text = client.ehlo()
            if code != 250:
                raise smtplib.SMTPHeloError(code, text)
            if not self.use_tls and self.start_tls is not False and client.has_extn("starttls"):
                # As a delivery would: so a certificate this machine does not trust shows here too.
                client.starttls(context=self.tls_context or ssl.create_default_context())
                client.ehlo()
            client.quit()

    def _client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.hostname,
            port=self.port,
            use_tls=self.use_tls,
            start_tls=self.start_tls,
            username=self.username,
            password=self.password,
            timeout=self.timeout,
            local_hostname=self.helo,
            tls_context=self.tls_context,
        )

    async def send_batch(
        self, messages: Sequence[Outgoing], progress: Progress | None = None
    ) -> list[SendResult]:
        results: list[SendResult] = []
        client = self._client()
        try:
            await client.connect()
        except (aiosmtplib.SMTPException, OSError) as exc:
            refused = _refusal(exc)
            self._refused = f"the relay {self.hostname}:{self.port} {refused}" if refused else None
            detail = self._refused or f"cannot reach {self.hostname}:{self.port}: {exc}"
            return [SendResult(ok=False, detail=detail) for _ in messages]
        self._refused = None
        try:
            for message in messages:
                results.append(await self._send_one(client, message))
                if progress is not None:
                    await progress(results)
                if not client.is_connected:  # the relay hung up: the rest are temporary failures
                    break
        finally:
            if client.is_connected:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError):
                    client.close()
        while len(results) < len(messages):
            results.append(SendResult(ok=False, detail="connection lost before this message"))
        return results

    async def _send_one(self, client: aiosmtplib.SMTP, message: Outgoing) -> SendResult:
        try:
            # A forward carries the customer's original as written: 8-bit text is announced
            # (RFC 6152) where the relay offers it (its EHLO answer says so).
            options = []
            if not message.data.isascii():
                if client.is_ehlo_or_helo_needed:
                    await client.ehlo()
                if client.supports_extension("8bitmime"):
                    options.append("BODY=8BITMIME")
            errors, _ = await client.sendmail(
                message.envelope_from, [message.recipient], message.data, mail_options=options
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusal = exc.recipients[0]
            return SendResult(
                ok=False,
                permanent=refusal.code >= 500,
                detail=f"{refusal.code} {refusal.message}",
                refused_recipient=True,
            )
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code >= 500:
                await _reset(client)
            return SendResult(ok=False, permanent=exc.code >= 500, detail=f"{exc.code} {exc.message}")
        except (aiosmtplib.SMTPException, OSError) as exc:
            return SendResult(ok=False, detail=f"{type(exc).__name__}: {exc}")
        if errors:  # refused at RCPT
            code, text = next(iter(errors.values()))
            permanent = code >= 500
            return SendResult(ok=False, permanent=permanent, detail=f"{code} {text}", refused_recipient=True)
        return SENT


def _refusal(exc: BaseException) -> str | None:
    """What in a failed connection no retry mends by itself, said for an operator: the relay's
    certificate not trusted, or the login refused; None for anything else (down, timeouts)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return (
                f"has a TLS certificate this machine does not trust ({seen.verify_message}): add "
                "?ca_file=/path/to/its-ca.pem to MAILFLOW_OUTBOUND_URL (or ?verify=false on loopback)"
            )
        if isinstance(seen, aiosmtplib.SMTPAuthenticationError):
            return f"refused the login: {seen.code} {seen.message}"
        seen = seen.__cause__ or seen.__context__
    return None


async def _reset(client: aiosmtplib.SMTP) -> None:
    try:
        await client.rset()
    except (aiosmtplib.SMTPException, OSError):
        client.close()


def maildir_of(transport: Transport) -> Path | None:
    """The maildir of a maildir transport (shown at ``/dev/mail``), or None with another transport."""
    return transport.path if isinstance(transport, MaildirTransport) else None


def transport_from_url(url: str, helo: str = "localhost", *, allow_unverified: bool = False) -> Transport:
    """The transport for ``url`` (an SMTP relay is greeted as ``helo``; ``?verify=false`` off
    loopback needs ``allow_unverified``); ``ConfigError`` naming the variable when it is malformed."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if parts.scheme == "memory":
        key = parts.netloc or parts.path or "default"
        return MEMORY_TRANSPORTS.setdefault(key, MemoryTransport())
    if parts.scheme == "maildir":
        raw = unquote(parts.netloc + parts.path)
        if not raw:
            raise ConfigError(OUTBOUND_VARIABLE, "maildir:// needs a path, e.g. maildir:///var/mail/mailflow")
        return MaildirTransport(Path(raw).resolve())
    if parts.scheme in ("smtp", "smtps"):
        if not parts.hostname:
            raise ConfigError(
                OUTBOUND_VARIABLE, "smtp:// needs a host, e.g. smtp://user:pass@relay.example:587"
            )
        try:
            port = parts.port or (465 if parts.scheme == "smtps" else 587)
        except ValueError:
            raise ConfigError(OUTBOUND_VARIABLE, f"bad port in {url!r}") from None
        starttls = query.get("starttls", [""])[0].lower()
        if starttls not in ("", "true", "false", "1", "0", "yes", "no"):
            raise ConfigError(OUTBOUND_VARIABLE, f"starttls must be true or false, not {starttls!r}")
        timeout = query.get("timeout", ["30"])[0]
        try:
            timeout_seconds = float(timeout)
        except ValueError:
            raise ConfigError(
                OUTBOUND_VARIABLE, f"timeout must be a number of seconds, not {timeout!r}"
            ) from None
        return SmtpTransport(
            hostname=parts.hostname,
            port=port,
            use_tls=parts.scheme == "smtps",
            start_tls=None if starttls == "" else starttls in ("true", "1", "yes"),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            timeout=timeout_seconds,
            helo=helo,
            tls_context=_tls_context(parts.hostname, query, allow_unverified),
        )
    raise ConfigError(
        OUTBOUND_VARIABLE, f"unsupported scheme {parts.scheme!r}: use smtp, smtps, maildir or memory"
    )


def _tls_context(host: str, query: dict[str, list[str]], allow_unverified: bool) -> ssl.SSLContext | None:
    """The relay's certificate check from ``?ca_file=`` and ``?verify=`` (None: the system's CAs)."""
    verify = query.get("verify", ["true"])[0].lower()
    if verify not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigError(OUTBOUND_VARIABLE, f"verify must be true or false, not {verify!r}")
    ca_file = query.get("ca_file", [""])[0]
    if verify in ("false", "0", "no"):
        if not (_loopback(host) or allow_unverified):
            raise ConfigError(
                OUTBOUND_VARIABLE,
                f"verify=false sends mail (and the relay's password) to {host} without checking who "
                "answers: give the relay's CA with ?ca_file=…, or set MAILFLOW_OUTBOUND_ALLOW_UNVERIFIED=1",
            )
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if not ca_file:
        return None
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(OUTBOUND_VARIABLE, f"cannot read the CA file {ca_file!r}: {exc}") from None


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False
