"""Logging set-up: text lines for people, or one JSON object per line for a log pipeline.

``MAILFLOW_LOG_FORMAT=json`` gives each record as JSON with its time, level,
logger and message, the web request's id (``request_id``, also sent back as
``X-Request-Id``) and, where the code names one, the inbound or outbox message
it is about (``inbound_id``, ``outbox_id``). Nothing logs manage tokens (the
access log shows ``/m/…`` without them) or email bodies.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

FORMATS = ("text", "json")
CONTEXT_FIELDS = ("inbound_id", "outbox_id", "booking")
request_id: ContextVar[str | None] = ContextVar("mailflow_request_id", default=None)
_GIVEN_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


def new_request_id(given: str | None = None) -> str:
    """The id of a web request: the client's ``X-Request-Id`` when it looks sane, else a new one."""
    return given if given and _GIVEN_ID.fullmatch(given) else secrets.token_hex(8)


class RoutineSchedulerNotice(logging.Filter):
    """APScheduler's warnings that a tick was skipped (the job's previous run still goes on) or
    ran late, demoted to DEBUG: under load they are routine (the running round goes on, the next
    tick comes soon; DESIGN §8) and would otherwise fill the log several times a second.
    ``MAILFLOW_LOG_LEVEL=DEBUG`` shows them."""

    ROUTINE = ("maximum number of running instances reached", "was missed by")
    LOGGERS = ("apscheduler.scheduler", "apscheduler.executors.default")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and any(text in str(record.msg) for text in self.ROUTINE):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        current = request_id.get()
        if current:
            data["request_id"] = current
        for name in CONTEXT_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                data[name] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        current = request_id.get()
        return f"{line} [request {current}]" if current else line


def configure(level: str, form: str) -> None:
    """Send every log record to stderr at ``level`` in ``form`` (``text`` or ``json``)."""
    if form not in FORMATS:
        raise ValueError(f"MAILFLOW_LOG_FORMAT must be text or json, not {form!r}")
    if level.upper() not in logging.getLevelNamesMapping():
        raise ValueError(f"MAILFLOW_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {level!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if form == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    for name in RoutineSchedulerNotice.LOGGERS:
        scheduler_log = logging.getLogger(name)
        if not any(isinstance(known, RoutineSchedulerNotice) for known in scheduler_log.filters):
            scheduler_log.addFilter(RoutineSchedulerNotice())
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO
