"""The webhook deliveries as a queue: written with the change, claimed by workers, their outcomes recorded.

A delivery row is inserted in the transaction of the change it reports (like an
outbox row), so a rolled-back change sends nothing and a committed one is never
lost. Workers claim due rows in one statement (``UPDATE … WHERE id IN (SELECT …
FOR UPDATE SKIP LOCKED) RETURNING``, the outbox's technique): two workers never
hold the same delivery at once, and a claim whose worker died runs out
(``claimed_until``) and is taken again, with the same ``webhook-id``.

Order per booking: a delivery is due only when no earlier delivery of the same
booking to the same endpoint still waits (``pending`` or ``sending``); a later
event waits until the earlier one is delivered or given up.

Retries follow the Standard Webhooks schedule: after 5 s, 5 min, 30 min, 2 h,
5 h, 10 h and 10 h (eight attempts over about 27.6 hours), then ``failed``. An
endpoint whose attempts have all failed for ``DISABLE_AFTER`` (and at least
``DISABLE_MIN_FAILURES`` in a row) is disabled, and its business's admins get an
email saying so (``webhook_disabled``). A disabled endpoint gets no new
deliveries; those already waiting go out once it is enabled again.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, Update, and_, bindparam, insert, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from mailflow.i18n import N_, gettext
from mailflow.kinds import WEBHOOK_TEST, EmailKind
from mailflow.outbound.notice import queue_notice
from mailflow.store.claims import claim_parameters, due_again, lease_claim
from mailflow.store.engine import connection_of, write_session
from mailflow.store.tables import Business, Staff, pk
from mailflow.store.webhook_tables import WebhookDelivery, WebhookEndpoint

CLAIM_LEASE = timedelta(minutes=5)
RETRY_SCHEDULE = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
"""The pause after each failed attempt (Standard Webhooks' recommended schedule)."""
MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1
DISABLE_AFTER = timedelta(days=1)
DISABLE_MIN_FAILURES = 5
RESPONSE_KEPT = 500
"""Bytes of an answer's body kept for the delivery log."""

SUBJECT = N_("Webhook disabled: {url}")
INTRO = N_(
    "mailflow stopped sending events to the webhook endpoint {url}: every attempt to reach it "
    "has failed since {since} UTC ({failures} attempts in a row)."
)
LAST_ERROR = N_("The last attempt got: {error}")
WHAT_NEXT = N_(
    "While it is disabled it hears of no new events. Once it works again, enable it in the "
    "admin (Webhooks); the delivery log there lets you send again what it missed."
)


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"


WAITING = (DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value)


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery a worker holds: what to send, where, signed with which secret."""

    id: int
    endpoint_id: int
    business_id: int
    event_type: str
    webhook_id: str
    payload: str
    attempts: int
    url: str
    secret: str


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What one attempt got: ``status`` None when no answer came (timeout, refused connection)."""

    ok: bool
    status: int | None
    response: str


_TABLE = WebhookDelivery.__table__  # type: ignore[attr-defined]  # SQLModel tables have one
_INSERT = insert(_TABLE)
_RECORD = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("b_id"), _TABLE.c.status == DeliveryStatus.SENDING.value)
    .values(
        status=bindparam("b_status"),
        next_attempt_at=bindparam("b_next"),
        delivered_at=bindparam("b_delivered"),
        last_status=bindparam("b_code"),
        last_response=bindparam("b_response"),
        claimed_until=None,
    )
)


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks form, ``whsec_`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def new_webhook_id() -> str:
    """The ``webhook-id`` of one delivery: the same on every attempt, so receivers can de-duplicate."""
    return "msg_" + secrets.token_hex(16)


def body(event_type: str, at: datetime, data: dict[str, Any]) -> str:
    """The JSON body of an event: ``{"type", "timestamp", "data"}``."""
    return json.dumps(
        {"type": event_type, "timestamp": at.isoformat(), "data": data}, ensure_ascii=False, sort_keys=True
    )


def subscribed(session: Session, business_id: int, event_type: str) -> list[int]:
    """The ids of the business's enabled endpoints that want ``event_type``.

    Asked once per transaction and business (the endpoints are few, the events of a batch many).
    """
    known: dict[int, list[tuple[int, list[str]]]] = session.info.setdefault("mailflow_webhooks", {})
    if business_id not in known:
        rows = session.execute(
            select(WebhookEndpoint.id, WebhookEndpoint.events).where(
                WebhookEndpoint.business_id == business_id, col(WebhookEndpoint.enabled).is_(True)
            )
        ).all()
        known[business_id] = [(int(row_id), list(events or [])) for row_id, events in rows]
    return [row_id for row_id, events in known[business_id] if event_type in events]


def enqueue_delivery(
    session: Session,
    *,
    endpoint_id: int,
    business_id: int,
    booking_id: int | None,
    event_type: str,
    payload: str,
    now: datetime,
) -> None:
    """Add a delivery in the caller's transaction (a Core insert, like the outbox's)."""
    session.connection().execute(
        _INSERT,
        {
            "endpoint_id": endpoint_id,
            "business_id": business_id,
            "booking_id": booking_id,
            "event_type": event_type,
            "webhook_id": new_webhook_id(),
            "payload": payload,
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        },
    )


def claim_due_deliveries(
    engine: Engine, now: datetime, limit: int = 50, lease: timedelta = CLAIM_LEASE
) -> list[ClaimedDelivery]:
    """Atomically take up to ``limit`` due deliveries, at most one per booking and endpoint."""
    with write_session(engine) as session:
        rows = connection_of(session).execute(_CLAIM, claim_parameters(now, lease, limit)).all()
        if not rows:  # the usual answer: the worker asks after every change
            return []
        targets = {
            int(row_id): (url, secret)
            for row_id, url, secret in session.execute(
                select(WebhookEndpoint.id, WebhookEndpoint.url, WebhookEndpoint.secret).where(
                    col(WebhookEndpoint.id).in_({row[1] for row in rows})
                )
            ).all()
        }
    claimed = [
        ClaimedDelivery(
            id=row[0],
            endpoint_id=row[1],
            business_id=row[2],
            event_type=row[3],
            webhook_id=row[4],
            payload=row[5],
            attempts=row[6],
            url=targets[row[1]][0],
            secret=targets[row[1]][1],
        )
        for row in rows
        if row[1] in targets
    ]
    return sorted(claimed, key=lambda delivery: delivery.id)


def retry_delay(attempts: int) -> timedelta:
    """The pause after the ``attempts``-th failed attempt."""
    return RETRY_SCHEDULE[min(max(attempts, 1), len(RETRY_SCHEDULE)) - 1]


def record_attempts(
    session: Session,
    claimed: Sequence[ClaimedDelivery],
    results: Sequence[AttemptResult],
    now: datetime,
    *,
    notice_domain: str,
) -> tuple[int, int, int, list[int]]:
    """Record what each attempt got, in ``session``'s transaction.

    Returns ``(delivered, retried, failed, disabled endpoint ids)``; the admins of an endpoint
    that is disabled here are emailed in the same transaction.
    """
    delivered = retried = failed = 0
    rows: list[dict[str, Any]] = []
    for delivery, result in zip(claimed, results, strict=True):
        row: dict[str, Any] = {
            "b_id": delivery.id,
            "b_status": DeliveryStatus.PENDING.value,
            "b_next": now,
            "b_delivered": None,
            "b_code": result.status,
            "b_response": result.response[:RESPONSE_KEPT],
        }
        if result.ok:
            row.update(b_status=DeliveryStatus.DELIVERED.value, b_delivered=now)
            delivered += 1
        elif delivery.attempts >= MAX_ATTEMPTS:
            row.update(b_status=DeliveryStatus.FAILED.value)
            failed += 1
        else:
            row.update(b_next=now + retry_delay(delivery.attempts))
            retried += 1
        rows.append(row)
    if rows:  # one executemany for the batch
        session.connection().execute(_RECORD.values(last_attempt_at=now), rows)
    disabled = []
    # Locked in id order (PostgreSQL): two workers recording at once count every failure, and
    # never wait for each other in a circle.
    ids = sorted({delivery.endpoint_id for delivery in claimed})
    endpoints = {
        pk(row): row
        for row in session.exec(
            select(WebhookEndpoint)
            .where(col(WebhookEndpoint.id).in_(ids))
            .order_by(col(WebhookEndpoint.id))
            .with_for_update()
        )
    }
    for delivery, result in zip(claimed, results, strict=True):
        endpoint = endpoints.get(delivery.endpoint_id)
        if endpoint is None:
            continue
        if result.ok:
            endpoint.failing_since, endpoint.consecutive_failures = None, 0
        else:
            endpoint.failing_since = endpoint.failing_since or now
            endpoint.consecutive_failures += 1
            if endpoint.enabled and should_disable(endpoint, now):
                endpoint.enabled = False
                endpoint.disabled_reason = result.response[:RESPONSE_KEPT] or f"HTTP {result.status}"
                endpoint.updated_at = now
                disabled.append(delivery.endpoint_id)
                tell_admins_disabled(session, endpoint, result, now, notice_domain)
        session.add(endpoint)
    return delivered, retried, failed, disabled


def should_disable(endpoint: WebhookEndpoint, now: datetime) -> bool:
    """Whether ``endpoint`` has failed long enough: ``DISABLE_AFTER`` and ``DISABLE_MIN_FAILURES``."""
    since = endpoint.failing_since
    return (
        since is not None
        and now - since >= DISABLE_AFTER
        and endpoint.consecutive_failures >= DISABLE_MIN_FAILURES
    )


def tell_admins_disabled(
    session: Session, endpoint: WebhookEndpoint, result: AttemptResult, now: datetime, domain: str
) -> int:
    """Email every active admin of the endpoint's business that it was disabled; how many."""
    business = session.get_one(Business, endpoint.business_id)
    admins = session.exec(
        select(Staff)
        .where(Staff.business_id == endpoint.business_id, Staff.role == "admin", col(Staff.active).is_(True))
        .order_by(col(Staff.id))
    ).all()
    since = (endpoint.failing_since or now).strftime("%Y-%m-%d %H:%M")
    error = (f"HTTP {result.status} " if result.status else "") + result.response[:200]
    for admin in admins:
        locale = admin.locale
        title = gettext(locale, SUBJECT, url=endpoint.url[:150])
        lines = [
            gettext(locale, INTRO, url=endpoint.url, since=since, failures=endpoint.consecutive_failures),
            gettext(locale, LAST_ERROR, error=error.strip() or "—"),
            gettext(locale, WHAT_NEXT),
        ]
        queue_notice(
            session,
            business=business,
            admin=admin,
            kind=EmailKind.WEBHOOK_DISABLED,
            title=title,
            paragraphs=lines,
            domain=domain,
            now=now,
        )
    return len(admins)


def _claim_statement() -> Update:
    """The claim of due deliveries: none behind an earlier waiting one of its booking and endpoint."""
    earlier = aliased(WebhookDelivery)
    waits_behind = (
        select(earlier.id)
        .where(
            col(earlier.endpoint_id) == col(WebhookDelivery.endpoint_id),
            col(earlier.booking_id) == col(WebhookDelivery.booking_id),
            col(earlier.id) < col(WebhookDelivery.id),
            col(earlier.status).in_(WAITING),
        )
        .exists()
    )
    enabled = (
        select(WebhookEndpoint.id)
        .where(col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id), col(WebhookEndpoint.enabled))
        .exists()
    )
    due = due_again(WebhookDelivery, waiting=DeliveryStatus.PENDING.value, taken=DeliveryStatus.SENDING.value)
    return lease_claim(
        WebhookDelivery,
        and_(due, ~waits_behind, or_(enabled, col(WebhookDelivery.event_type) == WEBHOOK_TEST)),
        taken=DeliveryStatus.SENDING.value,
        returning=[
            col(WebhookDelivery.id),
            col(WebhookDelivery.endpoint_id),
            col(WebhookDelivery.business_id),
            col(WebhookDelivery.event_type),
            col(WebhookDelivery.webhook_id),
            col(WebhookDelivery.payload),
            col(WebhookDelivery.attempts),
        ],
        lock_of=WebhookDelivery,
    )


_CLAIM = _claim_statement()
