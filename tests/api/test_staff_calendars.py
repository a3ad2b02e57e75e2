"""Busy times in (issue 19): a staff member's own calendars block customer slots, warn staff.

Real parts: Radicale (from PyPI) is started as a CalDAV server on a free port and filled
with the ``caldav`` client; an iCalendar URL is served by a small HTTP server the test
starts, which can also answer 500 or hang. Slots are read from the API and from the
self-service page.
"""

from __future__ import annotations

import html
import json
import re
import socket
import subprocess
import sys
import threading
import time as time_module
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from caldav.davclient import DAVClient
from sqlmodel import Session, select

from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.errors import SlotUnavailable
from mailflow.services import CustomerInput, create_booking
from mailflow.services.accounts import create_user
from mailflow.services.sessions import sign_in
from mailflow.services.staff_calendars import add_calendar, sync_calendar, sync_due_calendars
from mailflow.store.tables import ExternalCalendar, Service
from mailflow.web.admin import ADMIN_COOKIE
from tests.api.conftest import BOB, CARLA, Api
from tests.conftest import BERLIN, berlin, free_port

STAFF = Actor(ActorKind.STAFF, "test")
SLOT_LINK = r'class="slot" href="([^"]+)"'
PASSWORD = "a long passphrase"


# --- real servers --------------------------------------------------------------------


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Radicale CalDAV server on 127.0.0.1 with one user, bob:secret (htpasswd, plain)."""
    folder = tmp_path_factory.mktemp("radicale")
    users = folder / "users"
    users.write_text("bob:secret\n")
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "radicale",
            "--config",
            "",
            "--storage-filesystem-folder",
            str(folder / "collections"),
            "--server-hosts",
            f"127.0.0.1:{port}",
            "--auth-type",
            "htpasswd",
            "--auth-htpasswd-filename",
            str(users),
            "--auth-htpasswd-encryption",
            "plain",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time_module.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time_module.monotonic() > deadline:
                    pytest.fail("Radicale did not start")
                time_module.sleep(0.1)
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(timeout=10)


VTIMEZONE = """BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:STANDARD
DTSTART:19701025T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700329T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
END:VTIMEZONE"""


def event(uid: str, lines: str) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//test//EN\r\n"
        f"{VTIMEZONE}\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261201T000000Z\r\nSUMMARY:private\r\n"
        f"{lines}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).replace("\r\n", "\n")


def local(day: date, hour: int) -> str:
    return f"{day:%Y%m%d}T{hour:02d}0000"


def caldav_calendar(url: str, day: date) -> str:
    """A new calendar of bob's holding a weekly event (Tuesdays 10-11), an all-day event on
    Wednesday and a transparent event on Tuesday 14-15; returns its URL."""
    with DAVClient(url=url, username="bob", password="secret") as client:
        calendar = client.principal().make_calendar(name="private", cal_id=uuid.uuid4().hex)
        calendar.save_event(
            event(
                "weekly@example.org",
                f"DTSTART;TZID=Europe/Berlin:{local(day, 10)}\nDTEND;TZID=Europe/Berlin:{local(day, 11)}\n"
                "RRULE:FREQ=WEEKLY",
            )
        )
        wednesday = day + timedelta(days=1)
        calendar.save_event(
            event(
                "allday@example.org",
                f"DTSTART;VALUE=DATE:{wednesday:%Y%m%d}\n"
                f"DTEND;VALUE=DATE:{wednesday + timedelta(days=1):%Y%m%d}",
            )
        )
        calendar.save_event(
            event(
                "free@example.org",
                f"DTSTART;TZID=Europe/Berlin:{local(day, 14)}\nDTEND;TZID=Europe/Berlin:{local(day, 15)}\n"
                "TRANSP:TRANSPARENT",
            )
        )
        return str(calendar.url)


class IcsServer:
    """An HTTP server serving one iCalendar file; ``mode`` makes it answer 500 or hang."""

    def __init__(self, body: str) -> None:
        self.body = body.encode()
        self.mode = "ok"
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                if outer.mode == "hang":
                    time_module.sleep(3)
                if outer.mode == "500":
                    self.send_response(500)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/calendar")
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/private/s3cr3t-key/basic.ics"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def weekly_ics(api: Api) -> Iterator[IcsServer]:
    """An iCalendar URL with a weekly event, Tuesdays 10:00-11:00 Berlin, from ``api.day`` on."""
    day = api.day
    server = IcsServer(
        event(
            "weekly-ics@example.org",
            f"DTSTART;TZID=Europe/Berlin:{local(day, 10)}\nDTEND;TZID=Europe/Berlin:{local(day, 11)}\n"
            "RRULE:FREQ=WEEKLY",
        )
    )
    yield server
    server.close()


# --- helpers ---------------------------------------------------------------------------


def api_starts(api: Api, day: date, staff: str = BOB) -> set[datetime]:
    """The free starts the API offers for a haircut with ``staff`` on ``day``."""
    response = api.get(f"/slots?service=haircut&staff={staff}&date={day.isoformat()}")
    assert response.status_code == 200, response.text
    return {datetime.fromisoformat(slot["start"]) for slot in response.json()}


def page_starts(api: Api, day: date, staff: str = BOB) -> set[datetime]:
    """The free starts the self-service page offers for a haircut with ``staff`` on ``day`` (a day
    without any shows another day's times: those are left out)."""
    page = api.client.get(f"/book/haircut?day={day.isoformat()}&staff={staff}&lang=en")
    assert page.status_code == 200, page.text
    slots = [
        parse_qs(urlsplit(html.unescape(link)).query)["slot"][0] for link in re.findall(SLOT_LINK, page.text)
    ]
    starts = {datetime.fromisoformat(slot.split("|")[0]) for slot in slots}
    return {start for start in starts if start.astimezone(BERLIN).date() == day}


def manage_starts(api: Api, day: date, staff: str = BOB) -> set[datetime]:
    """The free starts a customer's manage page offers to move a haircut booked with ``staff``
    (on another day) to ``day``."""
    made = api.book(9, staff=staff, origin="self_service")  # api.day 09:00, before the busy time
    path = urlsplit(made["manage_url"]).path
    page = api.client.get(f"{path}/reschedule?day={day.isoformat()}&staff={staff}&lang=en")
    assert page.status_code == 200, page.text
    values = [html.unescape(v) for v in re.findall(r'name="slot" value="([^"]+)"', page.text)]
    starts = {datetime.fromisoformat(v.split("|")[0]) for v in values if v.split("|")[1] == staff}
    return {start for start in starts if start.astimezone(BERLIN).date() == day}


def overlapping(api: Api, starts: set[datetime], busy_from: datetime, busy_to: datetime) -> set[datetime]:
    """The starts whose haircut (buffers included) overlaps ``[busy_from, busy_to)``."""
    with Session(api.app.engine) as session:
        haircut = session.exec(select(Service).where(Service.slug == "haircut")).one()
    length = timedelta(minutes=haircut.duration_minutes + haircut.buffer_after_minutes)
    before = timedelta(minutes=haircut.buffer_before_minutes)
    return {start for start in starts if start - before < busy_to and busy_from < start + length}


def calendar_row(api: Api, calendar_id: int) -> ExternalCalendar:
    with Session(api.app.engine) as session:
        return session.exec(select(ExternalCalendar).where(ExternalCalendar.id == calendar_id)).one()


def admin_client(api: Api) -> Any:
    """The test client signed in as a new admin of the demo business."""
    create_user(
        api.app.engine, "contoso", "boss@contoso.example", role="admin", name="Boss",
        password=PASSWORD, reset=True, actor=STAFF, now=api.now,
    )  # fmt: skip
    token = sign_in(api.app.engine, "boss@contoso.example", PASSWORD, now=api.now)
    assert token is not None
    api.client.cookies.set(ADMIN_COOKIE, token)
    return api.client


# --- tests -----------------------------------------------------------------------------


def test_caldav_busy_times_remove_exactly_those_slots(api: Api, radicale: str) -> None:
    """After a sync, the API and the self-service page lose exactly the times of the weekly and
    the all-day event (and those of nobody else); a transparent event blocks nothing."""
    tuesday, wednesday, next_tuesday = api.day, api.day + timedelta(days=1), api.day + timedelta(days=7)
    url = caldav_calendar(radicale, tuesday)
    days = (tuesday, wednesday, next_tuesday)
    before = {day: api_starts(api, day) for day in days}
    carla_before = api_starts(api, tuesday, CARLA)
    assert all(before.values()), "bob has free times on each day before the sync"

    sync = api.app.use_cases.calendars
    added = add_calendar(
        api.app.engine, "contoso", BOB, url, username="bob", password="secret",
        sync=sync, actor=STAFF, now=api.now,
    )  # fmt: skip
    synced = sync_calendar(api.app.engine, added.id, sync=sync, now=api.now)
    assert synced is not None and synced.last_error is None and synced.busy_count > 0
    assert "secret" not in (calendar_row(api, added.id).password_secret or "secret")

    for day in (tuesday, next_tuesday):
        lost = before[day] - api_starts(api, day)
        expected = overlapping(api, before[day], berlin(day, 10), berlin(day, 11))
        assert expected and lost == expected
        assert berlin(day, 14) in api_starts(api, day) or berlin(day, 14) not in before[day]
    assert berlin(tuesday, 14) in before[tuesday] and berlin(tuesday, 14) in api_starts(api, tuesday)
    assert api_starts(api, wednesday) == set()
    assert api_starts(api, tuesday, CARLA) == carla_before
    assert page_starts(api, tuesday) == api_starts(api, tuesday)
    assert page_starts(api, wednesday) == set()
    free = api_starts(api, tuesday)
    assert manage_starts(api, tuesday) == free  # its own booking (made there) is free to move to


def test_a_broken_or_hanging_calendar_keeps_the_last_busy_times_and_shows_the_error(
    api: Api, weekly_ics: IcsServer
) -> None:
    """A calendar that answers 500, then one that hangs past the timeout, leaves the last known busy
    times in force; the staff page shows the last successful sync and the error."""
    day = api.day
    free_before = api_starts(api, day)
    sync = replace(api.app.use_cases.calendars, timeout_seconds=0.5)
    added = add_calendar(api.app.engine, "contoso", BOB, weekly_ics.url, sync=sync, actor=STAFF, now=api.now)
    assert added.kind == "ics" and "s3cr3t" not in added.display_url
    first = sync_calendar(api.app.engine, added.id, sync=sync, now=api.now)
    assert first is not None and first.busy_count > 0 and first.last_error is None
    blocked = api_starts(api, day)
    assert berlin(day, 10) in free_before and berlin(day, 10) not in blocked

    weekly_ics.mode = "500"
    later = api.now + timedelta(minutes=10)
    failed = sync_calendar(api.app.engine, added.id, sync=sync, now=later)
    assert failed is not None and "HTTP 500" in (failed.last_error or "")
    assert failed.last_success_at == first.last_success_at and failed.busy_count == first.busy_count
    assert api_starts(api, day) == blocked

    weekly_ics.mode = "hang"
    started = time_module.monotonic()
    hung = sync_calendar(api.app.engine, added.id, sync=sync, now=later + timedelta(minutes=10))
    assert time_module.monotonic() - started < 2.5, "the fetch waited past its timeout"
    assert hung is not None and "no answer" in (hung.last_error or "")
    assert api_starts(api, day) == blocked

    page = admin_client(api).get(f"/admin/staff/{BOB}?lang=en")
    assert page.status_code == 200
    assert html.escape(hung.last_error or "", quote=False) in page.text
    assert "Last successful sync" in page.text and "busy times: " in page.text
    assert "s3cr3t-key" not in page.text


def test_staff_booking_over_busy_time_succeeds_with_a_warning_customers_are_refused(
    api: Api, weekly_ics: IcsServer, run_cli: Any, db_url: str
) -> None:
    """Staff (API, CLI) book a busy time and get the external_busy warning; a customer cannot book it."""
    sync = api.app.use_cases.calendars
    added = add_calendar(api.app.engine, "contoso", BOB, weekly_ics.url, sync=sync, actor=STAFF, now=api.now)
    sync_calendar(api.app.engine, added.id, sync=sync, now=api.now)

    with pytest.raises(SlotUnavailable) as refused:
        create_booking(
            api.app.engine, business="contoso", service="haircut", staff=BOB,
            customer=CustomerInput(email="eve@example.com", name="Eve"), start=berlin(api.day, 10),
            origin=Origin.SELF_SERVICE, actor=Actor(ActorKind.CUSTOMER_SELF_SERVICE, "eve@example.com"),
            now=api.now, public_url="http://testserver", **api.app.booking_kwargs(),
        )  # fmt: skip
    assert refused.value.problem == "external_busy"

    response = api.post("/bookings", api.booking_body(10))
    assert response.status_code == 201, response.text
    [warning] = response.json()["warnings"]
    assert warning["code"] == "external_busy" and BOB in warning["message"]
    clear = api.post("/bookings", api.booking_body(13))
    assert clear.status_code == 201 and clear.json()["warnings"] == []

    start = berlin(api.day + timedelta(days=7), 10).isoformat()
    env = {"MAILFLOW_DATABASE_URL": db_url, "MAILFLOW_OUTBOUND_URL": "memory://"}
    args = ["bookings", "create", "--business", "contoso", "--service", "haircut", "--staff", BOB]
    args += ["--customer-email", "ada@example.com", "--customer-name", "Ada", "--start", start]
    made = run_cli(*args, "--json", env=env, check=True)
    assert json.loads(made.stdout)["warnings"][0]["code"] == "external_busy"
    assert "warning:" in made.stderr and "own calendar" in made.stderr
    later = berlin(api.day + timedelta(days=14), 10).isoformat()
    human = run_cli(*args[:-1], later, env=env, check=True)
    assert "warning:" in human.stdout


def test_cli_adds_lists_and_syncs_a_caldav_calendar(
    api: Api, radicale: str, run_cli: Any, db_url: str
) -> None:
    """``staff calendars add --password-stdin`` stores the password encrypted and syncs at once;
    ``list`` and ``sync`` show the last sync; the API's slots then lose the busy time."""
    url = caldav_calendar(radicale, api.day)
    env = {"MAILFLOW_DATABASE_URL": db_url, "MAILFLOW_OUTBOUND_URL": "memory://"}
    added = run_cli(
        "staff", "calendars", "add", BOB, url, "--username", "bob", "--password-stdin", "--json",
        env=env, input="secret\n", check=True,
    )  # fmt: skip
    data = json.loads(added.stdout)
    assert data["kind"] == "caldav" and data["last_error"] is None and data["busy_times"] > 0
    assert "secret" not in added.stdout
    listed = json.loads(run_cli("staff", "calendars", "list", BOB, "--json", env=env, check=True).stdout)
    assert [entry["id"] for entry in listed] == [data["id"]]
    synced = json.loads(run_cli("staff", "calendars", "sync", "--json", env=env, check=True).stdout)
    assert synced[0]["last_success"] is not None and synced[0]["last_error"] is None
    assert berlin(api.day, 10) not in api_starts(api, api.day)
    wrong = run_cli("staff", "calendars", "add", BOB, "ftp://example.org/x.ics", env=env)
    assert wrong.returncode != 0 and "https://" in wrong.stderr


def test_the_worker_syncs_due_calendars_once_per_interval(api: Api, weekly_ics: IcsServer) -> None:
    """A saved calendar is due at once; after its sync it is due again only after the interval."""
    sync = api.app.use_cases.calendars
    add_calendar(api.app.engine, "contoso", BOB, weekly_ics.url, sync=sync, actor=STAFF, now=api.now)
    assert sync_due_calendars(api.app.engine, sync=sync, now=api.now) == 1
    assert sync_due_calendars(api.app.engine, sync=sync, now=api.now + timedelta(minutes=1)) == 0
    assert sync_due_calendars(api.app.engine, sync=sync, now=api.now + sync.every) == 1
    assert weekly_ics.requests == 2


def test_admin_adds_a_calendar_and_it_is_synced_at_once(api: Api, weekly_ics: IcsServer) -> None:
    """The staff page's form adds a calendar, synced right after the answer; a bad address is refused."""
    client = admin_client(api)
    page = client.get(f"/admin/staff/{BOB}?lang=en")
    csrf = re.search(
        r'/calendars" class="admin-form">\s*<input type="hidden" name="csrf" value="([^"]+)"', page.text
    )
    assert csrf is not None
    bad = client.post(f"/admin/staff/{BOB}/calendars", data={"csrf": csrf.group(1), "url": "not a url"})
    assert bad.status_code == 400 and "https://" in html.unescape(bad.text)
    saved = client.post(f"/admin/staff/{BOB}/calendars", data={"csrf": csrf.group(1), "url": weekly_ics.url})
    assert saved.status_code == 303
    assert weekly_ics.requests == 1
    assert berlin(api.day, 10) not in api_starts(api, api.day)
    shown = client.get(f"/admin/staff/{BOB}?lang=en")
    assert "busy times: " in shown.text and "not yet" not in shown.text
