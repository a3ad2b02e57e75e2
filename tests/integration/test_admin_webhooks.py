"""``/admin/webhooks`` via the TestClient: add (secret once), log, test event, re-send, disable, remove."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from mailflow.outbound.webhook_sender import WebhookSender
from mailflow.services import webhooks
from tests.integration import test_admin_pages
from tests.integration.test_admin_pages import ADMIN, BOB, HTML, Admin, csrf_of
from tests.webhook_receiver import Receiver, running_receiver

make_admin = test_admin_pages.make_admin  # the fixture, shared
SECRET = re.compile(r'id="new-secret">(whsec_[^<]+)<')


@pytest.fixture
def site(make_admin: test_admin_pages.AdminFactory) -> Admin:
    return make_admin()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running_receiver()


def deliver(site: Admin) -> None:
    sender = WebhookSender(site.app.engine, notice_domain="example.com")
    asyncio.run(sender.run_once(datetime.now(UTC)))  # the pages' clock is the real one


def test_admin_adds_an_endpoint_and_sees_the_secret_once(site: Admin, receiver: Receiver) -> None:
    """The form adds an endpoint for the checked events; the secret appears on that answer only."""
    browser = site.sign_in(ADMIN)
    page = browser.get("/admin/webhooks", headers=HTML)
    assert page.status_code == 200 and 'name="events" value="email.bounced" checked' in page.text
    form = {"csrf": csrf_of(page, "/admin/webhooks"), "url": receiver.url}
    added = browser.post("/admin/webhooks", data={**form, "events": ["booking.created", "booking.cancelled"]})
    assert added.status_code == 201 and added.headers["cache-control"] == "no-store"
    found = SECRET.search(added.text)
    assert found is not None
    secret = found.group(1)
    (endpoint,) = webhooks.list_endpoints(site.app.engine, "contoso")
    assert endpoint.events == ["booking.created", "booking.cancelled"] and endpoint.url == receiver.url
    assert secret not in browser.get("/admin/webhooks", headers=HTML).text
    assert secret not in browser.get(f"/admin/webhooks/{endpoint.id}", headers=HTML).text

    ref = site.book()
    deliver(site)
    (request,) = receiver.requests
    assert Webhook(secret).verify(request.body, request.headers)["data"]["booking"]["ref"] == ref


def test_bad_url_or_no_event_is_refused_and_kept_in_the_form(site: Admin) -> None:
    """A URL without http(s) is a 400 with the reason and the typed URL kept; nothing is added."""
    browser = site.sign_in(ADMIN)
    page = browser.get("/admin/webhooks", headers=HTML)
    form = {
        "csrf": csrf_of(page, "/admin/webhooks"),
        "url": "crm.example/hooks",
        "events": ["booking.created"],
    }
    refused = browser.post("/admin/webhooks", data=form)
    assert (
        refused.status_code == 400
        and "https://" in refused.text
        and 'value="crm.example/hooks"' in refused.text
    )
    none_chosen = browser.post("/admin/webhooks", data={**form, "url": "https://crm.example/", "events": []})
    assert none_chosen.status_code == 400 and "at least one event" in none_chosen.text
    assert webhooks.list_endpoints(site.app.engine, "contoso") == []


def test_endpoint_page_logs_tests_resends_disables_and_removes(site: Admin, receiver: Receiver) -> None:
    """The log shows the status code and the answer's first bytes; the buttons do what they say."""
    view, _secret = webhooks.add_endpoint(
        site.app.engine, "contoso", url=receiver.url, actor=test_admin_pages.TEST, now=site.now
    )
    browser = site.sign_in(ADMIN)
    path = f"/admin/webhooks/{view.id}"
    page = browser.get(path, headers=HTML)
    assert page.status_code == 200 and "Nothing sent yet" in page.text
    sent = browser.post(f"{path}/test", data={"csrf": csrf_of(page, f"{path}/test")})
    assert sent.status_code == 303
    receiver.default = 418
    deliver(site)
    page = browser.get(path, headers=HTML)
    assert "webhook.test" in page.text and "HTTP 418" in page.text and "received" in page.text
    (delivery,) = webhooks.list_deliveries(site.app.engine, "contoso", view.id)
    receiver.default = 200
    resend = f"{path}/deliveries/{delivery.id}/resend"
    assert browser.post(resend, data={"csrf": csrf_of(page, resend)}).status_code == 303
    deliver(site)
    assert "HTTP 200" in browser.get(path, headers=HTML).text
    assert [r.headers["webhook-id"] for r in receiver.requests] == [delivery.webhook_id] * 2

    toggle = f"{path}/enabled"
    assert browser.post(toggle, data={"csrf": csrf_of(page, toggle), "enabled": "0"}).status_code == 303
    assert not webhooks.get_endpoint(site.app.engine, "contoso", view.id).enabled
    assert "Disabled" in browser.get(path, headers=HTML).text
    remove = f"{path}/remove"
    assert browser.post(remove, data={"csrf": csrf_of(page, remove)}).status_code == 303
    assert webhooks.list_endpoints(site.app.engine, "contoso") == []


def test_forged_posts_and_staff_are_refused(site: Admin, receiver: Receiver) -> None:
    """A POST without the CSRF token is 403; a staff member who is no admin cannot open the page."""
    view, _ = webhooks.add_endpoint(
        site.app.engine, "contoso", url=receiver.url, actor=test_admin_pages.TEST, now=site.now
    )
    admin = site.sign_in(ADMIN)
    assert admin.post(f"/admin/webhooks/{view.id}/remove", data={}).status_code == 403
    assert admin.post("/admin/webhooks", data={"url": receiver.url}).status_code == 403
    assert site.sign_in(BOB).get("/admin/webhooks", headers=HTML).status_code == 403
    assert len(webhooks.list_endpoints(site.app.engine, "contoso")) == 1
