"""A full disk under the maildir transport: reported and retried, never swallowed, nothing delivered twice.

The maildir lives on a real tmpfs of 96 KiB (mounted by the test; it needs
root or CAP_SYS_ADMIN), so the disk really fills: the writes fail with ENOSPC
from the kernel, not from a mock.
"""

from __future__ import annotations

import email
import email.policy
import errno
import subprocess
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from mailflow import services
from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.bootstrap import App
from mailflow.runtime import run_once
from mailflow.store.tables import OutboxMessage
from tests.conftest import berlin, demo_app_on, require_service


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        require_service(f"cannot mount a small tmpfs (needs root): {mounted.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.fixture
def app(
    sqlite_engine: object, sqlite_url: str, small_disk: Path, tmp_path: Path, now: datetime
) -> Iterator[App]:
    outbox = {"MAILFLOW_OUTBOUND_URL": f"maildir://{small_disk / 'outbox'}"}
    with demo_app_on(sqlite_url, tmp_path, now, outbox) as application:
        yield application


def delivered(maildir: Path) -> list[str]:
    ids = []
    for file in sorted((maildir / "new").iterdir()):
        message = email.message_from_bytes(file.read_bytes(), policy=email.policy.default)
        ids.append(str(message["Message-ID"]))
    return ids


def test_disk_full_is_retried_and_delivers_each_email_once(
    app: App, small_disk: Path, next_tuesday: date, now: datetime
) -> None:
    for hour in range(9, 16):
        services.create_booking(
            app.engine,
            business="contoso",
            service="consultation",
            staff="bob@contoso.example",
            customer=services.CustomerInput(email=f"c{hour}@example.org", name=f"Customer {hour}"),
            start=berlin(next_tuesday, hour),
            origin=Origin.SELF_SERVICE,
            actor=Actor(ActorKind.CUSTOMER_LINK, f"c{hour}@example.org"),
            now=now,
            public_url=app.settings.public_url,
            **app.booking_kwargs(),
        )
    with Session(app.engine) as session:
        queued = {row.message_id for row in session.exec(select(OutboxMessage))}
    assert len(queued) >= 14  # a confirmation and a staff email per booking: far more than 96 KiB

    first = run_once(app, now).dispatch
    maildir = small_disk / "outbox"
    written = delivered(maildir)
    assert first.sent == len(written) > 0 and first.retried == len(queued) - len(written) > 0
    assert first.failed == 0, "a full disk is temporary: nothing given up"
    assert not list((maildir / "tmp").iterdir()), "no half-written message left behind"
    with Session(app.engine) as session:
        waiting = session.exec(select(OutboxMessage).where(OutboxMessage.status == "queued")).all()
        assert len(waiting) == first.retried
        assert all(_code_of(row.last_error or "") == "ENOSPC" for row in waiting), waiting[0].last_error

    # Space comes back (the operator moves the delivered mail away); the retries go out, once each.
    moved: list[str] = []
    for round_ in range(1, 20):  # each round past any backoff; the disk fills again after a few
        moved += delivered(maildir)
        for file in list((maildir / "new").iterdir()):
            file.unlink()
        report = run_once(app, now + timedelta(hours=3 * round_)).dispatch
        assert report.failed == 0
        if report.retried == 0:
            break
    everything = moved + delivered(maildir)
    assert sorted(everything) == sorted(queued) and len(set(everything)) == len(everything)


def _code_of(error: str) -> str:
    """'maildir: [Errno 28] No space left on device' -> 'ENOSPC' via the number."""
    start = error.find("[Errno ")
    return errno.errorcode.get(int(error[start + 7 : error.index("]", start)]), "") if start >= 0 else ""
