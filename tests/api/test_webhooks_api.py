"""``/api/v1/webhooks`` and ``mailflow webhooks``: endpoints managed from both doors, secret shown once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from mailflow.outbound.webhook_sender import WebhookSender
from mailflow.services.webhooks import EVENTS
from tests.api.conftest import Api, add_business
from tests.webhook_receiver import Receiver, running_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running_receiver()


def test_api_adds_lists_changes_and_removes_an_endpoint(api: Api, receiver: Receiver) -> None:
    """POST answers 201 with the secret once; GET never shows it; PATCH and DELETE change it."""
    created = api.post("/webhooks", {"url": receiver.url, "events": ["booking.cancelled", "booking.created"]})
    assert created.status_code == 201, created.text
    data = created.json()
    assert data["secret"].startswith("whsec_") and data["enabled"] is True
    assert data["events"] == ["booking.created", "booking.cancelled"]  # in the documented order
    listed = api.get("/webhooks")
    assert listed.status_code == 200 and data["secret"] not in listed.text
    assert [entry["id"] for entry in listed.json()] == [data["id"]]

    changed = api.patch(f"/webhooks/{data['id']}", {"enabled": False, "events": ["customer.message"]})
    assert changed.status_code == 200, changed.text
    assert changed.json()["enabled"] is False and changed.json()["events"] == ["customer.message"]
    assert api.delete(f"/webhooks/{data['id']}").status_code == 200
    assert api.get("/webhooks").json() == []
    assert api.delete(f"/webhooks/{data['id']}").status_code == 404


def test_api_default_is_every_event_and_the_log_shows_a_delivery(api: Api, receiver: Receiver) -> None:
    """Without ``events`` an endpoint hears of everything; its log shows the signed delivery's answer."""
    data = api.post("/webhooks", {"url": receiver.url}).json()
    assert data["events"] == list(EVENTS)
    booking = api.book()
    later = datetime.now(UTC)  # the API's clock is the real one
    asyncio.run(WebhookSender(api.app.engine, notice_domain="example.com").run_once(later))
    (request,) = receiver.requests
    body = Webhook(data["secret"]).verify(request.body, request.headers)
    assert body["type"] == "booking.created" and body["data"]["actor"] == "api"
    assert body["data"]["booking"]["ref"] == booking["ref"]
    log = api.get(f"/webhooks/{data['id']}/deliveries")
    assert log.status_code == 200
    (entry,) = log.json()
    assert entry["type"] == "booking.created" and entry["booking"] == booking["ref"]
    assert entry["status"] == "delivered" and entry["last_status"] == 200
    assert entry["webhook_id"] == request.headers["webhook-id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://crm.example/hooks"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://crm.example/", "events": ["booking.exploded"]}, "events"),
        ({"url": "https://crm.example/", "events": []}, "events"),
        ({"url": "https://crm.example/", "colour": "red"}, "colour"),
    ],
)
def test_api_refuses_bad_endpoints_with_422(api: Api, body: dict[str, Any], field: str) -> None:
    """A wrong scheme, an unknown event or an unknown field is a 422 naming it; nothing is saved."""
    response = api.post("/webhooks", body)
    assert response.status_code == 422, response.text
    assert field in json.dumps(response.json()["detail"])
    assert api.get("/webhooks").json() == []


def test_api_needs_a_key_and_keeps_businesses_apart(api: Api, receiver: Receiver) -> None:
    """No key: 401. Another business's key cannot see, change or read the log of an endpoint."""
    assert api.client.get("/api/v1/webhooks").status_code == 401
    assert api.client.post("/api/v1/webhooks", json={"url": receiver.url}).status_code == 401
    data = api.post("/webhooks", {"url": receiver.url}).json()
    add_business(api.app, "fabrikam", api.now)
    other = api.new_key("fabrikam")
    assert api.get("/webhooks", key=other).json() == []
    assert api.patch(f"/webhooks/{data['id']}", {"enabled": False}, key=other).status_code == 404
    assert api.get(f"/webhooks/{data['id']}/deliveries", key=other).status_code == 404
    assert api.get(f"/webhooks/{data['id']}").status_code in (404, 405)


def test_cli_adds_lists_and_removes(run_cli: Any, tmp_path: Path, receiver: Receiver) -> None:
    """``webhooks add`` prints {"id", "secret"} once; ``list`` never shows the secret; ``remove`` ends it."""
    run_cli("db", "upgrade", check=True)
    run_cli("demo", check=True)
    added = run_cli(
        "webhooks", "add", receiver.url, "--events", "booking.created,email.bounced", "--json", check=True
    )
    data = json.loads(added.stdout)
    assert set(data) == {"id", "secret"} and data["secret"].startswith("whsec_")
    listed = run_cli("webhooks", "list", "--json", check=True)
    assert data["secret"] not in listed.stdout
    (entry,) = json.loads(listed.stdout)
    assert entry["events"] == ["booking.created", "email.bounced"] and entry["url"] == receiver.url
    human = run_cli("webhooks", "list", check=True)
    assert f"webhook {data['id']}: {receiver.url}" in human.stdout
    run_cli("webhooks", "remove", str(data["id"]), check=True)
    assert json.loads(run_cli("webhooks", "list", "--json", check=True).stdout) == []


def test_cli_refuses_bad_input_in_one_line(run_cli: Any) -> None:
    """An unknown event or a URL without http(s) is one line on stderr and exit 2; an unknown id exit 4."""
    run_cli("db", "upgrade", check=True)
    run_cli("demo", check=True)
    bad_event = run_cli("webhooks", "add", "https://crm.example/", "--events", "booking.exploded")
    assert (
        bad_event.returncode == 2
        and "--events" in bad_event.stderr
        and "booking.exploded" in bad_event.stderr
    )
    assert len(bad_event.stderr.strip().splitlines()) == 1
    bad_url = run_cli("webhooks", "add", "crm.example/hooks")
    assert bad_url.returncode == 2 and "http://" in bad_url.stderr
    missing = run_cli("webhooks", "remove", "999")
    assert missing.returncode == 4 and "webhook endpoint" in missing.stderr
