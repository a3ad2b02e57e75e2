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
