"""`mailflow serve --demo` on a fresh data dir: the README's first command."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_demo_starts_from_nothing_and_answers_health(tmp_path: Path) -> None:
    """From an empty data dir: migrated, demo seeded, /healthz up, the demo's emails at /dev/mail."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILFLOW_")}
    env.update({"MAILFLOW_DATA_DIR": str(tmp_path / "data"), "MAILFLOW_WEB_BIND": f"127.0.0.1:{port}"})
    server = subprocess.Popen(
        [sys.executable, "-m", "mailflow", "serve", "--demo"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        body = None
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    body = json.loads(response.read())
            except OSError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                time.sleep(0.2)
        assert body == {"status": "ok"}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            assert json.loads(response.read()) == {"status": "ok"}
        listed = subprocess.run(
            [sys.executable, "-m", "mailflow", "bookings", "list", "--json"],
            env=env, cwd=tmp_path, capture_output=True, text=True, check=True,
        )  # fmt: skip
        origins = {booking["origin"] for booking in json.loads(listed.stdout)}
        assert origins == {"staff", "self_service"}

        # The worker delivers the sample bookings' emails into the maildir, shown at /dev/mail.
        index = ""
        while time.monotonic() < deadline and index.count("/dev/mail/") < 12:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/dev/mail", timeout=5) as response:
                index = response.read().decode()
            time.sleep(0.3)
        keys = re.findall(r"href='/dev/mail/([^']+)'>", index)
        assert len(keys) >= 12  # 4 bookings x (customer, staff member, admin)
        pages = []
        for key in keys:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/dev/mail/{key}", timeout=5) as response:
                pages.append(response.read().decode())
        confirmations = [page for page in pages if "/book" in page and "Contoso Salon" in page]
        with_button = [page for page in confirmations if "/m/" in page]
        assert with_button and len(with_button) < len(confirmations)
    finally:
        server.terminate()
        server.wait(timeout=20)


def _start(tmp_path: Path, port: int, *args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILFLOW_")}
    env.update(
        {
            "MAILFLOW_DATA_DIR": str(tmp_path / "data"),
            "MAILFLOW_WEB_BIND": f"127.0.0.1:{port}",
            "MAILFLOW_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "MAILFLOW_SMTP_BIND": f"127.0.0.1:{_free_port()}",
        }
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "mailflow", "serve", "--roles", "web", *args],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    return server, env


def test_serve_on_a_brand_new_database_creates_the_schema_and_prints_one_setup_link(tmp_path: Path) -> None:
    """No demo: the first run migrates an empty database and prints the one-time set-up link."""
    port = _free_port()
    server, env = _start(tmp_path, port)
    try:
        assert server.stdout is not None
        line = server.stdout.readline().strip()
        assert re.fullmatch(
            rf"set-up: http://127\.0\.0\.1:{port}/admin/setup\?token=[A-Za-z0-9_-]{{20,}}", line
        )
        listed = subprocess.run(
            [sys.executable, "-m", "mailflow", "bookings", "list", "--json"],
            env=env, cwd=tmp_path, capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert json.loads(listed.stdout) == []
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_serve_refuses_a_database_that_exists_but_is_behind(tmp_path: Path) -> None:
    """A database with tables but an older schema is not migrated silently: serve stops with exit 3."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILFLOW_")}
    env["MAILFLOW_DATA_DIR"] = str(tmp_path / "data")
    for command in (["db", "upgrade"], ["db", "downgrade", "0007"]):
        subprocess.run(
            [sys.executable, "-m", "mailflow", *command],
            env=env,
            cwd=tmp_path,
            check=True,
            capture_output=True,
        )
    server, _ = _start(tmp_path, port)
    try:
        assert server.wait(timeout=30) == 3
    finally:
        if server.poll() is None:
            server.terminate()
