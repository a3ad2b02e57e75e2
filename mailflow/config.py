"""Settings: one frozen object read from ``MAILFLOW_*`` variables and config files.

Every key of DESIGN §10 is here with its default. ``load_settings`` validates
them all and raises :class:`~mailflow.errors.ConfigError` naming the variable
of the first bad value, so a typo stops start-up instead of surfacing later.
Nothing is read at import time.

Where the values come from, strongest first: the process environment; the file
``MAILFLOW_CONFIG`` names (``mailflow --config PATH`` sets it), alone; else
``./.env`` over ``/etc/mailflow/mailflow.env``, each where it exists. So the
server, the CLI and an MTA's pipe (which passes no environment and runs in its
queue directory) read the same file. Config files hold ``MAILFLOW_*=value``
lines (``#`` comments, optional quotes), the format of ``.env`` files.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mailflow.errors import ConfigError
from mailflow.outbound.limits import TemplateLimits

ENV_PREFIX = "MAILFLOW_"
OUTBOUND_SCHEMES = ("smtp", "smtps", "maildir", "memory")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DATABASE_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg")
CONFIG_VARIABLE = "MAILFLOW_CONFIG"
_HELO_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.IPv]+\]")
SYSTEM_CONFIG = Path("/etc/mailflow/mailflow.env")
"""The config file every mailflow command reads when it exists (and ``MAILFLOW_CONFIG`` is unset)."""
LOCAL_CONFIG = Path(".env")
"""The working directory's config file: read over ``SYSTEM_CONFIG`` when it exists."""


def parse_networks(value: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """``10.0.0.1, 172.16.0.0/12`` -> the networks; ``ValueError`` naming a bad entry.

    >>> parse_networks("10.0.0.1, 172.16.0.0/12")
    (IPv4Network('10.0.0.1/32'), IPv4Network('172.16.0.0/12'))
    """
    networks = []
    for part in value.split(","):
        if part.strip():
            try:
                networks.append(ip_network(part.strip(), strict=False))
            except ValueError:
                raise ValueError(f"expected IPs or CIDRs such as 10.0.0.0/8, got {part.strip()!r}") from None
    return tuple(networks)


def parse_bind(value: str) -> tuple[str, int]:
    """Split ``host:port`` (``[v6]:port`` too) into its parts, or raise ``ValueError``."""
    host, sep, port = value.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT such as 127.0.0.1:8000, got {value!r}")
    return host.strip("[]"), int(port)


class Settings(BaseSettings):
    """All configuration. Fields map to ``MAILFLOW_<FIELD>`` variables."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=None,
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        validate_default=True,
    )

    data_dir: Path = Path("./mailflow-data")
    """SQLite file, maildir and the generated secret key live here."""

    database_url: str = ""
    """``sqlite:///<data dir>/mailflow.db`` when empty, or ``postgresql+psycopg://…``."""

    public_url: str = "http://127.0.0.1:8000"
    """Base of every link in emails."""

    web_bind: str = "127.0.0.1:8000"
    smtp_bind: str = "127.0.0.1:8025"
    lmtp_bind: str = ""
    """Inbound LMTP listener; empty (the default) keeps it off."""

    inbound_domain: str = "mailflow.localhost"
    """Replies go to ``reply+<key>@`` this domain; empty turns reply-by-email off."""

    outbound_url: str = ""
    """``maildir://<data dir>/outbox`` when empty; else smtp://, smtps://, maildir://, memory://."""

    outbound_allow_unverified: bool = False
    """Lets ``?verify=false`` in ``outbound_url`` reach a relay that is not on loopback."""

    outbound_helo: str = ""
    """The EHLO name given to the relay; the host of ``public_url`` when empty (``helo_name``)."""

    imap_url: str = ""
    """``imaps://user:pass@host:993/INBOX`` turns the IMAP poller on."""

    secret_key: str = Field("", repr=False)
    """Signs sessions and CSRF tokens; generated once into the data dir when empty."""

    slot_grid_minutes: int = 15
    """Spacing of the start times offered to customers."""

    calendar_sync_minutes: int = Field(10, ge=1, le=1440)
    """How often each staff member's own calendars are fetched for their busy times."""

    calendar_fetch_timeout_seconds: float = Field(20.0, gt=0, le=300)
    """Longest one external calendar may take to answer (then its last busy times stay in force)."""

    smtp_tls_cert: str = ""
    """PEM certificate (chain) for STARTTLS on the inbound SMTP/LMTP server; empty: no STARTTLS."""

    smtp_tls_key: str = ""
    """PEM private key for ``smtp_tls_cert`` (may be the same file)."""

    smtp_messages_per_client_per_minute: int = 600
    """Messages one client address may send per minute (then 451 at MAIL FROM: try later)."""

    smtp_max_connections_per_client: int = 50
    """Connections one client address may hold open to the inbound SMTP/LMTP server (then 421)."""

    smtp_max_message_bytes: int = 10 * 1024 * 1024
    """Largest inbound message accepted (bigger ones get 552)."""

    forward_max_bytes: int = Field(5 * 1024 * 1024, ge=64 * 1024)
    """Largest original a forward to staff carries: beyond it the biggest attachments are left
    out, with a note (attached in base64 a 5 MB original makes a forward of about 7 MB, under
    the 10 MB many mailboxes still refuse above)."""

    trusted_authserv_ids: str = ""
    """Comma-separated authserv-ids whose Authentication-Results are believed (dmarc=fail holds a reply)."""

    inbound_retention_days: int = Field(30, ge=1)
    """Days the raw bytes of processed inbound messages are kept (their verdicts stay)."""

    sent_retention_days: int = Field(30, ge=1)
    """Days the bodies of sent emails are kept (kind, recipient, status and times stay)."""

    claim_lease_seconds: int = Field(300, ge=1)
    """How long a worker's claim on outbox emails and inbound replies holds.

    Rows claimed by a worker that died (killed, lost its host) wait this long
    before another worker takes them. Keep it well above the time one batch
    takes (100 emails to the relay): a claim that runs out while its worker is
    still sending lets another worker send the same emails again.
    """

    token_failures_per_ip: int = 30
    """Failed manage-link lookups one IP may make in 10 minutes before it gets 429."""

    bookings_per_ip_per_hour: int = 10
    """Self-service bookings one IP may make per hour (and messages it may send with the manage
    pages' contact form)."""

    bookings_per_email_per_day: int = 5
    """Self-service bookings one customer email may make per day."""

    find_booking_per_ip_per_hour: int = 10
    """"Find my booking" requests one IP may make per hour."""

    find_booking_per_email_per_hour: int = 3
    """"Find my booking" emails one address may receive per hour."""

    template_max_source_chars: int = Field(100_000, ge=1_000, le=10_000_000)
    """Longest subject, MJML body or text an admin may save, per part (characters)."""

    template_max_output_chars: int = Field(1_000_000, ge=10_000, le=100_000_000)
    """Largest rendered subject, HTML or text of one email, and any value made while rendering it."""

    template_max_render_seconds: float = Field(1.0, ge=0.05, le=60.0)
    """Longest one email's template may take to render (its steps are bounded too)."""

    dev_mail: bool | None = None
    """The ``/dev/mail`` viewer of the maildir transport: on with ``serve --demo`` unless set, else off.

    When the web bind is not a loopback address it answers only to a signed-in admin.
    """

    trusted_proxies: str = ""
    """Comma-separated IPs or CIDRs of reverse proxies whose ``X-Forwarded-For``/``-Proto`` count."""

    trusted_relays: str = "127.0.0.0/8, ::1"
    """IPs or CIDRs of MTAs in front (Postfix handing replies over by LMTP or SMTP): their
    connections are not counted per client, and their messages are rate-limited per envelope
    sender, since every customer arrives from the MTA's one address."""

    log_level: str = "INFO"
    """DEBUG, INFO, WARNING or ERROR."""

    log_format: str = "text"
    """``text`` or ``json`` (one JSON object per record)."""

    debug: bool = False
    """A failing command shows its traceback instead of one line."""

    @property
    def template_limits(self) -> TemplateLimits:
        """The three template limits above, as the renderer takes them."""
        return TemplateLimits(
            max_source_chars=self.template_max_source_chars,
            max_output_chars=self.template_max_output_chars,
            max_render_seconds=self.template_max_render_seconds,
        )

    @field_validator("web_bind", "smtp_bind")
    @classmethod
    def _bind(cls, value: str) -> str:
        parse_bind(value)
        return value

    @field_validator("lmtp_bind")
    @classmethod
    def _optional_bind(cls, value: str) -> str:
        if value:
            parse_bind(value)
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"expected an http(s) URL such as https://book.example.com, got {value!r}")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in DATABASE_SCHEMES:
            raise ValueError(f"expected sqlite:///PATH or postgresql+psycopg://…, got {value!r}")
        return value

    @field_validator("outbound_url")
    @classmethod
    def _outbound_url(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in OUTBOUND_SCHEMES:
            raise ValueError(
                f"expected one of {', '.join(s + '://' for s in OUTBOUND_SCHEMES)}, got {value!r}"
            )
        return value

    @field_validator("outbound_helo")
    @classmethod
    def _outbound_helo(cls, value: str) -> str:
        value = value.strip()
        if value and not _HELO_NAME.fullmatch(value):
            raise ValueError(f"expected a host name such as mail.example.com, got {value!r}")
        return value

    @property
    def helo_name(self) -> str:
        """The EHLO name: ``outbound_helo``, else the host of ``public_url`` (an IP address as an
        address literal, ``[192.0.2.1]``, as RFC 5321 asks)."""
        if self.outbound_helo:
            return self.outbound_helo
        host = urlsplit(self.public_url).hostname or "localhost"
        try:
            address = ip_address(host)
        except ValueError:
            return host
        return f"[IPv6:{address}]" if address.version == 6 else f"[{address}]"

    @field_validator("imap_url")
    @classmethod
    def _imap_url(cls, value: str) -> str:
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("imap", "imaps") or not parts.hostname:
                raise ValueError("expected imaps://user:pass@host:993/INBOX")
        return value

    @field_validator("inbound_domain")
    @classmethod
    def _inbound_domain(cls, value: str) -> str:
        value = value.strip().lower()
        if value and (" " in value or "@" in value or "." not in value):
            raise ValueError(f"expected a domain such as replies.example.com, got {value!r}")
        return value

    @field_validator(
        "token_failures_per_ip",
        "bookings_per_ip_per_hour",
        "bookings_per_email_per_day",
        "find_booking_per_ip_per_hour",
        "find_booking_per_email_per_hour",
        "smtp_messages_per_client_per_minute",
        "smtp_max_connections_per_client",
    )
    @classmethod
    def _limit(cls, value: int) -> int:
        if value < 1:
            raise ValueError("expected a whole number of at least 1")
        return value

    @field_validator("smtp_max_message_bytes")
    @classmethod
    def _message_size(cls, value: int) -> int:
        if value < 64 * 1024:
            raise ValueError("expected a number of bytes of at least 65536 (64 KiB)")
        return value

    @field_validator("trusted_proxies", "trusted_relays")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.strip().upper() not in LOG_LEVELS:
            raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}, got {value!r}")
        return value.strip().upper()

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        if value.strip().lower() not in ("text", "json"):
            raise ValueError(f"expected text or json, got {value!r}")
        return value.strip().lower()

    @field_validator("slot_grid_minutes")
    @classmethod
    def _grid(cls, value: int) -> int:
        if not 5 <= value <= 240:
            raise ValueError("expected a number of minutes between 5 and 240")
        return value

    @model_validator(mode="before")
    @classmethod
    def _derived_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data_dir = Path(str(data.get("data_dir") or "./mailflow-data"))
        if not data.get("database_url"):
            data["database_url"] = f"sqlite:///{data_dir / 'mailflow.db'}"
        if not data.get("outbound_url"):
            data["outbound_url"] = f"maildir://{data_dir.resolve() / 'outbox'}"
        return data

    @property
    def trusted_authserv(self) -> frozenset[str]:
        return frozenset(
            part.strip().lower() for part in self.trusted_authserv_ids.split(",") if part.strip()
        )

    @property
    def claim_lease(self) -> timedelta:
        return timedelta(seconds=self.claim_lease_seconds)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def proxies(self) -> tuple[IPv4Network | IPv6Network, ...]:
        """``trusted_proxies`` parsed: the networks whose forwarded headers count."""
        return parse_networks(self.trusted_proxies)

    @property
    def relay_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        """``trusted_relays`` parsed: the MTAs whose inbound limits go by envelope sender."""
        return parse_networks(self.trusted_relays)

    @property
    def web_on_loopback(self) -> bool:
        """Whether the web listener binds a loopback address only (nobody else can reach it)."""
        host, _port = parse_bind(self.web_bind)
        if host == "localhost":
            return True
        try:
            return ip_address(host).is_loopback
        except ValueError:
            return False


def config_files(environ: Mapping[str, str], *, defaults: bool = True) -> tuple[Path, ...]:
    """The config files to read, weakest first: the one ``MAILFLOW_CONFIG`` names (it must
    exist), else those of ``SYSTEM_CONFIG`` and ``LOCAL_CONFIG`` that exist (with ``defaults``).

    Raises ``ConfigError`` naming ``MAILFLOW_CONFIG`` for a file that is missing (when named)
    or cannot be read: silently running on the defaults would queue emails with wrong links.
    """
    named = environ.get(CONFIG_VARIABLE, "").strip()
    if named:
        path = Path(named)
        if not path.exists():
            raise ConfigError(CONFIG_VARIABLE, f"{path} does not exist")
        return (_readable(path),)
    if not defaults:
        return ()
    return tuple(_readable(path) for path in (SYSTEM_CONFIG, LOCAL_CONFIG) if path.exists())


def _readable(path: Path) -> Path:
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ConfigError(CONFIG_VARIABLE, f"cannot read {path}: {exc.strerror or exc}") from None
    return path


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read and validate the settings.

    ``environ`` replaces the process environment (tests pass their own); then only a file
    it names in ``MAILFLOW_CONFIG`` is read, not the default files (see ``config_files``).
    ``overrides`` win over both. Raises ``ConfigError`` naming the variable.
    """
    values: dict[str, Any] = {}
    source = os.environ if environ is None else environ
    files = config_files(source, defaults=environ is None)
    for name in Settings.model_fields:
        key = ENV_PREFIX + name.upper()
        if key in source:
            values[name] = source[key]
    values.update(overrides)
    try:
        return Settings(_env_file=files or None, **values)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise ConfigError(ENV_PREFIX + field.upper(), message) from None


def resolve_secret_key(settings: Settings) -> str:
    """Return the configured secret key, or the one generated once into the data dir."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_dir / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process generated it first: use theirs
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


IMAP_VARIABLE = "MAILFLOW_IMAP_URL"


@dataclass(frozen=True, slots=True)
class ImapAccount:
    """The mailbox the IMAP poller reads, from ``MAILFLOW_IMAP_URL``."""

    host: str
    port: int
    ssl: bool
    username: str
    password: str
    folder: str


def parse_imap_url(url: str) -> ImapAccount:
    """``imaps://user:pass@host:993/INBOX`` -> the account; ``ConfigError`` naming the variable."""
    parts = urlsplit(url)
    if parts.scheme not in ("imap", "imaps") or not parts.hostname:
        raise ConfigError(IMAP_VARIABLE, "expected imaps://user:pass@host:993/INBOX")
    if not parts.username or parts.password is None:
        raise ConfigError(IMAP_VARIABLE, "the URL needs a user name and a password")
    try:
        port = parts.port or (993 if parts.scheme == "imaps" else 143)
    except ValueError:
        raise ConfigError(IMAP_VARIABLE, f"bad port in {url!r}") from None
    return ImapAccount(
        host=parts.hostname,
        port=port,
        ssl=parts.scheme == "imaps",
        username=unquote(parts.username),
        password=unquote(parts.password),
        folder=unquote(parts.path.lstrip("/")) or "INBOX",
    )
