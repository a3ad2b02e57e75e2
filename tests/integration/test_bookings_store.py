"""Booking use cases on a real database, SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from mailflow import services
from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.booking.tokens import hash_token
from mailflow.errors import BookingConflict, InvalidInput, NotFound, PolicyRefused, SlotUnavailable
from mailflow.store.links import rows_for_token
from mailflow.store.tables import AuditEvent, Booking, BusinessClosure, Customer, ManageToken
from tests.conftest import berlin

STAFF = Actor(ActorKind.STAFF, "cli")
CUSTOMER = Actor(ActorKind.CUSTOMER_LINK, "ada@example.com")
GRID = timedelta(minutes=15)
PUBLIC = "https://book.example.com"


def book(engine: Engine, start: datetime, now: datetime, **overrides: object) -> services.BookingView:
    values: dict[str, object] = {
        "business": "contoso",
        "service": "haircut",
        "staff": "bob@contoso.example",
        "customer": services.CustomerInput(email="Ada@Example.com", name="Ada Lovelace"),
        "start": start,
        "origin": Origin.STAFF,
        "actor": STAFF,
        "now": now,
        "public_url": PUBLIC,
        "grid": GRID,
        "notifier": None,
    }
    values.update(overrides)
    return services.create_booking(engine, **values)  # type: ignore[arg-type]


def test_create_stores_booking_customer_token_and_audit(
    demo_engine: Engine, next_tuesday: date, now: datetime
) -> None:
    """One create writes the booking, the customer, a hashed token and an audit event."""
    view = book(demo_engine, berlin(next_tuesday, 10), now)
    data = view.to_json()
    assert data["status"] == "confirmed" and data["origin"] == "staff"
    assert data["service"] == "haircut" and data["staff"] == "bob@contoso.example"
    assert data["customer"] == {
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "locale": "en",
        "timezone": "Europe/Berlin",
    }
    assert data["start"] == berlin(next_tuesday, 10).isoformat()
    assert data["end"] == berlin(next_tuesday, 10, 45).isoformat()
    assert data["sequence"] == 0
    token = data["manage_url"].removeprefix(f"{PUBLIC}/m/")
    assert "?" not in token and len(token) == 43
    with Session(demo_engine) as session:
        row = session.exec(select(Booking).where(Booking.ref == view.ref)).one()
        assert row.start.tzinfo is not None and row.start == berlin(next_tuesday, 10)
        stored = session.exec(select(ManageToken).where(ManageToken.booking_id == row.id)).one()
        assert stored.token_hash == hash_token(token)
        audit = session.exec(select(AuditEvent).where(AuditEvent.booking_id == row.id)).one()
        assert (audit.action, audit.actor_kind, audit.before) == ("booking.created", "staff", None)
        assert audit.after is not None and audit.after["staff"] == "bob@contoso.example"


def test_manage_token_opens_its_booking_only(demo_engine: Engine, next_tuesday: date, now: datetime) -> None:
    """The token from the manage URL finds the booking; a tampered or expired one finds nothing."""
    view = book(demo_engine, berlin(next_tuesday, 10), now)
    assert view.manage_url is not None
    token = view.manage_url.rsplit("/", 1)[1]
    with Session(demo_engine) as session:
        found = rows_for_token(session, token, now)
        assert found is not None and found[0].ref == view.ref
        assert rows_for_token(session, token[:-1] + ("x" if token[-1] != "x" else "y"), now) is None
        after_end = berlin(next_tuesday, 10, 45) + timedelta(days=2)
        assert rows_for_token(session, token, after_end) is None


def test_taken_slot_and_outside_hours_are_refused(
    demo_engine: Engine, next_tuesday: date, now: datetime
) -> None:
    """A second booking overlapping the first, or one at 20:00, fails with a stable problem code."""
    book(demo_engine, berlin(next_tuesday, 10), now)
    with pytest.raises(SlotUnavailable) as taken:
        book(
            demo_engine,
            berlin(next_tuesday, 10, 30),
            now,
            customer=services.CustomerInput("g@example.com", "G"),
        )
    assert taken.value.problem == "taken"
    with pytest.raises(SlotUnavailable) as late:
        book(demo_engine, berlin(next_tuesday, 20), now)
    assert late.value.problem == "outside_working_hours"
    # Another staff member is free at the same time.
    other = book(demo_engine, berlin(next_tuesday, 10), now, staff="carla@contoso.example")
    assert other.staff == "carla@contoso.example"


def test_business_closure_blocks_the_day(demo_engine: Engine, next_tuesday: date, now: datetime) -> None:
    """A holiday of the business makes its day unbookable."""
    with Session(demo_engine) as session:
        session.add(
            BusinessClosure(business_id=1, start_date=next_tuesday, end_date=next_tuesday, label="Holiday")
        )
        session.commit()
    with pytest.raises(SlotUnavailable) as caught:
        book(demo_engine, berlin(next_tuesday, 10), now)
    assert caught.value.problem == "closed"


def test_unknown_names_and_bad_customer_details_are_clear(
    demo_engine: Engine, next_tuesday: date, now: datetime
) -> None:
    """Unknown service or staff, a bad email, a foreign locale or zone: each says what is wrong."""
    start = berlin(next_tuesday, 10)
    with pytest.raises(NotFound, match="service 'massage'"):
        book(demo_engine, start, now, service="massage")
    with pytest.raises(NotFound, match="staff member"):
        book(demo_engine, start, now, staff="zoe@contoso.example")
    with pytest.raises(InvalidInput, match="does not perform"):
        book(demo_engine, start, now, staff="admin@contoso.example")
    with pytest.raises(InvalidInput, match="email"):
        book(demo_engine, start, now, customer=services.CustomerInput("not-an-address", "X"))
    with pytest.raises(InvalidInput, match="locale"):
        book(demo_engine, start, now, customer=services.CustomerInput("x@example.com", "X", locale="fr"))
    with pytest.raises(InvalidInput, match="time zone"):
        book(
            demo_engine,
            start,
            now,
            customer=services.CustomerInput("x@example.com", "X", timezone="Mars/Base"),
        )
    with Session(demo_engine) as session:
        assert session.exec(select(Booking)).all() == []


def test_reschedule_moves_staff_keeps_token_valid_and_audits(
    demo_engine: Engine, next_tuesday: date, now: datetime
) -> None:
    """Staff move a booking to Carla: sequence rises, the old manage link still works until the new end."""
    view = book(demo_engine, berlin(next_tuesday, 10), now)
    assert view.manage_url is not None
    token = view.manage_url.rsplit("/", 1)[1]
    later_day = next_tuesday + timedelta(days=7)
    moved = services.reschedule_booking(
        demo_engine,
        view.ref,
        start=berlin(later_day, 14),
        staff="carla@contoso.example",
        actor=STAFF,
        now=now,
        grid=GRID,
        notifier=None,
    )
    assert (moved.staff, moved.sequence, moved.ref) == ("carla@contoso.example", 1, view.ref)
    assert moved.start == berlin(later_day, 14)
    with Session(demo_engine) as session:
        assert rows_for_token(session, token, berlin(later_day, 12)) is not None
        actions = session.exec(select(AuditEvent.action).where(AuditEvent.booking_id != None)).all()  # noqa: E711
        assert actions == ["booking.created", "booking.rescheduled"]
    # The old slot is free again: another customer can take it.
    book(
        demo_engine, berlin(next_tuesday, 10), now, customer=services.CustomerInput("g@example.com", "Grace")
    )


def test_customer_is_held_to_the_policy_on_staff_bookings(
    demo_engine: Engine, next_tuesday: date, now: datetime
) -> None:
    """A customer cannot cancel a staff-made haircut (setting off) but can cancel a consultation (on)."""
    haircut = book(demo_engine, berlin(next_tuesday, 10), now)
    with pytest.raises(PolicyRefused) as caught:
        services.cancel_booking(demo_engine, haircut.ref, reason=None, actor=CUSTOMER, now=now, notifier=None)
    assert caught.value.reason == "origin_staff_and_setting_off"
    consult = book(demo_engine, berlin(next_tuesday, 12), now, service="consultation")
    cancelled = services.cancel_booking(
        demo_engine, consult.ref, reason="busy", actor=CUSTOMER, now=now, notifier=None
    )
    assert cancelled.status == "cancelled" and cancelled.sequence == 1
    assert services.get_booking(demo_engine, haircut.ref).status == "confirmed"


def test_cancel_frees_the_slot_and_lists_everything(
    demo_engine: Engine, next_tuesday: date, now: datetime
) -> None:
    """After a cancel the slot can be booked again, and the list shows both bookings in order."""
    first = book(demo_engine, berlin(next_tuesday, 10), now)
    services.cancel_booking(demo_engine, first.ref, reason="ill", actor=STAFF, now=now, notifier=None)
    second = book(
        demo_engine, berlin(next_tuesday, 10), now, customer=services.CustomerInput("g@example.com", "Grace")
    )
    listed = services.list_bookings(demo_engine)
    assert [(v.ref, v.status) for v in listed] == [(first.ref, "cancelled"), (second.ref, "confirmed")]
    tomorrow_after = berlin(next_tuesday + timedelta(days=1), 0)
    assert services.list_bookings(demo_engine, start_from=tomorrow_after) == []
    with Session(demo_engine) as session:
        assert len(session.exec(select(Customer)).all()) == 2


def test_buffers_block_the_neighbouring_slot(demo_engine: Engine, next_tuesday: date, now: datetime) -> None:
    """With a 15-minute buffer after haircuts, a booking right after one is refused."""
    with Session(demo_engine) as session:
        from mailflow.store.tables import Service

        haircut = session.exec(select(Service).where(Service.slug == "haircut")).one()
        haircut.buffer_after_minutes = 15
        session.add(haircut)
        session.commit()
    book(demo_engine, berlin(next_tuesday, 10), now)
    with pytest.raises(BookingConflict):
        book(
            demo_engine,
            berlin(next_tuesday, 10, 45),
            now,
            customer=services.CustomerInput("g@example.com", "G"),
        )
    assert book(
        demo_engine, berlin(next_tuesday, 11), now, customer=services.CustomerInput("g@example.com", "G")
    )
