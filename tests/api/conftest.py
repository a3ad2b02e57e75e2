"""The API under test: the demo business on a real migrated database, a TestClient, API keys."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from mailflow.booking.model import Actor, ActorKind
from mailflow.bootstrap import App, build
from mailflow.config import load_settings
from mailflow.demo import seed_demo
from mailflow.services.api_keys import create_api_key
from mailflow.store.engine import write_session
from mailflow.store.tables import Business, Service, ServiceStaff, Staff, pk
from mailflow.web.app import create_web_app
from tests.conftest import berlin, queued_emails

PUBLIC = "http://testserver"
BOB = "bob@contoso.example"
CARLA = "carla@contoso.example"


class Api:
    """One wired app, a client, and a key of one business (the demo business ``contoso``)."""

    def __init__(self, app: App, now: datetime, day: date, business: str = "contoso") -> None:
        self.app = app
        self.now = now
        self.day = day
        self.client = TestClient(create_web_app(app.web), follow_redirects=False)
        self.key = self.new_key(business)

    def new_key(self, business: str, label: str = "") -> str:
        actor = Actor(ActorKind.STAFF, "test")
        return create_api_key(self.app.engine, business, label=label, actor=actor, now=self.now)[1]

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}

    def get(self, path: str, key: str | None = None, **kw: Any) -> Response:
        return self.client.get(f"/api/v1{path}", headers=self.headers(key), **kw)

    def post(self, path: str, json: Any = None, key: str | None = None) -> Response:
        return self.client.post(f"/api/v1{path}", json=json, headers=self.headers(key))

    def patch(self, path: str, json: Any, key: str | None = None) -> Response:
        return self.client.patch(f"/api/v1{path}", json=json, headers=self.headers(key))

    def put(self, path: str, json: Any, key: str | None = None) -> Response:
        return self.client.put(f"/api/v1{path}", json=json, headers=self.headers(key))

    def delete(self, path: str, key: str | None = None) -> Response:
        return self.client.delete(f"/api/v1{path}", headers=self.headers(key))

    def booking_body(
        self, hour: int = 10, *, service: str = "haircut", staff: str = BOB, **extra: Any
    ) -> dict[str, Any]:
        body = {
            "service": service,
            "staff": staff,
            "customer": {"email": "ada@example.com", "name": "Ada Lovelace"},
            "start": berlin(self.day, hour).isoformat(),
            "origin": "staff",
        }
        return {**body, **extra}

    def book(self, hour: int = 10, **kw: Any) -> dict[str, Any]:
        response = self.post("/bookings", self.booking_body(hour, **kw))
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()
        return data

    def outbox(self, kind: str, recipient: str = "ada@example.com") -> list[EmailMessage]:
        """The queued emails of ``kind`` to ``recipient``, oldest first, parsed."""
        return queued_emails(self.app.engine, kind, recipient)


def has_manage_link(message: EmailMessage) -> bool:
    """Whether the email's HTML and text parts carry a manage link (they must agree); the
    ``.ics`` download under the same token is no manage link (issue 18)."""
    html, text = message.get_body(("html",)), message.get_body(("plain",))
    assert html is not None and text is not None
    link = re.compile(rf"{re.escape(PUBLIC)}/m/[\w-]+(?![\w-]|/booking\.ics)")
    in_html, in_text = bool(link.search(html.get_content())), bool(link.search(text.get_content()))
    assert in_html == in_text
    return in_html


def add_business(app: App, slug: str, now: datetime) -> None:
    """A second business with one service and one staff member."""
    with write_session(app.engine) as session:
        business = Business(slug=slug, name="Fabrikam", timezone="Europe/Berlin", created_at=now)
        session.add(business)
        session.flush()
        hours = {str(day): [["09:00", "17:00"]] for day in range(5)}
        staff = Staff(
            business_id=pk(business),
            email=f"eve@{slug}.example",
            timezone="Europe/Berlin",
            weekly_hours=hours,
        )
        offered = Service(business_id=pk(business), slug="massage", name="Massage", duration_minutes=60)
        session.add_all([staff, offered])
        session.flush()
        session.add(ServiceStaff(service_id=pk(offered), staff_id=pk(staff)))


def make_app(db_url: str, tmp_path: Path, now: datetime, *, demo: bool = True) -> App:
    """The wired app on ``db_url``, with the demo business unless ``demo`` is off."""
    app = build(
        load_settings(
            {
                "MAILFLOW_DATABASE_URL": db_url,
                "MAILFLOW_OUTBOUND_URL": f"memory://api-{uuid.uuid4().hex}",
                "MAILFLOW_DATA_DIR": str(tmp_path),
                "MAILFLOW_PUBLIC_URL": PUBLIC,
            }
        )
    )
    if demo:
        seed_demo(app.engine, now)
    return app


@pytest.fixture
def api(db_url: str, tmp_path: Path, now: datetime, next_tuesday: date) -> Iterator[Api]:
    """The API of the demo business, on SQLite and on PostgreSQL."""
    app = make_app(db_url, tmp_path, now)
    yield Api(app, now, next_tuesday)
    app.close()


@pytest.fixture
def sqlite_api(
    sqlite_engine: Any, sqlite_url: str, tmp_path: Path, now: datetime, next_tuesday: date
) -> Iterator[Api]:
    """The same on SQLite only, for what does not depend on the database engine."""
    app = make_app(sqlite_url, tmp_path, now)
    yield Api(app, now, next_tuesday)
    app.close()
