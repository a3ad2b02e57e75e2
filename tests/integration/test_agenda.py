"""The daily agenda: tomorrow's bookings for each staff member, queued once even by two workers."""

from __future__ import annotations

import email
import email.policy
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from mailflow import services
from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.bootstrap import App, build
from mailflow.config import load_settings
from mailflow.demo import seed_demo
from mailflow.services.agenda import AGENDA_CATCH_UP, queue_daily_agendas, queue_due_agendas, staff_timezones
from mailflow.services.staff import update_staff
from mailflow.store.tables import OutboxMessage
from tests.conftest import BERLIN, berlin


def queue(app: App, now: datetime) -> int:
    return queue_daily_agendas(app.engine, app.notifier, app.settings.public_url, "Europe/Berlin", now)


def test_agenda_goes_to_staff_with_bookings_tomorrow_once(
    db_url: str, tmp_path: Path, next_tuesday: date, now: datetime
) -> None:
    """At 18:00 the day before, Bob (two bookings) gets one agenda; Carla (none) gets nothing."""
    app = build(load_settings({"MAILFLOW_DATABASE_URL": db_url, "MAILFLOW_DATA_DIR": str(tmp_path)}))
    seed_demo(app.engine, now)
    for hour in (10, 14):
        services.create_booking(
            app.engine, business="contoso", service="haircut", staff="bob@contoso.example",
            customer=services.CustomerInput(email=f"c{hour}@example.com", name=f"Customer {hour}"),
            start=berlin(next_tuesday, hour), origin=Origin.STAFF, actor=Actor(ActorKind.STAFF, "x"), now=now,
            public_url=app.settings.public_url, grid=app.grid, notifier=None,
        )  # fmt: skip
    evening_before = datetime.combine(next_tuesday - timedelta(days=1), time(18), BERLIN)
    assert (
        queue_daily_agendas(
            app.engine, app.notifier, app.settings.public_url, "Europe/Berlin", evening_before
        )
        == 1
    )
    assert (
        queue_daily_agendas(
            app.engine, app.notifier, app.settings.public_url, "Europe/Berlin", evening_before
        )
        == 0
    )  # a second worker: nothing twice
    with Session(app.engine) as session:
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "daily_agenda")).all()
    assert [row.recipient for row in rows] == ["bob@contoso.example"]
    body = (rows[0].payload or b"").decode()
    assert "Customer 10" in body.replace("=\r\n", "") and "Customer 14" in body.replace("=\r\n", "")
    # A day of bookings is no booking's thread: no References to the first one, no booking header,
    # and a reply goes to the business, not to a reply address of the first booking.
    headers = email.message_from_bytes(rows[0].payload or b"", policy=email.policy.default)
    assert headers["References"] is None and headers["In-Reply-To"] is None
    assert headers["X-Mailflow-Booking"] is None
    assert "reply+" not in str(headers["Reply-To"])
    # Its button opens the admin calendar of that day, in the HTML and in the text.
    day_view = f"{app.settings.public_url}/admin/bookings?view=day&day={next_tuesday.isoformat()}"
    html, text = (headers.get_body((subtype,)) for subtype in ("html", "plain"))
    assert html is not None and text is not None
    assert f'href="{day_view}"' in html.get_content().replace("&amp;", "&")
    assert day_view in text.get_content()
    app.close()


def test_a_zone_added_after_start_up_gets_its_agenda_at_its_own_evening_once(
    db_url: str, tmp_path: Path, next_tuesday: date, now: datetime
) -> None:
    """Agendas are due per zone at 18:00 local, zones read afresh each tick: Carla, moved to New York
    after the worker started, gets hers at 18:00 there (not Berlin's), once however often it ticks."""
    app = build(load_settings({"MAILFLOW_DATABASE_URL": db_url, "MAILFLOW_DATA_DIR": str(tmp_path)}))
    seed_demo(app.engine, now)
    actor = Actor(ActorKind.STAFF, "x")
    for staff, hour in (("bob@contoso.example", 10), ("carla@contoso.example", 15)):
        services.create_booking(
            app.engine, business="contoso", service="haircut", staff=staff,
            customer=services.CustomerInput(email=f"c{hour}@example.com", name=f"Customer {hour}"),
            start=berlin(next_tuesday, hour), origin=Origin.STAFF, actor=actor, now=now,
            public_url=app.settings.public_url, grid=app.grid, notifier=None,
        )  # fmt: skip
    assert staff_timezones(app.engine) == ["Europe/Berlin"]  # what a worker saw at start-up
    update_staff(
        app.engine, "contoso", "carla@contoso.example", {"timezone": "America/New_York"}, actor=actor, now=now
    )
    new_york = ZoneInfo("America/New_York")
    monday = next_tuesday - timedelta(days=1)

    def due(when: datetime) -> list[str]:
        queue_due_agendas(app.engine, app.notifier, app.settings.public_url, when)
        with Session(app.engine) as session:
            rows = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "daily_agenda")).all()
        return sorted(row.recipient for row in rows)

    assert due(datetime.combine(monday, time(17, 55), BERLIN)) == []  # not yet anywhere
    assert due(datetime.combine(monday, time(18), BERLIN)) == ["bob@contoso.example"]  # noon in New York
    assert due(datetime.combine(monday, time(17, 55), new_york)) == ["bob@contoso.example"]
    evening = datetime.combine(monday, time(18), new_york)
    for tick in range(4):  # 18:00, 18:05, … in New York: queued at the first tick only
        assert due(evening + timedelta(minutes=5 * tick)) == ["bob@contoso.example", "carla@contoso.example"]
    assert due(datetime.combine(monday, time(20, 5), BERLIN)) == due(evening)  # Bob's window again: no 2nd
    app.close()


def test_an_agenda_missed_while_the_worker_was_down_goes_out_within_the_catch_up_window(
    db_url: str, tmp_path: Path, next_tuesday: date, now: datetime
) -> None:
    """A worker back at 19:30 still queues the evening's agendas; one back after 20:00 does not."""
    app = build(load_settings({"MAILFLOW_DATABASE_URL": db_url, "MAILFLOW_DATA_DIR": str(tmp_path)}))
    seed_demo(app.engine, now)
    services.create_booking(
        app.engine, business="contoso", service="haircut", staff="bob@contoso.example",
        customer=services.CustomerInput(email="c@example.com", name="Customer"),
        start=berlin(next_tuesday, 10), origin=Origin.STAFF, actor=Actor(ActorKind.STAFF, "x"), now=now,
        public_url=app.settings.public_url, grid=app.grid, notifier=None,
    )  # fmt: skip
    monday = next_tuesday - timedelta(days=1)
    late = datetime.combine(monday, time(18), BERLIN) + AGENDA_CATCH_UP
    assert queue_due_agendas(app.engine, app.notifier, app.settings.public_url, late) == 0
    back = datetime.combine(monday, time(19, 30), BERLIN)
    assert queue_due_agendas(app.engine, app.notifier, app.settings.public_url, back) == 1
    app.close()
