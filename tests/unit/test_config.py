"""Settings: defaults of DESIGN §10 and errors that name the variable."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from mailflow import config as config_module
from mailflow.config import load_settings, resolve_secret_key
from mailflow.errors import ConfigError


def test_defaults_give_the_embedded_setup() -> None:
    """With no variables set, mailflow uses SQLite and a maildir in ./mailflow-data."""
    settings = load_settings({})
    assert settings.database_url == "sqlite:///mailflow-data/mailflow.db"
    assert settings.outbound_url.startswith("maildir:///") and settings.outbound_url.endswith(
        "mailflow-data/outbox"
    )
    assert settings.public_url == "http://127.0.0.1:8000"
    assert settings.web_bind == "127.0.0.1:8000"
    assert settings.smtp_bind == "127.0.0.1:8025"
    assert settings.lmtp_bind == ""
    assert settings.inbound_domain == "mailflow.localhost"
    assert settings.imap_url == ""


def test_data_dir_moves_the_derived_defaults() -> None:
    """The SQLite file and the maildir follow MAILFLOW_DATA_DIR."""
    settings = load_settings({"MAILFLOW_DATA_DIR": "/srv/mf"})
    assert settings.database_url == "sqlite:////srv/mf/mailflow.db"
    assert settings.outbound_url == "maildir:///srv/mf/outbox"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MAILFLOW_WEB_BIND", "localhost"),
        ("MAILFLOW_SMTP_BIND", "127.0.0.1:99999"),
        ("MAILFLOW_LMTP_BIND", "nope"),
        ("MAILFLOW_PUBLIC_URL", "ftp://example.com"),
        ("MAILFLOW_DATABASE_URL", "mysql://x"),
        ("MAILFLOW_OUTBOUND_URL", "sendmail://x"),
        ("MAILFLOW_IMAP_URL", "pop3://host"),
        ("MAILFLOW_INBOUND_DOMAIN", "not a domain"),
        ("MAILFLOW_SLOT_GRID_MINUTES", "zero"),
        ("MAILFLOW_CLAIM_LEASE_SECONDS", "0"),
    ],
)
def test_bad_value_names_its_variable(variable: str, value: str) -> None:
    """A malformed value stops start-up with the variable's name in the message."""
    with pytest.raises(ConfigError) as caught:
        load_settings({variable: value})
    assert caught.value.variable == variable
    assert str(caught.value).startswith(variable + ": ")


def test_claim_lease_defaults_to_five_minutes_and_can_be_shortened() -> None:
    """MAILFLOW_CLAIM_LEASE_SECONDS sets how long a dead worker's claims hold (default 300 s)."""
    assert load_settings({}).claim_lease == timedelta(minutes=5)
    assert load_settings({"MAILFLOW_CLAIM_LEASE_SECONDS": "7"}).claim_lease == timedelta(seconds=7)


def test_empty_inbound_domain_turns_replies_off() -> None:
    """An empty domain is allowed: reply-by-email is then off."""
    assert load_settings({"MAILFLOW_INBOUND_DOMAIN": ""}).inbound_domain == ""


def test_secret_key_is_generated_once_into_the_data_dir(tmp_path: Path) -> None:
    """The first call writes a private key file; later calls read the same key."""
    settings = load_settings({"MAILFLOW_DATA_DIR": str(tmp_path)})
    first = resolve_secret_key(settings)
    assert len(first) >= 48
    assert resolve_secret_key(settings) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_configured_secret_key_wins(tmp_path: Path) -> None:
    """MAILFLOW_SECRET_KEY is used as given and nothing is written."""
    settings = load_settings({"MAILFLOW_DATA_DIR": str(tmp_path), "MAILFLOW_SECRET_KEY": "s3cret-from-env"})
    assert resolve_secret_key(settings) == "s3cret-from-env"
    assert not (tmp_path / "secret_key").exists()


def test_the_named_config_file_is_read_and_the_environment_wins_over_it(tmp_path: Path) -> None:
    """MAILFLOW_CONFIG names a file of MAILFLOW_* lines; a variable set in the environment wins."""
    config = tmp_path / "mailflow.env"
    config.write_text(
        "# the server's settings\nMAILFLOW_PUBLIC_URL=https://book.example.com\n"
        "MAILFLOW_INBOUND_DOMAIN='replies.example.com'\nMAILFLOW_UNKNOWN=ignored\n",
        encoding="utf-8",
    )
    settings = load_settings({"MAILFLOW_CONFIG": str(config)})
    assert settings.public_url == "https://book.example.com"
    assert settings.inbound_domain == "replies.example.com"
    both = load_settings({"MAILFLOW_CONFIG": str(config), "MAILFLOW_PUBLIC_URL": "https://env.example.com"})
    assert both.public_url == "https://env.example.com" and both.inbound_domain == "replies.example.com"


def test_a_bad_value_in_the_config_file_names_its_variable(tmp_path: Path) -> None:
    """A file's bad value stops start-up like an environment variable's, naming it."""
    config = tmp_path / "mailflow.env"
    config.write_text("MAILFLOW_WEB_BIND=localhost\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_settings({"MAILFLOW_CONFIG": str(config)})
    assert raised.value.variable == "MAILFLOW_WEB_BIND"


def test_a_named_config_file_that_is_missing_or_unreadable_is_an_error(tmp_path: Path) -> None:
    """No silent fallback to the defaults (emails with 127.0.0.1 links): MAILFLOW_CONFIG is named."""
    with pytest.raises(ConfigError) as missing:
        load_settings({"MAILFLOW_CONFIG": str(tmp_path / "nope.env")})
    assert missing.value.variable == "MAILFLOW_CONFIG" and "does not exist" in missing.value.message
    with pytest.raises(ConfigError) as directory:
        load_settings({"MAILFLOW_CONFIG": str(tmp_path)})
    assert directory.value.variable == "MAILFLOW_CONFIG" and "cannot read" in directory.value.message


def test_without_mailflow_config_dot_env_is_read_over_the_system_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """./.env and /etc/mailflow/mailflow.env are both read when they exist, .env winning per key."""
    system = tmp_path / "etc" / "mailflow.env"
    system.parent.mkdir()
    system.write_text(
        "MAILFLOW_PUBLIC_URL=https://system.example.com\nMAILFLOW_INBOUND_DOMAIN=replies.example.com\n"
    )
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setattr(config_module, "SYSTEM_CONFIG", system)
    monkeypatch.chdir(work)
    for name in list(os.environ):
        if name.startswith("MAILFLOW_"):
            monkeypatch.delenv(name)
    assert load_settings().public_url == "https://system.example.com"
    (work / ".env").write_text("MAILFLOW_PUBLIC_URL=https://local.example.com\n")
    settings = load_settings()
    assert settings.public_url == "https://local.example.com"
    assert settings.inbound_domain == "replies.example.com"
    monkeypatch.setenv("MAILFLOW_CONFIG", str(system))  # a named file is read alone
    assert load_settings().public_url == "https://system.example.com"


def test_an_explicit_environment_reads_no_default_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests (and callers) that pass their own environment get no ./.env from the working directory."""
    (tmp_path / ".env").write_text("MAILFLOW_PUBLIC_URL=https://local.example.com\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings({}).public_url == "http://127.0.0.1:8000"


def test_helo_name_is_the_public_host_an_address_literal_or_the_setting() -> None:
    """Issue 21, item 8: the EHLO name relays see; a bad MAILFLOW_OUTBOUND_HELO names the variable."""
    assert load_settings({"MAILFLOW_PUBLIC_URL": "https://book.contoso.example/x"}).helo_name == (
        "book.contoso.example"
    )
    assert load_settings({}).helo_name == "[127.0.0.1]"
    assert load_settings({"MAILFLOW_PUBLIC_URL": "http://[::1]:8000"}).helo_name == "[IPv6:::1]"
    named = load_settings({"MAILFLOW_OUTBOUND_HELO": "mx1.contoso.example"})
    assert named.helo_name == "mx1.contoso.example"
    with pytest.raises(ConfigError, match="MAILFLOW_OUTBOUND_HELO"):
        load_settings({"MAILFLOW_OUTBOUND_HELO": "bad name\r\nMAIL FROM"})


def test_trusted_relays_default_to_loopback_and_name_their_variable() -> None:
    """Issue 21, item 10: MTAs in front whose inbound limits go by envelope sender."""
    from ipaddress import ip_address

    relays = load_settings({}).relay_networks
    assert any(ip_address("127.0.0.1") in net for net in relays)
    assert any(ip_address("::1") in net for net in relays)
    assert load_settings({"MAILFLOW_TRUSTED_RELAYS": ""}).relay_networks == ()
    with pytest.raises(ConfigError, match="MAILFLOW_TRUSTED_RELAYS"):
        load_settings({"MAILFLOW_TRUSTED_RELAYS": "10.0.0.0/33"})
