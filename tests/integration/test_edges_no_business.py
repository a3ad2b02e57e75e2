"""Issue 16, item 10: the customer pages on a migrated database with no business yet, and settings
that used to be read around ``Settings`` or not validated at all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mailflow.bootstrap import App
from mailflow.config import load_settings
from mailflow.errors import ConfigError
from mailflow.web.app import create_web_app
from tests.integration.test_admin_setup_pages import empty_app

__all__ = ["empty_app"]  # the fixture used here


@pytest.fixture
def empty_site(empty_app: App) -> TestClient:
    """A browser on a migrated database where no business exists yet (SQLite and PostgreSQL)."""
    return TestClient(create_web_app(empty_app.web), follow_redirects=False)


@pytest.mark.parametrize(
    "path", ["/book", "/book/haircut", "/m", "/m/abc", "/m/abc/reschedule", "/m/abc/booking.ics"]
)
def test_customer_pages_without_a_business_say_so(empty_site: TestClient, path: str) -> None:
    """Before the set-up, the customer pages answer a page saying so (404/503), never a 500."""
    response = empty_site.get(path)
    assert response.status_code in (404, 503), (path, response.status_code, response.text[:300])
    assert "text/html" in response.headers["content-type"]


def test_posts_without_a_business_are_not_500(empty_site: TestClient) -> None:
    """A form posted before the set-up gets 403 (no CSRF token) or the same page, never a 500."""
    for path in ("/m/abc/cancel", "/book/haircut", "/m"):
        assert empty_site.post(path, data={"csrf": "x"}).status_code in (403, 404, 503), path


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MAILFLOW_FIND_BOOKING_PER_EMAIL_PER_HOUR", "0"),
        ("MAILFLOW_SMTP_MESSAGES_PER_CLIENT_PER_MINUTE", "0"),
        ("MAILFLOW_SMTP_MAX_CONNECTIONS_PER_CLIENT", "-1"),
        ("MAILFLOW_SMTP_MAX_MESSAGE_BYTES", "100"),
        ("MAILFLOW_LOG_LEVEL", "LOUD"),
        ("MAILFLOW_LOG_FORMAT", "xml"),
        ("MAILFLOW_TRUSTED_PROXIES", "10.0.0.0/33"),
    ],
)
def test_bad_limits_and_log_settings_name_their_variable(variable: str, value: str) -> None:
    """A limit of 0 (which would refuse everything) or a bad log setting stops start-up naming it."""
    with pytest.raises(ConfigError) as raised:
        load_settings({variable: value})
    assert raised.value.variable == variable and raised.value.exit_code == 78


@pytest.mark.parametrize(
    ("variable", "value"),
    [("MAILFLOW_FIND_BOOKING_PER_EMAIL_PER_HOUR", "0"), ("MAILFLOW_LOG_LEVEL", "LOUD")],
)
def test_the_cli_exits_78_naming_a_bad_setting(run_cli: object, variable: str, value: str) -> None:
    """``mailflow`` itself refuses the bad value with exit 78 and one line naming the variable."""
    result = run_cli("outbox", "list", env={variable: value})  # type: ignore[operator]
    assert result.returncode == 78, result.stderr
    assert variable in result.stderr and "Traceback" not in result.stderr


def test_dot_env_sets_log_format_and_debug(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``MAILFLOW_LOG_FORMAT``, ``_LOG_LEVEL`` and ``_DEBUG`` come from ``.env`` like every setting."""
    for name in ("MAILFLOW_LOG_FORMAT", "MAILFLOW_LOG_LEVEL", "MAILFLOW_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text("MAILFLOW_LOG_FORMAT=json\nMAILFLOW_LOG_LEVEL=warning\nMAILFLOW_DEBUG=1\n")
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert (settings.log_format, settings.log_level, settings.debug) == ("json", "WARNING", True)


def test_the_not_set_up_page_speaks_the_visitors_language(empty_site: TestClient) -> None:
    """The page's sentences come from the catalogs: German with ?lang=de, French from the browser."""
    assert "noch nicht eingerichtet" in empty_site.get("/book?lang=de").text
    french = empty_site.get("/m/abc", headers={"accept-language": "fr-FR,fr;q=0.9"})
    assert "pas encore configuré" in french.text and french.headers["retry-after"]


def test_the_cli_takes_its_log_format_from_dot_env(run_cli: Any, tmp_path: Path) -> None:
    """A ``.env`` in the working directory sets the CLI's log format and level (JSON lines on stderr)."""
    (tmp_path / ".env").write_text("MAILFLOW_LOG_FORMAT=json\nMAILFLOW_LOG_LEVEL=DEBUG\n")
    run_cli("db", "upgrade", check=True)
    result = run_cli("run-once", "--json", check=True)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and all(json.loads(line)["level"] for line in lines)
    assert json.loads(result.stdout)["sent"] >= 0
