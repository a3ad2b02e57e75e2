"""Logs: JSON lines with request and message ids when asked, never a token; a bad setting is a clear error."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mailflow.bootstrap import App, build
from mailflow.config import load_settings
from mailflow.demo import seed_demo
from mailflow.logs import JsonFormatter, configure
from mailflow.web.app import create_web_app


@pytest.fixture
def app(sqlite_engine: Any, sqlite_url: str, tmp_path: Path, now: datetime) -> Iterator[App]:
    application = build(
        load_settings(
            {
                "MAILFLOW_DATABASE_URL": sqlite_url,
                "MAILFLOW_DATA_DIR": str(tmp_path),
                "MAILFLOW_OUTBOUND_URL": "memory://logs",
            }
        )
    )
    seed_demo(application.engine, now)
    yield application
    application.close()


@pytest.fixture
def access_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("mailflow.access")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_requests_carry_an_id_into_the_access_log_and_no_token(app: App, access_lines: io.StringIO) -> None:
    client = TestClient(create_web_app(app.web))
    answer = client.get("/healthz")
    generated = answer.headers["x-request-id"]
    assert len(generated) == 16
    given = client.get("/healthz", headers={"X-Request-Id": "upstream-proxy-42"})
    assert given.headers["x-request-id"] == "upstream-proxy-42"
    odd = client.get("/healthz", headers={"X-Request-Id": "bad id\nwith newline"})
    assert odd.headers["x-request-id"] != "bad id\nwith newline"
    secret = "Zk3pQ9vT2mW8xR4sL7nB1cD6"
    client.get(f"/m/{secret}/cancel")
    client.get(f"/admin/reset/{secret}")
    client.get(f"/admin/welcome/{secret}")
    records = [json.loads(line) for line in access_lines.getvalue().splitlines()]
    assert [r["request_id"] for r in records[:2]] == [generated, "upstream-proxy-42"]
    assert all(r["logger"] == "mailflow.access" and r["level"] == "info" for r in records)
    assert secret not in access_lines.getvalue()
    assert [r["message"].split()[1] for r in records[3:]] == [
        "/m/…/cancel",
        "/admin/reset/…",
        "/admin/welcome/…",
    ]


def test_message_ids_and_exceptions_become_fields() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.getLogger("mailflow.inbound").makeRecord(
            "mailflow.inbound", logging.ERROR, __file__, 1, "inbound message %d failed", (7,), sys.exc_info()
        )
    record.__dict__["inbound_id"] = 7
    data = json.loads(JsonFormatter().format(record))
    assert data["message"] == "inbound message 7 failed" and data["inbound_id"] == 7
    assert data["level"] == "error" and "RuntimeError: boom" in data["exception"]
    assert "request_id" not in data


def test_json_format_writes_one_object_per_line(capfd: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure("info", "json")
        logging.getLogger("mailflow.dispatch").info("sent %s", "it", extra={"outbox_id": 3})
        logging.getLogger("mailflow.dispatch").debug("not at info")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    lines = capfd.readouterr().err.splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert data["message"] == "sent it" and data["outbox_id"] == 3 and data["logger"] == "mailflow.dispatch"


def test_a_bad_log_setting_is_a_one_line_error(run_cli: Any) -> None:
    bad = run_cli("bookings", "list", env={"MAILFLOW_LOG_FORMAT": "xml"})
    assert bad.returncode == 78 and bad.stderr.strip() == (
        "mailflow: error: MAILFLOW_LOG_FORMAT: expected text or json, got 'xml'"
    )
    loud = run_cli("bookings", "list", env={"MAILFLOW_LOG_LEVEL": "loud"})
    assert loud.returncode == 78 and "MAILFLOW_LOG_LEVEL" in loud.stderr and "Traceback" not in loud.stderr
    assert len(loud.stderr.strip().splitlines()) == 1
