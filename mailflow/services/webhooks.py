"""Webhook endpoints: add, list, change, remove; a test event, a re-send, the delivery log.

An endpoint is any ``http://`` or ``https://`` URL, loopback and private
addresses included (a business's CRM often lives on its own network). It
subscribes to some of ``EVENTS`` (all by default). Its signing secret
(``whsec_…``) is returned once, by ``add_endpoint``; it is kept, since every
delivery is signed with it, but no listing shows it again. The events
themselves are planned by ``services.webhook_events`` and sent by the worker.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, delete, update
from sqlmodel import Session, col, select

from mailflow.booking.model import Actor
from mailflow.errors import InvalidInput, NotFound
from mailflow.i18n import N_
from mailflow.kinds import WEBHOOK_TEST, WebhookEvent
from mailflow.outbound.webhook_queue import DeliveryStatus, body, enqueue_delivery, new_secret
from mailflow.services.common import audit
from mailflow.services.webhook_events import actor_name
from mailflow.store import queries
from mailflow.store.engine import read_session, write_session
from mailflow.store.tables import MAX_INTEGER, Booking, Business, pk
from mailflow.store.webhook_tables import WebhookDelivery, WebhookEndpoint

__all__ = [
    "EVENTS",
    "DeliveryView",
    "EndpointView",
    "add_endpoint",
    "check_events",
    "check_url",
    "get_endpoint",
    "list_deliveries",
    "list_endpoints",
    "remove_endpoint",
    "resend_delivery",
    "send_test_event",
    "update_endpoint",
]

EVENTS: tuple[str, ...] = tuple(event.value for event in WebhookEvent)
MAX_URL = 2000
LOG_LIMIT = 200
"""The most recent deliveries the log shows."""


@dataclass(frozen=True, slots=True)
class EndpointView:
    id: int
    url: str
    events: list[str]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    consecutive_failures: int
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "events": self.events,
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason,
            "failing_since": self.failing_since.isoformat() if self.failing_since else None,
            "consecutive_failures": self.consecutive_failures,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """One delivery as the log shows it: its event, where it stands, what the last attempt got."""

    id: int
    endpoint_id: int
    webhook_id: str
    event_type: str
    booking_ref: str | None
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status: int | None
    last_response: str | None
    delivered_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "endpoint_id": self.endpoint_id,
            "webhook_id": self.webhook_id,
            "type": self.event_type,
            "booking": self.booking_ref,
            "status": self.status,
            "attempts": self.attempts,
            "created_at": self.created_at.isoformat(),
            "next_attempt_at": iso(self.next_attempt_at),
            "last_attempt_at": iso(self.last_attempt_at),
            "last_status": self.last_status,
            "last_response": self.last_response,
            "delivered_at": iso(self.delivered_at),
        }


def check_url(url: str) -> str:
    """``url`` if it is an absolute ``http(s)://`` URL with a host; ``InvalidInput`` otherwise."""
    value = url.strip()
    if not value:
        raise InvalidInput(N_("give the endpoint's URL"), field="url")
    if len(value) > MAX_URL:
        raise InvalidInput(N_("a URL has at most {n} characters"), n=MAX_URL, field="url")
    if not value.isprintable() or any(ch.isspace() for ch in value):  # controls, lone surrogates
        raise InvalidInput(N_("a URL may not contain spaces or control characters"), field="url")
    wrong = InvalidInput(N_("give an http:// or https:// URL, e.g. https://crm.example/hooks"), field="url")
    try:
        parts = urlsplit(value)
        _ = parts.port  # a port that is no number, or out of range, raises
    except ValueError:
        raise wrong from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise wrong
    return value


def check_events(events: Iterable[str] | None) -> list[str]:
    """The event types asked for, in ``EVENTS`` order (None: all); ``InvalidInput`` for unknown ones."""
    if events is None:
        return list(EVENTS)
    wanted = {event.strip() for event in events if event.strip()}
    unknown = sorted(wanted - set(EVENTS))
    if unknown:
        raise InvalidInput(
            N_("unknown event(s) {names}: choose from {known}"),
            names=", ".join(unknown),
            known=", ".join(EVENTS),
            field="events",
        )
    if not wanted:
        raise InvalidInput(N_("choose at least one event"), field="events")
    return [event for event in EVENTS if event in wanted]


def _view(row: WebhookEndpoint) -> EndpointView:
    return EndpointView(
        id=pk(row),
        url=row.url,
        events=list(row.events),
        enabled=row.enabled,
        disabled_reason=row.disabled_reason,
        failing_since=row.failing_since,
        consecutive_failures=row.consecutive_failures,
        created_at=row.created_at,
    )


def _delivery_view(row: WebhookDelivery, ref: str | None) -> DeliveryView:
    waiting = row.status in (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
    return DeliveryView(
        id=pk(row),
        endpoint_id=row.endpoint_id,
        webhook_id=row.webhook_id,
        event_type=row.event_type,
        booking_ref=ref,
        status=row.status,
        attempts=row.attempts,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at if waiting else None,
        last_attempt_at=row.last_attempt_at,
        last_status=row.last_status,
        last_response=row.last_response,
        delivered_at=row.delivered_at,
    )


def _endpoint(session: Session, business: Business, endpoint_id: int) -> WebhookEndpoint:
    row = session.get(WebhookEndpoint, endpoint_id) if 0 < endpoint_id <= MAX_INTEGER else None
    if row is None or row.business_id != business.id:
        raise NotFound(N_("webhook endpoint"), str(endpoint_id))
    return row


def add_endpoint(
    engine: Engine,
    business: str | None,
    *,
    url: str,
    events: Iterable[str] | None = None,
    actor: Actor,
    now: datetime,
) -> tuple[EndpointView, str]:
    """Add an endpoint for ``events`` (None: every event); returns it and its secret, shown only now."""
    checked_url, checked_events = check_url(url), check_events(events)
    secret = new_secret()
    with write_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        row = WebhookEndpoint(
            business_id=pk(biz),
            url=checked_url,
            events=checked_events,
            secret=secret,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        view = _view(row)
        audit(session, business_id=pk(biz), action="webhook.added", actor=actor, at=now, after=view.to_json())
        return view, secret


def list_endpoints(engine: Engine, business: str | None) -> list[EndpointView]:
    """The business's endpoints, oldest first (never their secrets)."""
    with read_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        rows = session.exec(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.business_id == biz.id)
            .order_by(col(WebhookEndpoint.id))
        ).all()
        return [_view(row) for row in rows]


def get_endpoint(engine: Engine, business: str | None, endpoint_id: int) -> EndpointView:
    """One endpoint; ``NotFound`` for another business's or an unknown id."""
    with read_session(engine) as session:
        return _view(_endpoint(session, queries.business_by_slug(session, business), endpoint_id))


def update_endpoint(
    engine: Engine,
    business: str | None,
    endpoint_id: int,
    *,
    url: str | None = None,
    events: Iterable[str] | None = None,
    enabled: bool | None = None,
    actor: Actor,
    now: datetime,
) -> EndpointView:
    """Change an endpoint's URL, events, or whether it is enabled (None: unchanged).

    Enabling it starts afresh: its failure count is cleared, and the deliveries that waited
    while it was disabled go out, oldest first.
    """
    new_url = None if url is None else check_url(url)
    new_events = None if events is None else check_events(events)
    with write_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        row = _endpoint(session, biz, endpoint_id)
        before = _view(row).to_json()
        if new_url is not None:
            row.url = new_url
        if new_events is not None:
            row.events = new_events
        if enabled is not None and enabled != row.enabled:
            row.enabled = enabled
            row.disabled_reason = None if enabled else "disabled by " + (actor.label or actor.kind.value)
            row.failing_since, row.consecutive_failures = None, 0
        row.updated_at = now
        session.add(row)
        session.flush()
        view = _view(row)
        audit(
            session,
            business_id=pk(biz),
            action="webhook.changed",
            actor=actor,
            at=now,
            before=before,
            after=view.to_json(),
        )
        return view


def remove_endpoint(
    engine: Engine, business: str | None, endpoint_id: int, *, actor: Actor, now: datetime
) -> EndpointView:
    """Remove an endpoint and its delivery log; what is still waiting is never sent."""
    with write_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        row = _endpoint(session, biz, endpoint_id)
        view = _view(row)
        session.execute(delete(WebhookDelivery).where(col(WebhookDelivery.endpoint_id) == endpoint_id))
        session.delete(row)
        audit(
            session, business_id=pk(biz), action="webhook.removed", actor=actor, at=now, before=view.to_json()
        )
        return view


def send_test_event(
    engine: Engine, business: str | None, endpoint_id: int, *, actor: Actor, now: datetime
) -> DeliveryView:
    """Queue a ``webhook.test`` event to this endpoint alone (enabled or not, whatever it subscribed)."""
    with write_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        row = _endpoint(session, biz, endpoint_id)
        data = {"actor": actor_name(actor), "business": biz.slug, "endpoint": pk(row)}
        enqueue_delivery(
            session,
            endpoint_id=pk(row),
            business_id=pk(biz),
            booking_id=None,
            event_type=WEBHOOK_TEST,
            payload=body(WEBHOOK_TEST, now, data),
            now=now,
        )
        latest = session.exec(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == pk(row))
            .order_by(col(WebhookDelivery.id).desc())
        ).first()
        assert latest is not None
        return _delivery_view(latest, None)


def resend_delivery(
    engine: Engine, business: str | None, delivery_id: int, *, actor: Actor, now: datetime
) -> DeliveryView:
    """Send a delivery again, now, with the same ``webhook-id`` and body (a receiver that had it
    can tell); ``InvalidInput`` while it is being sent."""
    with write_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        row = session.get(WebhookDelivery, delivery_id) if 0 < delivery_id <= MAX_INTEGER else None
        if row is None or row.business_id != biz.id:
            raise NotFound(N_("webhook delivery"), str(delivery_id))
        if row.status == DeliveryStatus.SENDING:
            raise InvalidInput(N_("this delivery is being sent right now: try again in a minute"))
        session.execute(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.id) == delivery_id)
            .values(status=DeliveryStatus.PENDING.value, attempts=0, next_attempt_at=now, delivered_at=None)
        )
        audit(
            session,
            business_id=pk(biz),
            booking_id=row.booking_id,
            action="webhook.resent",
            actor=actor,
            at=now,
            after={"delivery": delivery_id, "webhook_id": row.webhook_id},
        )
        session.expire(row)
        return _delivery_view(row, _ref(session, row.booking_id))


def _ref(session: Session, booking_id: int | None) -> str | None:
    return None if booking_id is None else session.get_one(Booking, booking_id).ref


def list_deliveries(
    engine: Engine, business: str | None, endpoint_id: int, *, limit: int = LOG_LIMIT
) -> list[DeliveryView]:
    """The endpoint's most recent deliveries, newest first (``NotFound`` for another business's)."""
    with read_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        _endpoint(session, biz, endpoint_id)
        rows = session.exec(
            select(WebhookDelivery, Booking.ref)
            .outerjoin(Booking, col(Booking.id) == col(WebhookDelivery.booking_id))
            .where(WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(col(WebhookDelivery.id).desc())
            .limit(limit)
        ).all()
        return [_delivery_view(row, ref) for row, ref in rows]


def delivery_body(engine: Engine, business: str | None, delivery_id: int) -> dict[str, Any]:
    """The JSON body of one delivery, as sent (``NotFound`` for another business's)."""
    with read_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        row = session.get(WebhookDelivery, delivery_id) if 0 < delivery_id <= MAX_INTEGER else None
        if row is None or row.business_id != biz.id:
            raise NotFound(N_("webhook delivery"), str(delivery_id))
        data: dict[str, Any] = json.loads(row.payload)
        return data
