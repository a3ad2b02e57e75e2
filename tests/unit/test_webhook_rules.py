"""The webhook rules that need no database: URLs, events, actors, retries, the disabling rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from mailflow.booking.model import Actor, ActorKind
from mailflow.errors import InvalidInput
from mailflow.outbound.webhook_queue import (
    DISABLE_AFTER,
    DISABLE_MIN_FAILURES,
    MAX_ATTEMPTS,
    RETRY_SCHEDULE,
    ClaimedDelivery,
    new_secret,
    retry_delay,
    should_disable,
)
from mailflow.outbound.webhook_sender import signed_headers
from mailflow.services.api_keys import ApiCaller
from mailflow.services.webhook_events import actor_name
from mailflow.services.webhooks import EVENTS, check_events, check_url
from mailflow.store.webhook_tables import WebhookEndpoint

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "url",
    ["https://crm.example/hooks", "http://127.0.0.1:8080/x", "http://10.0.0.7/h?a=1", "http://[::1]:9/"],
)
def test_http_and_https_urls_are_taken_private_ones_too(url: str) -> None:
    """Any http(s) URL with a host is an endpoint, loopback and private addresses included."""
    assert check_url(f"  {url} ") == url


@pytest.mark.parametrize(
    "url",
    [
        "",
        "crm.example/hooks",
        "ftp://crm.example/",
        "https://",
        "http://a b/",
        "http://h:99999/",
        "http://[::1",
    ],
)
def test_other_urls_are_refused_naming_the_field(url: str) -> None:
    """A URL without http(s), without a host, with a space or a bad port is refused (field ``url``)."""
    with pytest.raises(InvalidInput) as refused:
        check_url(url)
    assert refused.value.field == "url"


def test_events_default_to_all_come_in_the_documented_order_and_unknown_ones_are_refused() -> None:
    """None means every event; a subset comes back in ``EVENTS`` order; a typo or nothing is refused."""
    assert check_events(None) == list(EVENTS)
    assert check_events(["email.bounced", " booking.created"]) == ["booking.created", "email.bounced"]
    for wrong in (["booking.exploded"], [], [" "]):
        with pytest.raises(InvalidInput) as refused:
            check_events(wrong)
        assert refused.value.field == "events"


def test_actors_are_named_as_the_issue_says() -> None:
    """Each door maps to its name; an API key's staff actor is ``api``."""
    key = ApiCaller(1, "mf_abc", "site", 1, "contoso", "Europe/Berlin")
    assert actor_name(Actor(ActorKind.STAFF, key.actor_label)) == "api"
    assert actor_name(Actor(ActorKind.STAFF, "cli")) == "staff"
    assert actor_name(Actor(ActorKind.CUSTOMER_REPLY, "x@example.com")) == "customer_reply"
    assert actor_name(Actor(ActorKind.CUSTOMER_LINK)) == "customer_link"
    assert actor_name(Actor(ActorKind.CUSTOMER_SELF_SERVICE)) == "customer_self_service"
    assert actor_name(Actor(ActorKind.SYSTEM)) == "system"


def test_retries_grow_and_span_more_than_a_day() -> None:
    """Each pause is at least the one before; all of them together last over a day."""
    pauses = [retry_delay(n) for n in range(1, MAX_ATTEMPTS)]
    assert pauses == list(RETRY_SCHEDULE) and pauses == sorted(pauses)
    assert sum(pauses, timedelta()) > timedelta(days=1)


def test_an_endpoint_is_disabled_only_after_a_day_and_enough_failures() -> None:
    """A day of failures with too few attempts, or many failures within hours, is not enough."""
    endpoint = WebhookEndpoint(business_id=1, url="http://x/", secret="whsec_x", failing_since=NOW)
    endpoint.consecutive_failures = DISABLE_MIN_FAILURES
    assert not should_disable(endpoint, NOW + DISABLE_AFTER - timedelta(seconds=1))
    assert should_disable(endpoint, NOW + DISABLE_AFTER)
    endpoint.consecutive_failures = DISABLE_MIN_FAILURES - 1
    assert not should_disable(endpoint, NOW + 3 * DISABLE_AFTER)


def test_signed_headers_verify_with_the_standard_webhooks_library() -> None:
    """The headers of an attempt verify with the library's own verifier and the endpoint's secret."""
    secret = new_secret()
    delivery = ClaimedDelivery(
        1, 1, 1, "booking.created", "msg_1", '{"type": "booking.created"}', 1, "", secret
    )
    now = datetime.now(UTC)
    headers = signed_headers(delivery, now)
    assert Webhook(secret).verify(delivery.payload, headers) == {"type": "booking.created"}
    with pytest.raises(Exception, match="signature"):
        Webhook(new_secret()).verify(delivery.payload, headers)
