"""Outbound transports chosen by URL, and retry timing."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from mailflow.config import load_settings
from mailflow.errors import ConfigError
from mailflow.outbound.outbox import MAX_RETRY, retry_delay
from mailflow.outbound.transports import MaildirTransport, MemoryTransport, SmtpTransport, transport_from_url


def test_smtp_url_gives_host_port_auth_and_starttls() -> None:
    """User, URL-encoded password, port and the starttls flag are read from the URL."""
    transport = transport_from_url("smtp://mailer:p%40ss@relay.example.com:2525?starttls=true&timeout=7")
    assert isinstance(transport, SmtpTransport)
    assert (transport.hostname, transport.port, transport.username, transport.password) == (
        "relay.example.com", 2525, "mailer", "p@ss",
    )  # fmt: skip
    assert transport.start_tls is True and transport.use_tls is False and transport.timeout == 7


def test_smtps_defaults_to_implicit_tls_on_465() -> None:
    """smtps:// means TLS from the first byte, on port 465 unless given."""
    transport = transport_from_url("smtps://relay.example.com")
    assert isinstance(transport, SmtpTransport)
    assert (transport.port, transport.use_tls) == (465, True)


def test_maildir_and_memory_urls(tmp_path: Path) -> None:
    """maildir:// takes an absolute path; memory:// names a shared in-process box."""
    maildir = transport_from_url(f"maildir://{tmp_path}/box")
    assert isinstance(maildir, MaildirTransport) and maildir.path == tmp_path / "box"
    assert transport_from_url("memory://a") is transport_from_url("memory://a")
    assert isinstance(transport_from_url("memory://"), MemoryTransport)


@pytest.mark.parametrize(
    "url",
    ["smtp://", "smtp://relay.example.com?starttls=maybe", "smtp://relay.example.com:99999", "maildir://",
     "smtp://h?timeout=soon"],
)  # fmt: skip
def test_bad_outbound_url_names_the_variable(url: str) -> None:
    """A malformed URL stops start-up with MAILFLOW_OUTBOUND_URL in the message."""
    with pytest.raises(ConfigError) as caught:
        transport_from_url(url)
    assert caught.value.variable == "MAILFLOW_OUTBOUND_URL"


def test_unknown_scheme_is_refused_by_the_settings() -> None:
    """The settings refuse a scheme no transport handles, naming the variable."""
    with pytest.raises(ConfigError, match="MAILFLOW_OUTBOUND_URL"):
        load_settings({"MAILFLOW_OUTBOUND_URL": "pigeon://coop"})


def test_retry_delay_grows_with_jitter_and_is_capped() -> None:
    """Each attempt waits longer, never exactly the same, never more than the cap."""
    rng = random.Random(7)
    first = [retry_delay(1, rng).total_seconds() for _ in range(50)]
    fifth = [retry_delay(5, rng).total_seconds() for _ in range(50)]
    assert min(first) >= 15 and max(first) <= 30 and len(set(first)) > 40
    assert min(fifth) >= 240 and max(fifth) <= 480
    assert max(retry_delay(30, rng) for _ in range(50)) <= MAX_RETRY
