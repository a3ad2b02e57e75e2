"""Service functions behind the customer pages and the admin calendar, on real SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from mailflow import services
from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.bootstrap import App
from mailflow.errors import InvalidInput
from mailflow.services import calendar, customers, manage
from mailflow.store.engine import read_session, write_session
from mailflow.store.tables import AuditEvent, Customer, OutboxMessage
from tests.conftest import berlin, demo_app_on

ADMIN = Actor(ActorKind.STAFF, "admin@contoso.example")


@pytest.fixture
def app(sqlite_engine: Engine, sqlite_url: str, tmp_path: Path, now: datetime) -> Iterator[App]:
    """The demo business on a fresh migrated SQLite database, emails kept in memory."""
    with demo_app_on(sqlite_url, tmp_path, now) as application:
        yield application


def book(app: App, email: str, start: datetime, now: datetime, service: str = "consultation") -> str:
    view = services.create_booking(
        app.engine,
        business="contoso",
        service=service,
        staff="bob@contoso.example",
        customer=services.CustomerInput(email=email, name=email.split("@")[0].title()),
        start=start,
        origin=Origin.SELF_SERVICE,
        actor=Actor(ActorKind.CUSTOMER_LINK, email),
        now=now,
        public_url=app.settings.public_url,
        **app.booking_kwargs(),
    )
    return view.ref


def audits(engine: Engine, action: str) -> list[AuditEvent]:
    with read_session(engine) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)).all())


def confirmations(engine: Engine, recipient: str) -> int:
    with read_session(engine) as session:
        rows = session.exec(
            select(OutboxMessage).where(
                OutboxMessage.recipient == recipient, OutboxMessage.kind == "confirmation"
            )
        ).all()
    return len(rows)


def set_bouncing(engine: Engine, email: str) -> None:
    with write_session(engine) as session:
        customer = session.exec(select(Customer).where(Customer.email == email)).one()
        customer.bouncing = True
        session.add(customer)


def test_correcting_an_address_is_audited_with_before_and_after(
    app: App, next_tuesday: date, now: datetime
) -> None:
    """The new address is stored lower case, the bounce flag cleared, and the audit shows both values."""
    ref = book(app, "ada@exmaple.org", berlin(next_tuesday, 10), now)
    set_bouncing(app.engine, "ada@exmaple.org")
    stored = customers.correct_customer_address(app.engine, ref, " Ada@Example.org ", actor=ADMIN, now=now)
    assert stored == "ada@example.org"
    [event] = audits(app.engine, "customer.address_corrected")
    assert event.actor_label == ADMIN.label
    assert event.before == {"email": "ada@exmaple.org", "bouncing": True}
    assert event.after == {"email": "ada@example.org", "bouncing": False}


def test_an_address_another_customer_has_is_refused(app: App, next_tuesday: date, now: datetime) -> None:
    """A clash with another customer's address is InvalidInput on the email field; nothing changes."""
    ref = book(app, "ada@example.org", berlin(next_tuesday, 10), now)
    book(app, "grace@example.org", berlin(next_tuesday, 11), now)
    with pytest.raises(InvalidInput, match="already has the address") as refused:
        customers.correct_customer_address(app.engine, ref, "grace@example.org", actor=ADMIN, now=now)
    assert refused.value.field == "email"
    assert services.get_booking(app.engine, ref).customer_email == "ada@example.org"
    assert audits(app.engine, "customer.address_corrected") == []


def test_erasing_removes_the_old_address_from_a_correction_audit(
    app: App, next_tuesday: date, now: datetime
) -> None:
    """After erasure the correction's audit no longer holds either address; the erasure is audited."""
    ref = book(app, "ada@exmaple.org", berlin(next_tuesday, 10), now)
    customers.correct_customer_address(app.engine, ref, "ada@example.org", actor=ADMIN, now=now)
    services.cancel_booking(app.engine, ref, reason=None, actor=ADMIN, now=now, notifier=None)
    customers.erase_customer(app.engine, "ada@example.org", now)
    [event] = audits(app.engine, "customer.address_corrected")
    assert "example.org" not in str(event.before) + str(event.after)
    [erased] = audits(app.engine, "customer.erased")
    assert erased.after is not None and "example.org" not in str(erased.after)


def test_resending_a_confirmation_queues_it_and_is_audited(
    app: App, next_tuesday: date, now: datetime
) -> None:
    """The admin's resend adds one confirmation email and a ``booking.confirmation_resent`` audit."""
    ref = book(app, "ada@example.org", berlin(next_tuesday, 10), now)
    before = confirmations(app.engine, "ada@example.org")
    calendar.resend_confirmation(app.engine, ref, actor=ADMIN, now=now, notifier=app.notifier)
    assert confirmations(app.engine, "ada@example.org") == before + 1
    assert [e.actor_label for e in audits(app.engine, "booking.confirmation_resent")] == [ADMIN.label]


def test_resending_to_a_bouncing_address_is_refused(app: App, next_tuesday: date, now: datetime) -> None:
    """A bouncing customer gets nothing: InvalidInput that says to correct the address first."""
    ref = book(app, "ada@example.org", berlin(next_tuesday, 10), now)
    set_bouncing(app.engine, "ada@example.org")
    with pytest.raises(InvalidInput, match="Correct the address"):
        calendar.resend_confirmation(app.engine, ref, actor=ADMIN, now=now, notifier=app.notifier)
    assert audits(app.engine, "booking.confirmation_resent") == []


def test_find_my_booking_resends_only_upcoming_confirmed_bookings(
    app: App, next_tuesday: date, now: datetime
) -> None:
    """``resend_links`` counts and queues the upcoming confirmed bookings; a cancelled one is skipped."""
    book(app, "ada@example.org", berlin(next_tuesday, 10), now)
    cancelled = book(app, "ada@example.org", berlin(next_tuesday + timedelta(days=1), 10), now)
    services.cancel_booking(app.engine, cancelled, reason=None, actor=ADMIN, now=now, notifier=None)
    assert manage.resend_links(app.engine, "ada@example.org", now=now, notifier=app.notifier) == 1
    assert manage.resend_links(app.engine, "nobody@example.org", now=now, notifier=app.notifier) == 0


def test_a_manage_link_opens_its_booking_and_a_wrong_one_nothing(
    app: App, next_tuesday: date, now: datetime
) -> None:
    """The token of a booking's ``manage_url`` opens it; a made-up token gives None."""
    view = services.create_booking(
        app.engine,
        business="contoso",
        service="consultation",
        staff="bob@contoso.example",
        customer=services.CustomerInput(email="ada@example.org", name="Ada"),
        start=berlin(next_tuesday, 10),
        origin=Origin.STAFF,
        actor=ADMIN,
        now=now,
        public_url=app.settings.public_url,
        **app.booking_kwargs(),
    )
    assert view.manage_url is not None
    token = view.manage_url.rsplit("/", 1)[1]
    with read_session(app.engine) as session:
        facts = manage.open_manage_link(session, token, now)
        assert manage.open_manage_link(session, "x" * len(token), now) is None
    assert facts is not None and facts.booking.ref == view.ref
    page = manage.manage_page(facts, "en", now)
    assert page.summary.ref == view.ref and page.decision.allowed
