"""Logs: JSON lines with request and message ids when asked, never a token; a bad setting is a clear error."""

from __future__ import annotations

import asyncio
import inspect
import io
import json
import logging
import sys
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from mailflow import services
from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.bootstrap import App
from mailflow.logs import JsonFormatter, configure, request_id
from mailflow.web.app import create_web_app
from tests.conftest import demo_app_on


@pytest.fixture
def app(sqlite_engine: Any, sqlite_url: str, tmp_path: Path, now: datetime) -> Iterator[App]:
    with demo_app_on(sqlite_url, tmp_path, now, {"MAILFLOW_OUTBOUND_URL": "memory://logs"}) as application:
        yield application


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


def test_skipped_scheduler_runs_are_debug_lines_not_warnings(capfd: pytest.CaptureFixture[str]) -> None:
    """APScheduler's "skipped: maximum number of running instances" and "was missed by" warnings
    are routine under load: hidden at INFO, shown as DEBUG lines at DEBUG; its other warnings stay."""
    from apscheduler.executors.base import run_coroutine_job
    from apscheduler.schedulers.base import BaseScheduler

    # The texts this filter knows are APScheduler's own (an upgrade that rewords them fails here).
    process_jobs = inspect.getsource(BaseScheduler._process_jobs)
    assert "skipped: maximum number of running " in process_jobs and "instances reached" in process_jobs
    assert "was missed by" in inspect.getsource(run_coroutine_job)
    scheduler, executor = (
        logging.getLogger("apscheduler.scheduler"),
        logging.getLogger("apscheduler.executors.default"),
    )
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        for chosen in ("info", "debug"):
            configure(chosen, "text")
            scheduler.warning(
                'Execution of job "%s" skipped: maximum number of running instances reached (%d)',
                "dispatch",
                1,
            )
            executor.warning('Run time of job "%s" was missed by %s', "inbound_watch", "0:00:01.5")
            scheduler.warning("Job %s: something else", "dispatch")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    lines = capfd.readouterr().err.splitlines()
    assert [line.split(" ", 3)[2] for line in lines] == ["WARNING", "DEBUG", "DEBUG", "WARNING"]
    assert "something else" in lines[0] and "skipped" in lines[1] and "missed" in lines[2]


def test_a_wake_up_from_a_request_does_not_lend_the_worker_its_request_id(app: App, now: datetime) -> None:
    """A web request that commits emails wakes the worker; the dispatch it triggers logs without
    the request's id (before, every job line after a wake-up carried the id of that request)."""
    from apscheduler.events import EVENT_JOB_EXECUTED

    from mailflow.scheduling.jobs import build_scheduler

    seen: list[tuple[str, str | None]] = []

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append((record.getMessage(), request_id.get()))

    jobs_log = logging.getLogger("mailflow.jobs")
    recorder, level = Recorder(), jobs_log.level
    jobs_log.addHandler(recorder)
    jobs_log.setLevel(logging.INFO)

    def in_a_request() -> None:  # what a sync route does in its worker thread
        request_id.set("request-of-someone-else")
        services.create_booking(
            app.engine, business="contoso", service="haircut", staff="bob@contoso.example",
            customer=services.CustomerInput(email="ada@example.com", name="Ada"),
            start=datetime.combine(now.date() + timedelta(days=8), time(9), ZoneInfo("Europe/Berlin")),
            origin=Origin.STAFF, actor=Actor(ActorKind.STAFF, "x"), now=now,
            public_url=app.settings.public_url, grid=app.grid, notifier=app.notifier,
        )  # fmt: skip
        app.worker.wake()

    async def run() -> None:
        stop = asyncio.Event()
        scheduler = build_scheduler(app.worker, stop)
        idle = asyncio.Event()  # the dispatch's first round (nothing to send yet) is over
        scheduler.add_listener(lambda event: event.job_id == "dispatch" and idle.set(), EVENT_JOB_EXECUTED)
        scheduler.start()
        try:
            await asyncio.wait_for(idle.wait(), timeout=10)
            await asyncio.to_thread(in_a_request)
            for _ in range(200):  # until the dispatch reports (at most 10 s)
                if any(message.startswith("dispatch:") for message, _ in seen):
                    break
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            scheduler.shutdown(wait=False)

    try:
        asyncio.run(run())
    finally:
        jobs_log.removeHandler(recorder)
        jobs_log.setLevel(level)
    sent = [(message, rid) for message, rid in seen if message.startswith("dispatch:")]
    assert sent and all(rid is None for _, rid in sent), seen
