"""The set-up use cases (business, services, staff, hours, time off, closures) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from mailflow import services
from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.errors import InvalidInput, NotFound, SlotUnavailable
from mailflow.outbound.message import EmailBuilder, MailSettings
from mailflow.outbound.notifier import Notifier
from mailflow.services import business as businesses
from mailflow.services import catalog, closures, staff, time_off
from mailflow.store.engine import read_session
from mailflow.store.tables import AuditEvent, Booking, OutboxMessage, Reminder
from tests.conftest import next_weekday

ADMIN = Actor(ActorKind.STAFF, "owner@city.example")
BERLIN = ZoneInfo("Europe/Berlin")
GRID = timedelta(minutes=15)


@pytest.fixture
def notifier() -> Notifier:
    return Notifier(EmailBuilder(MailSettings("http://127.0.0.1:8000", "mailflow.localhost")))


@pytest.fixture
def city(engine: Engine, now: datetime) -> Engine:
    """A business set up from nothing through the service layer: two staff, one service in en and de."""
    businesses.create_business(
        engine,
        slug="city",
        name="City Salon",
        timezone="Europe/Berlin",
        locale="en",
        languages=["en", "de"],
        phone="+49 30 999",
        email="hello@city.example",
        actor=ADMIN,
        now=now,
    )
    weekdays = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
    staff.add_staff(
        engine, "city", email="owner@city.example", name="Olga", role="admin", actor=ADMIN, now=now
    )
    staff.add_staff(
        engine, "city", email="ben@city.example", name="Ben", hours=weekdays, actor=ADMIN, now=now
    )
    catalog.create_service(
        engine,
        "city",
        slug="cut",
        values={
            "names": {"en": "Haircut", "de": "Haarschnitt"},
            "duration": 45,
            "staff": ["ben@city.example"],
            "reminders": [1440],
        },
        actor=ADMIN,
        now=now,
    )
    return engine


def _book(
    engine: Engine, start: datetime, now: datetime, notifier: Notifier | None = None, **kw: object
) -> str:
    view = services.create_booking(
        engine,
        business="city",
        service="cut",
        staff="ben@city.example",
        customer=services.CustomerInput(
            str(kw.get("email", "ada@example.com")), "Ada", locale=kw.get("locale")
        ),  # type: ignore[arg-type]
        start=start,
        origin=Origin.SELF_SERVICE,
        actor=Actor(ActorKind.CUSTOMER_LINK),
        now=now,
        public_url="http://127.0.0.1:8000",
        grid=GRID,
        notifier=notifier,
    )
    return view.ref


def _actions(engine: Engine) -> list[str]:
    with read_session(engine) as session:
        return list(session.exec(select(AuditEvent.action).order_by(col(AuditEvent.id))))


def _tuesday(now: datetime, hour: int, minute: int = 0) -> datetime:
    day = next_weekday(now.astimezone(BERLIN).date() + timedelta(days=7), 1)
    return datetime.combine(day, time(hour, minute), BERLIN)


# --- business -------------------------------------------------------------------------------


def test_business_created_from_nothing_is_audited(city: Engine) -> None:
    """Creating the business, its staff and service each leaves an audit event."""
    assert _actions(city)[:4] == ["business.created", "staff.added", "staff.added", "service.created"]


def test_business_slug_in_use_is_refused_naming_the_field(city: Engine, now: datetime) -> None:
    """A second business with the same slug is refused, with the field named."""
    with pytest.raises(InvalidInput) as caught:
        businesses.create_business(
            city, slug="city", name="X", timezone="Europe/Berlin", actor=ADMIN, now=now
        )
    assert caught.value.field == "slug"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"locale": "xx"}, "locale"),
        ({"languages": ["en", "tlh"]}, "languages"),
        ({"slug": "Bad Slug"}, "slug"),
        ({"email": "not-an-address"}, "email"),
    ],
)
def test_business_bad_values_name_their_field_and_store_nothing(
    engine: Engine, now: datetime, values: dict[str, object], field: str
) -> None:
    """Unknown zone or language, a malformed slug or address: refused, field named, nothing stored."""
    given: dict[str, object] = {"slug": "new", "name": "New", "timezone": "Europe/Berlin", **values}
    with pytest.raises(InvalidInput) as caught:
        businesses.create_business(engine, actor=ADMIN, now=now, **given)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert businesses.list_businesses(engine) == []


def test_business_change_instructions_per_language(city: Engine, now: datetime) -> None:
    """Change instructions are kept per language; an empty text removes one."""
    businesses.update_business(
        city, "city", {"change_instructions": {"en": "Call us.", "de": "Rufen Sie an."}}, actor=ADMIN, now=now
    )
    view = businesses.update_business(city, "city", {"change_instructions": {"en": ""}}, actor=ADMIN, now=now)
    assert view.change_instructions == {"de": "Rufen Sie an."}


# --- services -------------------------------------------------------------------------------


def test_service_without_staff_is_refused(city: Engine, now: datetime) -> None:
    """A service nobody performs could never be booked: refused, naming the staff field."""
    with pytest.raises(InvalidInput) as caught:
        catalog.create_service(
            city,
            "city",
            slug="color",
            values={"names": {"en": "Colour"}, "duration": 60, "staff": []},
            actor=ADMIN,
            now=now,
        )
    assert caught.value.field == "staff"
    assert [s.slug for s in catalog.list_services(city, "city")] == ["cut"]


def test_service_name_in_a_language_the_business_does_not_offer_is_refused(
    city: Engine, now: datetime
) -> None:
    """Names are accepted only in the business's languages."""
    with pytest.raises(InvalidInput) as caught:
        catalog.update_service(city, "city", "cut", {"names": {"fr": "Coupe"}}, actor=ADMIN, now=now)
    assert caught.value.field == "names"


def test_service_slug_in_use_is_refused(city: Engine, now: datetime) -> None:
    """Two services of one business cannot share a slug."""
    with pytest.raises(InvalidInput) as caught:
        catalog.create_service(
            city,
            "city",
            slug="cut",
            values={"names": {"en": "Cut"}, "duration": 30, "staff": ["ben@city.example"]},
            actor=ADMIN,
            now=now,
        )
    assert caught.value.field == "slug"


def test_archived_service_keeps_its_bookings_and_is_not_deleted(city: Engine, now: datetime) -> None:
    """Archiving hides a service but keeps it and its bookings."""
    ref = _book(city, _tuesday(now, 10), now)
    view = catalog.archive_service(city, "city", "cut", actor=ADMIN, now=now)
    assert view.active is False
    assert services.get_booking(city, ref).status == "confirmed"
    assert catalog.get_service(city, "city", "cut").active is False


def test_new_duration_applies_to_new_bookings_only(city: Engine, now: datetime) -> None:
    """A booking made before the duration changed keeps its end."""
    ref = _book(city, _tuesday(now, 10), now)
    catalog.update_service(city, "city", "cut", {"duration": 60}, actor=ADMIN, now=now)
    assert services.get_booking(city, ref).end == _tuesday(now, 10, 45)
    later = _book(city, _tuesday(now, 12), now, email="grace@example.com")
    assert services.get_booking(city, later).end == _tuesday(now, 13)


def _pending(engine: Engine, ref: str) -> list[int]:
    with read_session(engine) as session:
        booking = session.exec(select(Booking).where(Booking.ref == ref)).one()
        rows = session.exec(
            select(Reminder).where(Reminder.booking_id == booking.id, Reminder.status == "pending")
        )
        return sorted(row.offset_minutes for row in rows)


def test_reminder_offsets_changed_replan_pending_reminders(
    city: Engine, now: datetime, notifier: Notifier
) -> None:
    """New offsets get a pending reminder, removed ones are dropped, and the change is audited."""
    ref = _book(city, _tuesday(now, 10), now, notifier)
    assert _pending(city, ref) == [1440]
    catalog.update_service(city, "city", "cut", {"reminders": [60]}, actor=ADMIN, now=now)
    assert _pending(city, ref) == [60]
    assert _actions(city)[-1] == "service.updated"


def test_reminder_offset_removed_and_added_again_leaves_one_pending(
    city: Engine, now: datetime, notifier: Notifier
) -> None:
    """24 h -> 1 h -> 24 h leaves exactly one pending 24 h reminder per booking."""
    ref = _book(city, _tuesday(now, 10), now, notifier)
    for offsets in ([60], [1440]):
        catalog.update_service(city, "city", "cut", {"reminders": offsets}, actor=ADMIN, now=now)
    assert _pending(city, ref) == [1440]


def test_german_customer_reads_the_german_service_name(
    city: Engine, now: datetime, notifier: Notifier
) -> None:
    """The confirmation to a German customer names the service in German."""
    _book(city, _tuesday(now, 10), now, notifier, locale="de")
    with read_session(city) as session:
        message = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "confirmation")).one()
        assert message.payload is not None
        body = message.payload.decode("utf-8", "replace")
    assert "Haarschnitt" in body


# --- staff, hours, time off ----------------------------------------------------------------


def test_hours_with_several_periods_a_day_are_honoured(city: Engine, now: datetime) -> None:
    """A lunch break set through the hours is not bookable; the periods around it are."""
    staff.set_hours(
        city,
        "city",
        "ben@city.example",
        {"tue": [["09:00", "12:00"], ["13:00", "17:00"]]},
        actor=ADMIN,
        now=now,
    )
    with pytest.raises(SlotUnavailable):
        _book(city, _tuesday(now, 12), now)
    _book(city, _tuesday(now, 13), now)


def test_hours_days_not_named_keep_theirs_and_off_clears(city: Engine, now: datetime) -> None:
    """Setting one day leaves the others; an empty list clears a day."""
    view = staff.set_hours(
        city, "city", "ben@city.example", {"mon": [], "sat": [["10:00", "14:00"]]}, actor=ADMIN, now=now
    )
    assert "mon" not in view.hours
    assert view.hours["sat"] == [["10:00", "14:00"]]
    assert view.hours["tue"] == [["09:00", "17:00"]]


@pytest.mark.parametrize(
    "periods",
    [[["12:00", "09:00"]], [["09:00", "13:00"], ["12:00", "17:00"]], [["9", "17:00"]]],
    ids=["reversed", "overlapping", "malformed"],
)
def test_bad_hours_name_the_day_and_store_nothing(
    city: Engine, now: datetime, periods: list[list[str]]
) -> None:
    """Reversed, overlapping or malformed periods are refused at their day; the hours stay."""
    with pytest.raises(InvalidInput) as caught:
        staff.set_hours(city, "city", "ben@city.example", {"wed": periods}, actor=ADMIN, now=now)
    assert caught.value.field == "hours.wed"
    assert staff.get_staff(city, "city", "ben@city.example").hours["wed"] == [["09:00", "17:00"]]


def test_time_off_blocks_slots_and_lists_affected_bookings(city: Engine, now: datetime) -> None:
    """Time off over a booking lists it as affected and makes the time unbookable."""
    ref = _book(city, _tuesday(now, 10), now)
    start = _tuesday(now, 9).replace(tzinfo=None)  # no offset: Ben's zone
    added = time_off.add_time_off(
        city,
        "city",
        "ben@city.example",
        start=start,
        end=start + timedelta(hours=4),
        reason="dentist",
        actor=ADMIN,
        now=now,
    )
    assert [b.ref for b in added.affected] == [ref]
    assert added.item.start == _tuesday(now, 9)
    with pytest.raises(SlotUnavailable):
        _book(city, _tuesday(now, 11), now, email="grace@example.com")


def test_time_off_overlapping_or_reversed_is_refused(city: Engine, now: datetime) -> None:
    """Time off that overlaps time off already entered, or ends before it starts, is refused."""
    start = _tuesday(now, 9)
    time_off.add_time_off(
        city, "city", "ben@city.example", start=start, end=start + timedelta(hours=2), actor=ADMIN, now=now
    )
    with pytest.raises(InvalidInput):
        time_off.add_time_off(
            city,
            "city",
            "ben@city.example",
            start=start + timedelta(hours=1),
            end=start + timedelta(hours=3),
            actor=ADMIN,
            now=now,
        )
    with pytest.raises(InvalidInput):
        time_off.add_time_off(
            city,
            "city",
            "ben@city.example",
            start=start,
            end=start - timedelta(hours=1),
            actor=ADMIN,
            now=now,
        )
    assert len(time_off.list_time_off(city, "city", "ben@city.example")) == 1


def test_time_off_removed_frees_the_time(city: Engine, now: datetime) -> None:
    """Removing time off makes its time bookable again and is audited."""
    start = _tuesday(now, 9)
    added = time_off.add_time_off(
        city, "city", "ben@city.example", start=start, end=start + timedelta(hours=8), actor=ADMIN, now=now
    )
    time_off.remove_time_off(city, "city", added.item.id, actor=ADMIN, now=now)
    _book(city, _tuesday(now, 10), now)
    assert "staff.time_off_removed" in _actions(city)


def test_the_last_admin_cannot_be_demoted(city: Engine, now: datetime) -> None:
    """A business always keeps an active admin."""
    with pytest.raises(InvalidInput):
        staff.update_staff(city, "city", "owner@city.example", {"role": "staff"}, actor=ADMIN, now=now)


def test_staff_added_twice_is_refused(city: Engine, now: datetime) -> None:
    """An address is one staff member per business."""
    with pytest.raises(InvalidInput) as caught:
        staff.add_staff(city, "city", email="BEN@city.example", name="Ben again", actor=ADMIN, now=now)
    assert caught.value.field == "email"


def test_deactivated_staff_lists_their_upcoming_bookings(city: Engine, now: datetime) -> None:
    """Deactivating someone lists the bookings they still have."""
    ref = _book(city, _tuesday(now, 10), now)
    changed = staff.deactivate_staff(city, "city", "ben@city.example", actor=ADMIN, now=now)
    assert changed.item.active is False
    assert [b.ref for b in changed.affected] == [ref]


# --- closures -------------------------------------------------------------------------------


def test_closure_blocks_the_day_and_lists_affected_bookings(city: Engine, now: datetime) -> None:
    """A closed day cannot be booked; bookings on it are listed."""
    ref = _book(city, _tuesday(now, 10), now)
    day = _tuesday(now, 10).date()
    added = closures.add_closure(city, "city", start=day, label="Inventory", actor=ADMIN, now=now)
    assert [b.ref for b in added.affected] == [ref]
    with pytest.raises(SlotUnavailable):
        _book(city, _tuesday(now, 14), now, email="grace@example.com")


def test_closure_over_an_existing_one_is_refused(city: Engine, now: datetime) -> None:
    """Closures do not overlap: the second is refused and nothing is stored."""
    day = _tuesday(now, 10).date()
    closures.add_closure(city, "city", start=day, end=day + timedelta(days=2), actor=ADMIN, now=now)
    with pytest.raises(InvalidInput):
        closures.add_closure(city, "city", start=day + timedelta(days=1), actor=ADMIN, now=now)
    assert len(closures.list_closures(city, "city")) == 1


def test_holidays_import_closes_christmas_in_the_default_language(city: Engine, now: datetime) -> None:
    """Bavaria's holidays of a year are imported once; running it again adds nothing."""
    first = closures.import_holidays(
        city, "city", country="DE", subdivision="BY", year=2031, actor=ADMIN, now=now
    )
    days = {c.start: c.label for c in first.closures}
    assert date(2031, 12, 25) in days and date(2031, 12, 26) in days
    assert date(2031, 1, 6) in days  # Epiphany: Bavaria's, not Berlin's
    again = closures.import_holidays(
        city, "city", country="DE", subdivision="BY", year=2031, actor=ADMIN, now=now
    )
    assert again.closures == [] and len(again.skipped) == len(first.closures)


def test_holidays_unknown_country_or_region_is_refused(city: Engine, now: datetime) -> None:
    """An unknown country or region is named in the error."""
    with pytest.raises(InvalidInput) as caught:
        closures.import_holidays(
            city, "city", country="XX", subdivision=None, year=2031, actor=ADMIN, now=now
        )
    assert caught.value.field == "country"
    with pytest.raises(InvalidInput) as caught:
        closures.import_holidays(
            city, "city", country="DE", subdivision="ZZ", year=2031, actor=ADMIN, now=now
        )
    assert caught.value.field == "subdivision"


def test_closure_of_another_business_is_not_found(city: Engine, now: datetime) -> None:
    """Removing an id that is not the business's is NotFound."""
    with pytest.raises(NotFound):
        closures.remove_closure(city, "city", 999, actor=ADMIN, now=now)


# --- first run ------------------------------------------------------------------------------


def test_setup_link_creates_business_and_admin_and_works_once(engine: Engine, now: datetime) -> None:
    """The one-time link creates the business and its first admin; used again it is not found."""
    token = businesses.mint_setup_link(engine, now=now)
    assert token is not None and businesses.setup_link_valid(engine, token)
    values = {
        "slug": "first",
        "name": "First",
        "timezone": "Europe/Vienna",
        "locale": "de",
        "languages": ["de", "en"],
    }
    view = businesses.complete_setup(
        engine,
        token,
        business=values,
        admin_email="me@first.example",
        admin_name="Me",
        password="correct horse battery",
        now=now,
    )
    assert view.default_locale == "de" and view.locales == ["de", "en"]
    assert staff.get_staff(engine, "first", "me@first.example").role == "admin"
    assert not businesses.setup_link_valid(engine, token)
    with pytest.raises(NotFound):
        businesses.complete_setup(
            engine,
            token,
            business=values,
            admin_email="x@first.example",
            admin_name="X",
            password="correct horse battery",
            now=now,
        )
    assert businesses.mint_setup_link(engine, now=now) is None
