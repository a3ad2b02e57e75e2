"""A live `mailflow serve --demo`, its maildir, and a real Chromium driven by Playwright.

The server runs once per session in a temporary data dir on a free port, with
its public URL pointing at itself, so the links in the emails it writes to the
maildir open in the browser. Each test gets a fresh browser context; the last
page of every test is saved as a full-page screenshot.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import free_port, html_as_read, require_service

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PROJECT_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 60.0
EMAIL_TIMEOUT = 20.0
UI_TIMEOUT_MS = 15_000

_screenshots_saved: list[Path] = []


def artifacts_dir() -> Path:
    """Where screenshots go: ``$MAILFLOW_ARTIFACTS``, else ``test-artifacts/screenshots``."""
    configured = os.environ.get("MAILFLOW_ARTIFACTS")
    return Path(configured).resolve() if configured else PROJECT_ROOT / "test-artifacts" / "screenshots"


# --- reading emails -------------------------------------------------------------------


def html_of(message: EmailMessage) -> str:
    """The HTML body of ``message`` ("" when it has none)."""
    part = message.get_body(preferencelist=("html",))
    return html_as_read(part) if part is not None else ""


def text_of(message: EmailMessage) -> str:
    """The plain-text body of ``message`` ("" when it has none)."""
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


class _LinkCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(value for name, value in attrs if name == "href" and value)


def links_in(html: str) -> list[str]:
    """Every ``<a href>`` of an HTML document, in order."""
    collector = _LinkCollector()
    collector.feed(html)
    collector.close()
    return collector.hrefs


def manage_links(message: EmailMessage) -> list[str]:
    """The links of ``message``'s HTML part that point at a manage page (``/m/…``, not its ``.ics``)."""
    paths = ((href, urlsplit(href).path) for href in links_in(html_of(message)))
    return [href for href, path in paths if path.startswith("/m/") and not path.endswith("/booking.ics")]


# --- the live server -----------------------------------------------------------------


@dataclass
class LiveServer:
    """A running ``mailflow serve --demo``: its URL, data dir, CLI environment and maildir."""

    base_url: str
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path
    _parsed: dict[str, EmailMessage] = field(default_factory=dict)

    @property
    def maildir(self) -> Path:
        return self.data_dir / "outbox"

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def cli(self, *args: str) -> Any:
        """Run ``mailflow ARGS --json`` beside the server and return the parsed JSON it prints."""
        result = subprocess.run(
            [sys.executable, "-m", "mailflow", *args, "--json"],
            env=self.env,
            cwd=self.data_dir.parent,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"mailflow {' '.join(args)} failed: {result.stderr}"
        return json.loads(result.stdout)

    def create_booking(
        self,
        *,
        service: str,
        staff: str,
        customer_email: str,
        customer_name: str,
        start: str,
        origin: str,
        locale: str = "en",
        timezone: str | None = None,
    ) -> dict[str, Any]:
        """Create a booking of the demo business through the CLI; returns its JSON (with ``manage_url``).
        ``timezone``: the customer's (default the business's)."""
        zone = ("--timezone", timezone) if timezone else ()
        booking: dict[str, Any] = self.cli(
            "bookings", "create", "--business", "contoso", "--service", service, "--staff", staff,
            "--customer-email", customer_email, "--customer-name", customer_name, "--locale", locale,
            "--start", start, "--origin", origin, *zone,
        )  # fmt: skip
        return booking

    def messages(self) -> list[EmailMessage]:
        """Every message delivered to the maildir so far (each file parsed once)."""
        for folder in ("new", "cur"):
            directory = self.maildir / folder
            if not directory.is_dir():
                continue
            for path in sorted(directory.iterdir()):
                if path.name not in self._parsed:
                    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                    assert isinstance(parsed, EmailMessage)
                    self._parsed[path.name] = parsed
        return list(self._parsed.values())

    def find_emails(
        self, *, kind: str, booking: str | None = None, to: str | None = None
    ) -> list[EmailMessage]:
        """Delivered messages of ``kind``, optionally about ``booking`` and addressed ``to``."""
        return [
            message
            for message in self.messages()
            if message["X-Mailflow-Kind"] == kind
            and (booking is None or message["X-Mailflow-Booking"] == booking)
            and (to is None or to.lower() in str(message["To"]).lower())
        ]

    def wait_for_email(
        self, *, kind: str, booking: str | None = None, to: str | None = None, timeout: float = EMAIL_TIMEOUT
    ) -> EmailMessage:
        """The first message matching the filters, polling the maildir until ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.find_emails(kind=kind, booking=booking, to=to)
            if found:
                return found[0]
            assert self.process.poll() is None, f"mailflow serve died:\n{self.log_tail()}"
            if time.monotonic() > deadline:
                seen = [
                    (m["X-Mailflow-Kind"], m["X-Mailflow-Booking"], str(m["To"])) for m in self.messages()
                ]
                raise AssertionError(
                    f"no {kind} email (booking={booking}, to={to}) within {timeout}s; delivered: {seen}"
                )
            time.sleep(0.1)


def _wait_healthy(server: LiveServer) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(
                f"mailflow serve exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        try:
            if httpx.get(f"{server.base_url}/healthz", timeout=2).json() == {"status": "ok"}:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"mailflow serve not healthy within {STARTUP_TIMEOUT}s:\n{server.log_tail()}")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``mailflow serve --demo --roles web,worker`` on a free port in a fresh data dir."""
    root = tmp_path_factory.mktemp("live")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("MAILFLOW_")}
    env.update(
        {
            "MAILFLOW_DATA_DIR": str(root / "data"),
            "MAILFLOW_WEB_BIND": f"127.0.0.1:{port}",
            "MAILFLOW_PUBLIC_URL": base_url,
        }
    )
    log_path = root / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mailflow", "serve", "--demo", "--roles", "web,worker"],
            env=env,
            cwd=root,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(base_url, root / "data", env, process, log_path)
    try:
        _wait_healthy(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the browser ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """The system Chromium, headless; per module, so it is gone before the rest of the suite runs."""
    if not CHROMIUM.exists():
        require_service(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=UI_TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class PageFactory(Protocol):
    """Opens a page in a fresh browser context with the given clock, language and screen."""

    def __call__(
        self, *, timezone_id: str = ..., locale: str = ..., width: int = ..., height: int = ...
    ) -> Page: ...


@pytest.fixture
def open_page(
    browser: Browser, live_server: LiveServer, request: pytest.FixtureRequest
) -> Iterator[PageFactory]:
    """``open_page(timezone_id=…, locale=…, width=…, height=…)``: a page in a fresh browser context
    as a customer elsewhere would have it (default Berlin time, English, a desktop screen); every
    page opened is screenshotted when the test ends."""
    opened: list[tuple[BrowserContext, Page]] = []

    def open_one(
        *, timezone_id: str = "Europe/Berlin", locale: str = "en-GB", width: int = 1100, height: int = 900
    ) -> Page:
        context = browser.new_context(
            base_url=live_server.base_url,
            locale=locale,
            timezone_id=timezone_id,
            viewport={"width": width, "height": height},
        )
        context.set_default_timeout(UI_TIMEOUT_MS)
        page = context.new_page()
        opened.append((context, page))
        return page

    try:
        yield open_one
    finally:
        folder = artifacts_dir()
        folder.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        for number, (context, page) in enumerate(opened):
            target = folder / (f"{name}.png" if number == 0 else f"{name}-{number}.png")
            try:
                page.screenshot(path=str(target), full_page=True)
                _screenshots_saved.append(target)
            finally:
                context.close()


@pytest.fixture
def page(open_page: PageFactory, request: pytest.FixtureRequest) -> Page:
    """A page in a fresh browser context (Berlin time, English), screenshotted when the test ends.

    ``@pytest.mark.parametrize("page", ["de-DE"], indirect=True)`` gives a browser in another
    language (its Accept-Language and ``navigator.language``).
    """
    return open_page(locale=getattr(request, "param", "en-GB"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Name the screenshot folder once, after the run."""
    if _screenshots_saved:
        terminalreporter.write_line(f"browser screenshots: {_screenshots_saved[0].parent}")
