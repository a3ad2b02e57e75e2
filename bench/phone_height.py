"""How the reschedule page fits a phone: its height and where its button is, at 375x812.

Run with ``python bench/phone_height.py`` (needs ``/usr/bin/chromium``). Starts
``mailflow serve --demo --roles web`` in a temporary data dir, books a consultation
with the CLI and opens its reschedule page in Chromium with a 375x812 viewport
(the page as it loads: the first free day chosen, "any staff member"). Prints the
page's full height, the button's top and whether the button is on screen.
Issue 17 (item 6) measured 2,861 px before the compact month and the sticky
button (button at 1,819 px, two screens down); after: 1,849 px, button on screen.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from datetime import time as wall
from zoneinfo import ZoneInfo

import httpx
from playwright.sync_api import sync_playwright

WIDTH, HEIGHT = 375, 812


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def main() -> None:
    root = tempfile.mkdtemp(prefix="mailflow-phone-")
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("MAILFLOW_")}
    env.update(
        MAILFLOW_DATA_DIR=f"{root}/data",
        MAILFLOW_WEB_BIND=f"127.0.0.1:{port}",
        MAILFLOW_PUBLIC_URL=f"http://127.0.0.1:{port}",
    )
    command = [sys.executable, "-m", "mailflow"]
    server = subprocess.Popen(
        [*command, "serve", "--demo", "--roles", "web"],
        env=env,
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        day = datetime.now(UTC).date() + timedelta(days=9)
        while day.weekday() != 1:  # a Tuesday
            day += timedelta(days=1)
        start = datetime.combine(day, wall(10), ZoneInfo("Europe/Berlin"))
        created = subprocess.run(
            [*command, "bookings", "create", "--business", "contoso", "--service", "consultation",
             "--staff", "bob@contoso.example", "--customer-email", "phone@example.com",
             "--customer-name", "Phone", "--start", start.isoformat(), "--origin", "self_service",
             "--json"],
            env=env, cwd=root, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        url = json.loads(created)["manage_url"] + "/reschedule"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, locale="en-GB")
            page = context.new_page()
            page.goto(url)
            height = page.evaluate("document.documentElement.scrollHeight")
            button = page.get_by_role("button", name="Move my booking here").bounding_box()
            assert button is not None
            on_screen = button["y"] >= 0 and button["y"] + button["height"] <= HEIGHT
            print(
                json.dumps({"page_height": height, "button_top": button["y"], "button_on_screen": on_screen})
            )
            browser.close()
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
