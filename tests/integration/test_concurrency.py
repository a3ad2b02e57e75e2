"""No double booking: concurrent attempts at one slot, exactly one wins."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from mailflow import services
from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.demo import seed_demo
from mailflow.errors import BookingConflict
from mailflow.store.engine import make_engine
from mailflow.store.tables import Booking
from tests.conftest import berlin

ATTEMPTS = 20


def _race(url: str, start: datetime, now: datetime, staff_for: list[str]) -> tuple[int, list[BaseException]]:
    """Start ATTEMPTS threads, each with its own engine, released at the same moment."""
    barrier = threading.Barrier(ATTEMPTS)
    wins: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def attempt(index: int) -> None:
        engine = make_engine(url)
        try:
            barrier.wait()
            view = services.create_booking(
                engine,
                business="contoso",
                service="haircut",
                staff=staff_for[index],
                customer=services.CustomerInput(email=f"c{index}@example.com", name=f"Customer {index}"),
                start=start,
                origin=Origin.SELF_SERVICE,
                actor=Actor(ActorKind.CUSTOMER_LINK, f"c{index}@example.com"),
                now=now,
                public_url="http://x",
                grid=timedelta(minutes=15),
                notifier=None,
            )
            with lock:
                wins.append(view.ref)
        except BaseException as exc:
            with lock:
                errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(ATTEMPTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return len(wins), errors


@pytest.mark.parametrize("db", ["postgres", "sqlite"])
def test_twenty_parallel_attempts_at_one_slot_book_it_once(
    db: str, request: pytest.FixtureRequest, next_tuesday: date, now: datetime
) -> None:
    """20 simultaneous bookings of one staff member's slot: one succeeds, 19 get a clear conflict."""
    engine: Engine = request.getfixturevalue("postgres_engine" if db == "postgres" else "sqlite_engine")
    seed_demo(engine, now)
    url = engine.url.render_as_string(hide_password=False)
    wins, errors = _race(url, berlin(next_tuesday, 10), now, ["bob@contoso.example"] * ATTEMPTS)
    assert wins == 1
    assert len(errors) == ATTEMPTS - 1
    assert all(isinstance(error, BookingConflict) for error in errors), errors
    assert all("taken" in str(error) for error in errors)
    with Session(engine) as session:
        assert len(session.exec(select(Booking)).all()) == 1


def test_postgres_constraint_refuses_overlap_even_without_the_check(
    postgres_engine: Engine, next_tuesday: date, now: datetime
) -> None:
    """The exclusion constraint itself rejects a second confirmed overlap written behind the core's back."""
    from sqlalchemy.exc import IntegrityError

    seed_demo(postgres_engine, now)
    view = services.create_booking(
        postgres_engine,
        business="contoso",
        service="haircut",
        staff="bob@contoso.example",
        customer=services.CustomerInput(email="a@example.com", name="A"),
        start=berlin(next_tuesday, 10),
        origin=Origin.STAFF,
        actor=Actor(ActorKind.STAFF),
        now=now,
        public_url="http://x",
        grid=timedelta(minutes=15),
        notifier=None,
    )
    with Session(postgres_engine) as session:
        original = session.exec(select(Booking).where(Booking.ref == view.ref)).one().model_dump()
        shift = timedelta(minutes=30)
        moved = {key: original[key] + shift for key in ("start", "end", "block_start", "block_end")}
        clone = Booking(**{**original, "id": None, "ref": "BK-CL0NE2", **moved})
        session.add(clone)
        with pytest.raises(IntegrityError, match="booking_no_overlap"):
            session.commit()
        session.rollback()
        # A cancelled booking may overlap: only confirmed ones occupy the calendar.
        clone2 = Booking(**{**original, "id": None, "ref": "BK-CL0NE3", **moved, "status": "cancelled"})
        session.add(clone2)
        session.commit()
