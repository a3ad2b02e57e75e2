"""Delivery through a real SMTP server: the emails each change produces, retries, rollbacks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from mailflow import services
from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.bootstrap import App, build
from mailflow.config import load_settings
from mailflow.demo import seed_demo
from mailflow.outbound.notifier import Notifier
from mailflow.runtime import run_once
from mailflow.store.tables import Booking, OutboxMessage, Reminder
from tests.conftest import SmtpSink, berlin, free_port

STAFF = Actor(ActorKind.STAFF, "admin@contoso.example")
CUSTOMER = Actor(ActorKind.CUSTOMER_LINK, "ada@example.com")


def make_app(db_url: str, outbound: str, data_dir: Path) -> App:
    settings = load_settings(
        {
            "MAILFLOW_DATABASE_URL": db_url,
            "MAILFLOW_OUTBOUND_URL": outbound,
            "MAILFLOW_DATA_DIR": str(data_dir),
            "MAILFLOW_PUBLIC_URL": "https://book.contoso.example",
        }
    )
    return build(settings)


@pytest.fixture
def app(db_url: str, smtp_sink: SmtpSink, tmp_path: Path, now: datetime) -> Iterator[App]:
    application = make_app(db_url, smtp_sink.url, tmp_path)
    seed_demo(application.engine, now)
    yield application
    application.close()


def create(app: App, day: date, hour: int, now: datetime, **kw: Any) -> str:
    return services.create_booking(
        app.engine,
        business="contoso",
        service=kw.get("service", "consultation"),
        staff=kw.get("staff", "bob@contoso.example"),
        customer=services.CustomerInput(
            email="ada@example.com", name="Ada Lovelace", locale=kw.get("locale")
        ),
        start=berlin(day, hour),
        origin=kw.get("origin", Origin.SELF_SERVICE),
        actor=kw.get("actor", CUSTOMER),
        now=now,
        public_url=app.settings.public_url,
        **app.booking_kwargs(),
    ).ref


def calendar_method(message: Any) -> str:
    """The METHOD of a message's text/calendar part."""
    part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    return str(part.get_param("method"))


def calendar_event(message: Any) -> Any:
    """The VEVENT of a message's text/calendar part, parsed by icalendar."""
    from icalendar import Calendar

    part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    return Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT")[0]


def received(sink: SmtpSink) -> list[tuple[str, str]]:
    """(recipient, kind) of every message the sink got, in order, then cleared."""
    got = [(str(m["To"].addresses[0].addr_spec), str(m["X-Mailflow-Kind"])) for m in sink.handler.parsed()]
    sink.handler.messages.clear()
    return got


def test_create_reschedule_cancel_send_exactly_the_right_emails(
    app: App, smtp_sink: SmtpSink, next_tuesday: date, now: datetime
) -> None:
    """Each change reaches the customer, the staff involved and the admin, once each, with the right kinds."""
    ref = create(app, next_tuesday, 10, now)
    report = run_once(app, now)
    assert report.dispatch.sent == 3
    assert sorted(received(smtp_sink)) == sorted(
        [
            ("admin@contoso.example", "booking_created"),
            ("ada@example.com", "confirmation"),
            ("bob@contoso.example", "booking_created"),
        ]
    )

    services.reschedule_booking(
        app.engine,
        ref,
        start=berlin(next_tuesday, 14),
        staff="carla@contoso.example",
        actor=CUSTOMER,
        now=now,
        **app.booking_kwargs(),
    )
    run_once(app, now)
    handed = {m["To"].addresses[0].addr_spec: m for m in smtp_sink.handler.parsed()}
    assert sorted(received(smtp_sink)) == sorted(
        [
            ("ada@example.com", "rescheduled"),
            ("admin@contoso.example", "booking_rescheduled"),
            ("bob@contoso.example", "booking_reassigned"),
            ("carla@contoso.example", "booking_reassigned"),
        ]
    )
    # A hand-over, not a cancellation: Bob's calendar drops it, Carla's gets it; the customer still comes.
    assert calendar_method(handed["bob@contoso.example"]) == "CANCEL"
    assert calendar_method(handed["carla@contoso.example"]) == "REQUEST"
    bob_event, carla_event = (
        calendar_event(handed[address]) for address in ("bob@contoso.example", "carla@contoso.example")
    )
    assert bob_event["UID"] == carla_event["UID"] and bob_event["SEQUENCE"] == carla_event["SEQUENCE"]
    assert str(bob_event["STATUS"]) == "CANCELLED" and bob_event["DTSTART"].dt == berlin(next_tuesday, 10)
    assert carla_event["DTSTART"].dt == berlin(next_tuesday, 14)
    assert str(handed["bob@contoso.example"]["Subject"]).startswith("Handed over to Carla")
    assert str(handed["carla@contoso.example"]["Subject"]).startswith("Assigned to you")
    bob_text = handed["bob@contoso.example"].get_body(("plain",)).get_content()
    assert "still comes" in bob_text and "cancelled" not in bob_text.lower()

    services.reschedule_booking(
        app.engine,
        ref,
        start=berlin(next_tuesday, 15),
        staff=None,
        actor=STAFF,
        now=now,
        **app.booking_kwargs(),
    )
    run_once(app, now)
    assert sorted(received(smtp_sink)) == sorted(
        [
            ("ada@example.com", "rescheduled"),
            ("admin@contoso.example", "booking_rescheduled"),
            ("carla@contoso.example", "booking_rescheduled"),
        ]
    )

    services.cancel_booking(app.engine, ref, reason="ill", actor=CUSTOMER, now=now, notifier=app.notifier)
    run_once(app, now)
    messages = smtp_sink.handler.parsed()
    assert sorted(received(smtp_sink)) == sorted(
        [
            ("ada@example.com", "cancelled"),
            ("admin@contoso.example", "booking_cancelled"),
            ("carla@contoso.example", "booking_cancelled"),
        ]
    )
    customer_copy = next(m for m in messages if m["To"].addresses[0].addr_spec == "ada@example.com")
    assert str(customer_copy["Subject"]).startswith("Cancelled as you asked")
    staff_copy = next(m for m in messages if m["To"].addresses[0].addr_spec == "carla@contoso.example")
    body = staff_copy.get_body(("plain",))
    assert body is not None and "ill" in body.get_content()
    assert run_once(app, now).dispatch.sent == 0  # nothing twice


def test_staff_emails_say_who_changed_it(
    app: App, smtp_sink: SmtpSink, next_tuesday: date, now: datetime
) -> None:
    """A change by staff is attributed to staff, one by the customer's link to the customer."""
    create(app, next_tuesday, 10, now, actor=STAFF, origin=Origin.STAFF)
    create(app, next_tuesday, 12, now)
    run_once(app, now)
    texts = [
        part.get_content()
        for message in smtp_sink.handler.parsed()
        if message["X-Mailflow-Kind"] == "booking_created"
        and message["To"].addresses[0].addr_spec.startswith("bob")
        for part in [message.get_body(("plain",))]
        if part is not None
    ]
    assert len(texts) == 2
    assert any("admin@contoso.example" in text for text in texts)
    assert any("manage page" in text for text in texts)


def test_relay_down_then_back_delivers_once_with_the_same_message_ids(
    db_url: str, tmp_path: Path, next_tuesday: date, now: datetime
) -> None:
    """While the relay is down rows wait with retry times; once it is back each is delivered once."""
    port = free_port()
    app = make_app(db_url, f"smtp://127.0.0.1:{port}?timeout=2", tmp_path)
    seed_demo(app.engine, now)
    create(app, next_tuesday, 10, now)
    report = run_once(app, now)
    assert (report.dispatch.sent, report.dispatch.retried) == (0, 3)
    with Session(app.engine) as session:
        rows = session.exec(select(OutboxMessage)).all()
        ids = {row.message_id for row in rows}
        assert all(row.status == "queued" and row.next_attempt_at > now and row.last_error for row in rows)
        assert all(row.attempts == 1 for row in rows)
    assert run_once(app, now).dispatch.sent == 0  # not due yet: nothing is hammered

    sink = SmtpSink(port).start()
    try:
        later = now + timedelta(hours=3)
        assert run_once(app, later).dispatch.sent == 3
        assert run_once(app, later).dispatch.sent == 0
        got = [str(m["Message-ID"]) for m in sink.handler.parsed()]
    finally:
        sink.stop()
        app.close()
    assert sorted(got) == sorted(ids)


def test_permanent_refusal_fails_at_once_and_tells_the_admins(
    app: App, smtp_sink: SmtpSink, next_tuesday: date, now: datetime
) -> None:
    """A 550 for the customer marks that email failed and queues delivery_failed for the admin."""
    smtp_sink.handler.refuse["ada@example.com"] = "550 5.1.1 no such user"
    create(app, next_tuesday, 10, now)
    report = run_once(app, now)
    assert report.dispatch.failed == 1 and report.dispatch.sent >= 2
    run_once(app, now)
    kinds = received(smtp_sink)
    assert ("admin@contoso.example", "delivery_failed") in kinds
    with Session(app.engine) as session:
        failed = session.exec(select(OutboxMessage).where(OutboxMessage.status == "failed")).one()
        assert failed.kind == "confirmation" and "550" in (failed.last_error or "")


def test_a_refusal_at_rcpt_flags_the_customer_as_a_hard_bounce_does(
    app: App, smtp_sink: SmtpSink, next_tuesday: date, now: datetime
) -> None:
    """Issue 21, item 6: 550 5.1.1 at RCPT marks Ada bouncing (audited), so her next booking's
    emails are not sent to her again; a 554 at DATA (the message, not the address) flags nobody;
    a staff address refused is no customer and flags nobody either."""
    from mailflow.store.tables import AuditEvent, Customer

    smtp_sink.handler.refuse["ada@example.com"] = "550 5.1.1 <ada@example.com>: Recipient address rejected"
    create(app, next_tuesday, 10, now)
    run_once(app, now)
    with Session(app.engine) as session:
        ada = session.exec(select(Customer).where(Customer.email == "ada@example.com")).one()
        assert ada.bouncing
        refused = session.exec(select(AuditEvent).where(AuditEvent.action == "bounce.refused")).one()
        assert refused.after is not None and "5.1.1" in refused.after["detail"]
    received(smtp_sink)
    create(app, next_tuesday, 12, now)
    run_once(app, now)
    assert "ada@example.com" not in [recipient for recipient, _ in received(smtp_sink)]


def test_a_refusal_of_the_message_or_of_staff_flags_no_customer(
    app: App, smtp_sink: SmtpSink, next_tuesday: date, now: datetime
) -> None:
    """Only the customer's address refused at RCPT flags it: a 5xx at DATA and a staff member's
    refused address fail their email and tell the admins, and flag nobody."""
    from mailflow.store.tables import Customer

    smtp_sink.handler.refuse["bob@contoso.example"] = "550 5.1.1 no such user"
    smtp_sink.handler.refuse_data = "554 5.7.1 message refused as spam"
    create(app, next_tuesday, 10, now)
    report = run_once(app, now)
    assert report.dispatch.failed >= 2
    with Session(app.engine) as session:
        assert not session.exec(select(Customer).where(col(Customer.bouncing).is_(True))).all()


class _ExplodingNotifier(Notifier):
    def notify(self, *args: Any, **kwargs: Any) -> None:
        super().notify(*args, **kwargs)
        raise RuntimeError("crash after the emails were queued")


def test_failure_after_the_action_leaves_no_booking_email_or_reminder(
    app: App, next_tuesday: date, now: datetime
) -> None:
    """When the transaction fails after notifying, nothing of the change remains."""
    exploding = _ExplodingNotifier(app.notifier.builder)
    with pytest.raises(RuntimeError):
        services.create_booking(
            app.engine,
            business="contoso",
            service="haircut",
            staff="bob@contoso.example",
            customer=services.CustomerInput(email="ada@example.com", name="Ada"),
            start=berlin(next_tuesday, 10),
            origin=Origin.STAFF,
            actor=STAFF,
            now=now,
            public_url=app.settings.public_url,
            grid=app.grid,
            notifier=exploding,
        )
    with Session(app.engine) as session:
        assert session.exec(select(Booking)).all() == []
        assert session.exec(select(OutboxMessage)).all() == []
        assert session.exec(select(Reminder)).all() == []


def test_bouncing_customer_gets_no_email_but_staff_do(
    app: App, smtp_sink: SmtpSink, next_tuesday: date, now: datetime
) -> None:
    """An address marked bouncing is skipped until staff fix it."""
    from mailflow.store.tables import Customer

    create(app, next_tuesday, 10, now)
    with Session(app.engine) as session:
        customer = session.exec(select(Customer)).one()
        customer.bouncing = True
        session.add(customer)
        session.commit()
    create(app, next_tuesday, 12, now)
    run_once(app, now)
    got = received(smtp_sink)
    assert got.count(("ada@example.com", "confirmation")) == 1
    assert got.count(("bob@contoso.example", "booking_created")) == 2


def test_a_booking_cancelled_by_the_business_says_we_had_to(
    app: App, smtp_sink: SmtpSink, next_tuesday: date, now: datetime
) -> None:
    """Staff cancel: the customer reads "we had to cancel", with the contact and a new booking."""
    ref = create(app, next_tuesday, 10, now)
    run_once(app, now)
    smtp_sink.handler.messages.clear()
    services.cancel_booking(app.engine, ref, reason=None, actor=STAFF, now=now, notifier=app.notifier)
    run_once(app, now)
    (customer_copy,) = [
        m for m in smtp_sink.handler.parsed() if m["To"].addresses[0].addr_spec == "ada@example.com"
    ]
    assert str(customer_copy["Subject"]).startswith("We had to cancel: Consultation, ")
    text = customer_copy.get_body(("plain",))
    assert text is not None
    assert "we had to cancel the appointment below" in text.get_content()
    assert "As you asked" not in text.get_content()
    assert "/book" in text.get_content() and "Questions? Call us at" in text.get_content()


def test_the_relay_is_greeted_with_the_public_hosts_name_and_probed_politely(
    sqlite_url: str, smtp_sink: SmtpSink, tmp_path: Path, now: datetime, next_tuesday: date
) -> None:
    """Issue 21, item 8: EHLO names the host of MAILFLOW_PUBLIC_URL (or MAILFLOW_OUTBOUND_HELO), not
    "localhost"; the /readyz probe greets the relay with EHLO and says QUIT instead of hanging up."""
    from mailflow.store.migrate import upgrade

    app = make_app(sqlite_url, smtp_sink.url, tmp_path)
    upgrade(app.engine)
    seed_demo(app.engine, now)
    create(app, next_tuesday, 10, now)
    run_once(app, now)
    assert smtp_sink.handler.messages and set(smtp_sink.handler.ehlo_names) == {"book.contoso.example"}
    smtp_sink.handler.ehlo_names.clear()
    quits = smtp_sink.handler.quits
    assert app.health["transport"]() == "ok"
    assert smtp_sink.handler.ehlo_names == ["book.contoso.example"]
    assert smtp_sink.handler.quits == quits + 1
    app.close()

    named = build(
        load_settings(
            {
                "MAILFLOW_DATABASE_URL": sqlite_url,
                "MAILFLOW_OUTBOUND_URL": smtp_sink.url,
                "MAILFLOW_DATA_DIR": str(tmp_path),
                "MAILFLOW_OUTBOUND_HELO": "mx1.contoso.example",
            }
        )
    )
    assert named.health["transport"]() == "ok"
    assert smtp_sink.handler.ehlo_names[-1] == "mx1.contoso.example"
    named.close()
    smtp_sink.stop()
    down = build(load_settings({"MAILFLOW_OUTBOUND_URL": smtp_sink.url, "MAILFLOW_DATA_DIR": str(tmp_path)}))
    assert down.health["transport"]().startswith(f"cannot reach the relay 127.0.0.1:{smtp_sink.port}")
    down.close()
