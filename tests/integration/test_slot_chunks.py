"""``slots_by_chunk``: the chunked search finds what one search over the range finds, and reads
the schedules beyond its first chunks only when the caller asks for more. Within an inbound
batch's transaction a search is read once, and a staff member's schedule again once a reply of the
batch changed one of their bookings."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import chain, islice
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import Session, select

from mailflow import services
from mailflow.booking.model import Actor, ActorKind, BookingStatus, Origin
from mailflow.bootstrap import App
from mailflow.services.free_slots import slots_by_chunk
from mailflow.services.inbound import pipeline_transaction
from mailflow.store import queries
from mailflow.store.tables import Business, Service
from tests.conftest import BERLIN, berlin

CUSTOMER = services.CustomerInput(email="max@example.de", name="Max Mustermann", locale="de")


@pytest.fixture
def app(demo_app: App) -> App:
    return demo_app


def _book(app: App, day: date, hour: int, staff: str, now: datetime) -> str:
    return services.create_booking(
        app.engine,
        business="contoso",
        service="consultation",
        staff=staff,
        customer=CUSTOMER,
        start=berlin(day, hour),
        origin=Origin.STAFF,
        actor=Actor(ActorKind.STAFF, "test"),
        now=now,
        public_url=app.settings.public_url,
        **app.booking_kwargs(),
    ).ref


def _busy_reads(app: App) -> list[str]:
    """The statements that read bookings, recorded as they run."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if "FROM booking" in statement and "block_start" in statement:
            seen.append(statement)

    event.listen(app.engine, "before_cursor_execute", record)
    return seen


@pytest.mark.parametrize("first_chunks", [1, 2, 3, 7])
def test_chunks_find_what_one_search_finds(app: App, now: datetime, first_chunks: int) -> None:
    first = now.astimezone(BERLIN).date() + timedelta(days=1)
    # Bookings on both sides of every load boundary the parameters make (days 3, 6, 9, 21).
    for offset in (2, 3, 5, 6, 8, 9, 13):
        day = first + timedelta(days=offset)
        if day.weekday() < 5:
            _book(app, day, 10, "bob@contoso.example", now)
            _book(app, day, 11, "carla@contoso.example", now)
    last = first + timedelta(days=20)
    with Session(app.engine) as session:
        business = session.exec(select(Business)).one()
        service = session.exec(select(Service).where(Service.slug == "consultation")).one()
        whole = services.find_slots(
            session, business, service, day_from=first, day_to=last, now=now, grid=app.grid
        )
        chunks = slots_by_chunk(
            session,
            business,
            service,
            day_from=first,
            day_to=last,
            chunk_days=3,
            first_chunks=first_chunks,
            now=now,
            grid=app.grid,
        )
        assert whole
        assert list(chain.from_iterable(chunk.offered() for chunk in chunks)) == whole


def test_later_schedules_are_read_only_when_asked_for(app: App, now: datetime) -> None:
    first = now.astimezone(BERLIN).date() + timedelta(days=1)
    with Session(app.engine) as session:
        business = session.exec(select(Business)).one()
        service = session.exec(select(Service).where(Service.slug == "consultation")).one()
        staff_count = len(list(queries.staff_for_service(session, service)))
        reads = _busy_reads(app)
        chunks = slots_by_chunk(
            session,
            business,
            service,
            day_from=first,
            day_to=first + timedelta(days=20),
            chunk_days=3,
            first_chunks=2,
            now=now,
            grid=app.grid,
        )
        list(islice(chunks, 2))
        assert len(reads) == staff_count  # one read per staff member, for the first six days
        list(islice(chunks, 1))
        assert len(reads) == 2 * staff_count  # the rest of the three weeks, once asked for
        list(chunks)
        assert len(reads) == 2 * staff_count


BOB, CARLA = "bob@contoso.example", "carla@contoso.example"
REPLY = Actor(ActorKind.CUSTOMER_REPLY, CUSTOMER.email)


@dataclass
class Batch:
    """A pipeline transaction with bob booked at 10:00 on the next weekday, and its searches."""

    app: App
    session: Session
    business: Business
    service: Service
    day: date
    ref: str
    now: datetime

    @property
    def ten(self) -> datetime:
        return berlin(self.day, 10)

    def starts(self) -> dict[str, list[datetime]]:
        """The free starts of that day by staff member, searched within the transaction (and
        nothing else run: an ORM query of its own would flush what the search must)."""
        found = services.find_slots(
            self.session,
            self.business,
            self.service,
            day_from=self.day,
            day_to=self.day,
            now=self.now,
            grid=self.app.grid,
        )
        by_staff: dict[str, list[datetime]] = {}
        for slot in found:
            by_staff.setdefault(slot.staff_email, []).append(slot.start)
        return by_staff


@pytest.fixture
def batch(app: App, now: datetime) -> Iterator[Batch]:
    day = now.astimezone(BERLIN).date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    ref = _book(app, day, 10, BOB, now)
    with pipeline_transaction(app.engine) as session:
        business = session.exec(select(Business)).one()
        service = session.exec(select(Service).where(Service.slug == "consultation")).one()
        yield Batch(app, session, business, service, day, ref, now)


def test_a_batch_reads_a_search_once_until_a_booking_changes(app: App, batch: Batch) -> None:
    staff_count = len(list(queries.staff_for_service(batch.session, batch.service)))
    reads = _busy_reads(app)
    before = batch.starts()[BOB]
    assert batch.ten not in before and before
    assert batch.starts()[BOB] == before
    assert len(reads) == staff_count  # the second search read nothing
    services.cancel_booking(
        app.engine, batch.ref, reason=None, actor=REPLY, now=batch.now, notifier=None, within=batch.session
    )
    reads.clear()
    after = batch.starts()[BOB]
    assert len(reads) == 1  # bob's schedule read again after the cancellation's flush, carla's kept
    assert batch.ten in after
    assert set(before) < set(after)  # the times the booking's block held are free again


def test_pending_changes_and_rolled_back_savepoints_are_not_remembered(batch: Batch) -> None:
    before = batch.starts()[BOB]
    booking = queries.booking_by_ref(batch.session, batch.ref)
    booking.status = BookingStatus.CANCELLED.value  # not flushed: the search flushes it, as autoflush would
    assert batch.ten in batch.starts()[BOB]
    booking.status = BookingStatus.CONFIRMED.value
    assert batch.starts()[BOB] == before
    savepoint = batch.session.begin_nested()
    booking.status = BookingStatus.CANCELLED.value
    batch.session.flush()
    assert batch.ten in batch.starts()[BOB]  # seen inside the savepoint
    savepoint.rollback()
    assert batch.starts()[BOB] == before  # the cancellation was undone, and so is what it freed


def test_a_booking_moved_to_another_staff_member_in_a_batch_frees_and_takes_the_right_times(
    app: App, batch: Batch
) -> None:
    before = batch.starts()
    assert batch.ten not in before[BOB] and batch.ten in before[CARLA]
    services.reschedule_booking(
        app.engine,
        batch.ref,
        start=batch.ten,
        staff=CARLA,
        actor=REPLY,
        now=batch.now,
        grid=app.grid,
        notifier=None,
        within=batch.session,
    )
    after = batch.starts()
    assert batch.ten in after[BOB]  # the former staff member's schedule read again
    assert batch.ten not in after[CARLA]
