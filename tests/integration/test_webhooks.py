"""Webhooks out (issue 19, item 1) against a real HTTP receiver, on SQLite and PostgreSQL.

Signatures are checked with the ``standardwebhooks`` library's own verifier; time is
driven by the ``now`` given to the sender, never by sleeping.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select
from standardwebhooks import Webhook

from mailflow import services
from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.bootstrap import App, build
from mailflow.config import load_settings
from mailflow.demo import seed_demo
from mailflow.errors import BookingConflict
from mailflow.inbound.process import process_pending, store_raw
from mailflow.outbound.return_path import ReturnPaths
from mailflow.outbound.webhook_queue import MAX_ATTEMPTS, RETRY_SCHEDULE
from mailflow.outbound.webhook_sender import WebhookReport, WebhookSender
from mailflow.services import webhook_events, webhooks
from mailflow.services.customers import erase_customer
from mailflow.services.housekeeping import clean_up
from mailflow.services.manage import send_customer_message
from mailflow.store.tables import OutboxMessage
from mailflow.store.webhook_tables import WebhookDelivery
from tests.conftest import SmtpSink, berlin
from tests.webhook_receiver import Receiver, running_receiver

DOMAIN = "replies.contoso.example"
STAFF = Actor(ActorKind.STAFF, "cli")
MAX = services.CustomerInput(email="max@example.de", name="Max Mustermann", locale="de")
BOOKING_EVENTS = ["booking.created", "booking.rescheduled", "booking.reassigned", "booking.cancelled"]


def make_app(db_url: str, tmp_path: Path, now: datetime, outbound: str | None = None) -> App:
    app = build(
        load_settings(
            {
                "MAILFLOW_DATABASE_URL": db_url,
                "MAILFLOW_DATA_DIR": str(tmp_path),
                "MAILFLOW_OUTBOUND_URL": outbound or f"memory://hooks-{tmp_path.name}",
                "MAILFLOW_INBOUND_DOMAIN": DOMAIN,
            }
        )
    )
    seed_demo(app.engine, now)
    return app


@pytest.fixture
def app(db_url: str, tmp_path: Path, now: datetime) -> Iterator[App]:
    application = make_app(db_url, tmp_path, now)
    yield application
    application.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running_receiver()


def add(app: App, receiver: Receiver, now: datetime, events: list[str] | None = None) -> tuple[int, str]:
    view, secret = webhooks.add_endpoint(
        app.engine, "contoso", url=receiver.url, events=events, actor=STAFF, now=now
    )
    return view.id, secret


def sender(app: App, timeout: float = 5.0) -> WebhookSender:
    return WebhookSender(app.engine, notice_domain=DOMAIN, timeout=timeout)


def deliver(app: App, now: datetime, timeout: float = 5.0) -> WebhookReport:
    return asyncio.run(sender(app, timeout).run_once(now))


def book(app: App, day: date, hour: int, now: datetime, *, staff: str = "bob@contoso.example") -> str:
    return services.create_booking(
        app.engine,
        business="contoso",
        service="consultation",
        staff=staff,
        customer=MAX,
        start=berlin(day, hour),
        origin=Origin.SELF_SERVICE,
        actor=STAFF,
        now=now,
        public_url=app.settings.public_url,
        **app.booking_kwargs(),
    ).ref


def reschedule(app: App, ref: str, start: datetime, staff: str | None, now: datetime) -> None:
    services.reschedule_booking(
        app.engine, ref, start=start, staff=staff, actor=STAFF, now=now, **app.booking_kwargs()
    )


def deliveries(app: App) -> list[WebhookDelivery]:
    with Session(app.engine) as session:
        return list(session.exec(select(WebhookDelivery).order_by(col(WebhookDelivery.id))))


def verified(receiver: Receiver, secret: str) -> list[dict[str, Any]]:
    """Every received body, each checked by the library's own verifier (it raises on a bad one)."""
    hook = Webhook(secret)
    return [hook.verify(request.body, request.headers) for request in receiver.requests]


def customer_email(app: App, ref: str, kind: str) -> EmailMessage:
    with Session(app.engine) as session:
        rows = session.exec(
            select(OutboxMessage).where(
                OutboxMessage.kind == kind, OutboxMessage.recipient == "max@example.de"
            )
        ).all()
    for row in reversed(rows):
        message = email.message_from_bytes(row.payload or b"", policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if message["X-Mailflow-Booking"] == ref:
            return message
    raise AssertionError(f"no {kind} for {ref}")


def reply(original: EmailMessage, text: str) -> bytes:
    answer = EmailMessage()
    answer["From"] = "Max Mustermann <max@example.de>"
    answer["To"] = str(original["Reply-To"])
    answer["Subject"] = f"AW: {original['Subject']}"
    answer["Message-ID"] = email.utils.make_msgid(domain="example.de")
    answer["In-Reply-To"] = str(original["Message-ID"])
    answer.set_content(f"{text}\n")
    return answer.as_bytes()


def feed(app: App, raw: bytes, now: datetime) -> None:
    store_raw(app.engine, raw, envelope_from="max@example.de", envelope_rcpt="", now=now)
    process_pending(app.mailroom, now)


def test_each_flow_gives_exactly_its_events_signed(
    app: App, receiver: Receiver, next_tuesday: date, now: datetime
) -> None:
    """Create, move, hand over, a message and a cancel by reply: one signed event each, in order."""
    _, secret = add(app, receiver, now, [*BOOKING_EVENTS, "customer.message"])
    ref = book(app, next_tuesday, 10, now)
    reschedule(app, ref, berlin(next_tuesday, 11), None, now)
    reschedule(app, ref, berlin(next_tuesday, 11), "carla@contoso.example", now)
    send_customer_message(app.engine, ref, "Can I bring my dog?", now=now, notifier=app.notifier)
    feed(app, reply(customer_email(app, ref, "confirmation"), "Stornieren"), now)
    report = deliver(app, now)

    bodies = verified(receiver, secret)
    assert [b["type"] for b in bodies] == [
        "booking.created",
        "booking.rescheduled",
        "booking.reassigned",
        "customer.message",
        "booking.cancelled",
    ]
    assert report.delivered == 5 and report.failed == 0
    created, moved, handed, message, cancelled = (b["data"] for b in bodies)
    assert created["actor"] == "staff" and "previous" not in created
    assert created["booking"] == services.get_booking(app.engine, ref).to_json() | {
        "status": "confirmed",
        "staff": "bob@contoso.example",
        "start": berlin(next_tuesday, 10).isoformat(),
        "end": berlin(next_tuesday, 10, 30).isoformat(),
        "sequence": 0,
    }
    assert moved["previous"]["start"] == berlin(next_tuesday, 10).isoformat()
    assert moved["booking"]["start"] == berlin(next_tuesday, 11).isoformat()
    assert handed["previous"]["staff"] == "bob@contoso.example"
    assert handed["booking"]["staff"] == "carla@contoso.example"
    assert message["actor"] == "customer_link" and message["message"]["text"] == "Can I bring my dog?"
    assert cancelled["actor"] == "customer_reply" and cancelled["booking"]["status"] == "cancelled"
    assert len({request.headers["webhook-id"] for request in receiver.requests}) == 5


def test_a_change_that_rolls_back_sends_nothing(
    app: App, receiver: Receiver, next_tuesday: date, now: datetime
) -> None:
    """A booking refused for a taken slot writes no delivery: the rows share the change's transaction."""
    add(app, receiver, now)
    book(app, next_tuesday, 10, now)
    with pytest.raises(BookingConflict):
        book(app, next_tuesday, 10, now)
    assert [row.event_type for row in deliveries(app)] == ["booking.created"]


def test_unsubscribed_and_other_business_endpoints_hear_nothing(
    app: App, receiver: Receiver, next_tuesday: date, now: datetime
) -> None:
    """An endpoint gets only the events it chose: a cancellation-only endpoint misses the creation."""
    add(app, receiver, now, ["booking.cancelled"])
    book(app, next_tuesday, 10, now)
    deliver(app, now)
    assert receiver.requests == []


def test_retries_after_500s_keep_one_webhook_id_and_verify(
    app: App, receiver: Receiver, next_tuesday: date, now: datetime
) -> None:
    """Two 500s, then 200: three attempts on the backoff schedule, one id, each signature valid."""
    _, secret = add(app, receiver, now, BOOKING_EVENTS)
    receiver.plan = [(500, 0.0), (503, 0.0)]
    book(app, next_tuesday, 10, now)
    assert deliver(app, now).retried == 1
    assert deliver(app, now + RETRY_SCHEDULE[0] - timedelta(seconds=1)).delivered == 0  # not due yet
    assert deliver(app, now + RETRY_SCHEDULE[0]).retried == 1
    later = now + RETRY_SCHEDULE[0] + RETRY_SCHEDULE[1]
    assert deliver(app, later).delivered == 1
    assert len(verified(receiver, secret)) == 3
    assert len({request.headers["webhook-id"] for request in receiver.requests}) == 1
    (row,) = deliveries(app)
    assert (row.status, row.attempts, row.last_status) == ("delivered", 3, 200)


def test_a_receiver_that_hangs_is_retried(
    app: App, receiver: Receiver, next_tuesday: date, now: datetime
) -> None:
    """An answer that does not come within the timeout counts as a failed attempt, retried later."""
    add(app, receiver, now, BOOKING_EVENTS)
    receiver.plan = [(200, 3.0)]
    book(app, next_tuesday, 10, now)
    assert deliver(app, now, timeout=0.5).retried == 1
    (row,) = deliveries(app)
    assert row.status == "pending" and row.last_status is None and "no answer" in (row.last_response or "")
    assert deliver(app, now + RETRY_SCHEDULE[0], timeout=0.5).delivered == 1
    assert len(receiver.requests) == 2


def test_events_of_one_booking_arrive_in_order(
    app: App, receiver: Receiver, next_tuesday: date, now: datetime
) -> None:
    """A later event of a booking waits while its earlier one is retried; another booking's does not."""
    add(app, receiver, now, BOOKING_EVENTS)
    first = book(app, next_tuesday, 10, now)
    reschedule(app, first, berlin(next_tuesday, 11), None, now)
    receiver.refuse_once = {first}
    other = book(app, next_tuesday, 14, now)
    deliver(app, now)  # the two creations go out together, the first one fails
    refs = [(r.json()["type"], r.json()["data"]["booking"]["ref"]) for r in receiver.requests]
    # the rescheduling is held back behind the failed creation; the other booking went through
    assert sorted(refs) == sorted([("booking.created", first), ("booking.created", other)])
    (failed,) = [row for row in deliveries(app) if row.status != "delivered" and row.attempts]
    assert failed.event_type == "booking.created" and failed.last_status == 500
    deliver(app, now + RETRY_SCHEDULE[0])
    refs = [(r.json()["type"], r.json()["data"]["booking"]["ref"]) for r in receiver.requests]
    assert refs[2:] == [("booking.created", first), ("booking.rescheduled", first)]


def test_an_endpoint_failing_for_a_day_is_disabled_and_admins_told(
    app: App, receiver: Receiver, next_tuesday: date, now: datetime
) -> None:
    """Every attempt answered 500: after the last retry (over a day) the endpoint is disabled, the
    delivery failed, the admins emailed; disabled it hears of nothing, enabled again it does."""
    endpoint_id, _ = add(app, receiver, now, BOOKING_EVENTS)
    receiver.default = 500
    book(app, next_tuesday, 10, now)
    at = now
    for pause in (timedelta(0), *RETRY_SCHEDULE):
        at += pause
        deliver(app, at)
    assert len(receiver.requests) == MAX_ATTEMPTS
    assert sum(RETRY_SCHEDULE, timedelta()) >= timedelta(days=1)
    view = webhooks.get_endpoint(app.engine, "contoso", endpoint_id)
    assert not view.enabled and view.consecutive_failures == MAX_ATTEMPTS
    assert [row.status for row in deliveries(app)] == ["failed"]
    with Session(app.engine) as session:
        notices = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "webhook_disabled")).all()
    assert [row.recipient for row in notices] == ["admin@contoso.example"]
    assert receiver.url.encode() in (notices[0].payload or b"")

    receiver.default = 200
    book(app, next_tuesday, 14, at)
    assert len(deliveries(app)) == 1  # disabled: hears of nothing
    webhooks.update_endpoint(app.engine, "contoso", endpoint_id, enabled=True, actor=STAFF, now=at)
    book(app, next_tuesday, 15, at)
    assert deliver(app, at).delivered == 1


def test_test_event_and_resend(app: App, receiver: Receiver, next_tuesday: date, now: datetime) -> None:
    """ "Send a test event" reaches the endpoint; a re-send repeats a delivery with the same id and body."""
    endpoint_id, secret = add(app, receiver, now, ["booking.cancelled"])
    webhooks.send_test_event(app.engine, "contoso", endpoint_id, actor=STAFF, now=now)
    deliver(app, now)
    (first,) = verified(receiver, secret)
    assert first["type"] == "webhook.test"
    (row,) = webhooks.list_deliveries(app.engine, "contoso", endpoint_id)
    assert row.status == "delivered" and row.last_status == 200 and '"received"' in (row.last_response or "")
    webhooks.resend_delivery(app.engine, "contoso", row.id, actor=STAFF, now=now)
    deliver(app, now)
    assert len(verified(receiver, secret)) == 2
    assert receiver.requests[0].headers["webhook-id"] == receiver.requests[1].headers["webhook-id"]
    assert receiver.requests[0].body == receiver.requests[1].body


def test_email_outcomes_are_events(
    db_url: str, tmp_path: Path, receiver: Receiver, smtp_sink: SmtpSink, next_tuesday: date, now: datetime
) -> None:
    """Emails the relay took: ``email.delivered``; refused: ``email.failed``; bounced: ``email.bounced``."""
    app = make_app(db_url, tmp_path, now, outbound=smtp_sink.url)
    try:
        _, secret = add(app, receiver, now, ["email.delivered", "email.failed", "email.bounced"])
        smtp_sink.handler.refuse["bob@contoso.example"] = "550 5.1.1 no such user"
        ref = book(app, next_tuesday, 10, now)
        asyncio.run(app.dispatcher.run_once(now))
        deliver(app, now)
        bodies = verified(receiver, secret)
        seen = sorted(
            (b["type"], b["data"]["email"]["kind"], b["data"]["email"]["recipient"]) for b in bodies
        )
        assert seen == [
            ("email.delivered", "booking_created", "admin@contoso.example"),
            ("email.delivered", "confirmation", "max@example.de"),
            ("email.failed", "booking_created", "bob@contoso.example"),
        ]
        assert all(b["data"]["booking"]["ref"] == ref and b["data"]["actor"] == "system" for b in bodies)

        confirmation = customer_email(app, ref, "confirmation")
        with Session(app.engine) as session:
            sent = session.exec(
                select(OutboxMessage).where(OutboxMessage.message_id == confirmation["Message-ID"])
            ).one()
        assert sent.id is not None
        return_path = ReturnPaths(app.secret_key, DOMAIN).address(sent.id, sent.message_id)
        dsn = (
            f"From: MAILER-DAEMON@mx.example.de\r\nTo: {return_path}\r\n"
            "Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
            "--b\r\nContent-Type: text/plain\r\n\r\nThis is the mail system.\r\n"
            "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.de\r\n\r\n"
            "Final-Recipient: rfc822; max@example.de\r\nAction: failed\r\nStatus: 5.1.1\r\n"
            "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
            "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
            f"Message-ID: {confirmation['Message-ID']}\r\n--b--\r\n"
        ).encode()
        store_raw(app.engine, dsn, envelope_from="", envelope_rcpt=return_path, now=now)
        process_pending(app.mailroom, now)
        deliver(app, now)
        bounced = verified(receiver, secret)[len(bodies) :]
        assert [b["type"] for b in bounced] == ["email.bounced"]
        assert bounced[0]["data"]["email"]["recipient"] == "max@example.de"
        assert bounced[0]["data"]["email"]["permanent"] is True
    finally:
        app.close()


def test_erasing_a_customer_wipes_their_webhook_bodies(
    app: App, receiver: Receiver, next_tuesday: date, now: datetime
) -> None:
    """An erased customer's details leave the delivery log, and what still waited is never sent."""
    add(app, receiver, now, BOOKING_EVENTS)
    receiver.default = 500
    ref = book(app, next_tuesday, 10, now)
    deliver(app, now)
    services.cancel_booking(app.engine, ref, reason=None, actor=STAFF, now=now, notifier=app.notifier)
    erase_customer(app.engine, "max@example.de", now)
    rows = deliveries(app)
    assert [row.status for row in rows] == ["failed", "failed"]
    assert all("max@example.de" not in row.payload and "Mustermann" not in row.payload for row in rows)
    assert deliver(app, now + RETRY_SCHEDULE[0]).delivered == 0


def test_housekeeping_drops_finished_deliveries_after_the_retention(
    app: App, receiver: Receiver, next_tuesday: date, now: datetime
) -> None:
    """Delivered deliveries older than the retention go; waiting ones stay whatever their age."""
    endpoint_id, _ = add(app, receiver, now, BOOKING_EVENTS)
    book(app, next_tuesday, 10, now)
    deliver(app, now)
    webhooks.update_endpoint(app.engine, "contoso", endpoint_id, enabled=False, actor=STAFF, now=now)
    webhooks.send_test_event(app.engine, "contoso", endpoint_id, actor=STAFF, now=now)
    receiver.default = 500
    deliver(app, now)  # a test event goes even to a disabled endpoint; this one fails, to be retried
    clean_up(app.engine, now + timedelta(days=31))
    assert [(row.event_type, row.status) for row in deliveries(app)] == [("webhook.test", "pending")]


def test_a_failure_planning_an_email_event_never_undoes_the_sent_email(
    app: App, receiver: Receiver, next_tuesday: date, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If queuing ``email.delivered`` breaks, the emails are still recorded as sent (never sent twice)."""

    def broken(*args: object, **kwargs: object) -> int:
        raise RuntimeError("injected")

    add(app, receiver, now, ["email.delivered"])
    book(app, next_tuesday, 10, now)
    monkeypatch.setattr(webhook_events, "plan_email_event", broken)
    report = asyncio.run(app.dispatcher.run_once(now))
    assert report.sent >= 2 and report.failed == 0
    with Session(app.engine) as session:
        assert {row.status for row in session.exec(select(OutboxMessage))} == {"sent"}
    assert deliveries(app) == []
