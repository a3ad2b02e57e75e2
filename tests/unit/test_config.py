"""Settings: defaults of DESIGN §10 and errors that name the variable."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

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
