"""Queries and the conversions between rows and the core's values."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func
from sqlalchemy import select as select_columns
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, col, select

from mailflow.booking.model import (
    BookingState,
    BookingStatus,
    BusyInterval,
    Closures,
    Interval,
    Origin,
    ServiceRules,
    StaffSchedule,
    WeeklyHours,
)
from mailflow.booking.spread import StaffLoad
from mailflow.errors import NotFound
from mailflow.i18n import N_
from mailflow.store.engine import connection_of
from mailflow.store.tables import (
    Booking,
    Business,
    BusinessClosure,
    Customer,
    ExternalCalendar,
    Service,
    ServiceStaff,
    Staff,
    StaffTimeOff,
)


def parse_weekly_hours(raw: dict[str, list[list[str]]]) -> WeeklyHours:
    """``{"0": [["09:00", "17:00"]]}`` -> ``{0: [(time(9), time(17))]}``."""
    return {
        int(day): [(time.fromisoformat(start), time.fromisoformat(end)) for start, end in periods]
        for day, periods in raw.items()
    }


def rules_of(service: Service) -> ServiceRules:
    return ServiceRules(
        duration=timedelta(minutes=service.duration_minutes),
        buffer_before=timedelta(minutes=service.buffer_before_minutes),
        buffer_after=timedelta(minutes=service.buffer_after_minutes),
        customer_can_manage=service.customer_can_manage,
        change_cutoff=timedelta(minutes=service.change_cutoff_minutes),
        min_notice=timedelta(minutes=service.min_notice_minutes),
        horizon=timedelta(days=service.horizon_days),
    )


def state_of(booking: Booking) -> BookingState:
    assert booking.id is not None
    return BookingState(
        ref=booking.ref,
        service_id=booking.service_id,
        staff_id=booking.staff_id,
        customer_id=booking.customer_id,
        origin=Origin(booking.origin),
        status=BookingStatus(booking.status),
        start=booking.start,
        end=booking.end,
        sequence=booking.sequence,
        version=booking.version,
        cancel_reason=booking.cancel_reason,
        booking_id=booking.id,
    )


# Built once: slot searches run them for every staff member on every search.
_TIME_OFF = select(StaffTimeOff.start, StaffTimeOff.end).where(
    StaffTimeOff.staff_id == bindparam("staff_id"),
    col(StaffTimeOff.end) > bindparam("window_start"),
    col(StaffTimeOff.start) < bindparam("window_end"),
)
_BUSY = select(Booking.block_start, Booking.block_end, Booking.id).where(
    Booking.staff_id == bindparam("staff_id"),
    Booking.status == BookingStatus.CONFIRMED.value,
    col(Booking.block_end) > bindparam("window_start"),
    col(Booking.block_start) < bindparam("window_end"),
)
_EXTERNAL = select(ExternalCalendar.busy).where(ExternalCalendar.staff_id == bindparam("staff_id"))
_CLOSURES = select(col(BusinessClosure.start_date), col(BusinessClosure.end_date)).where(
    BusinessClosure.business_id == bindparam("business_id"),
    col(BusinessClosure.end_date) >= bindparam("first"),
    col(BusinessClosure.start_date) <= bindparam("last"),
)
_STAFF_FOR_SERVICE = (
    select(Staff)
    .join(ServiceStaff, col(ServiceStaff.staff_id) == col(Staff.id))
    .where(ServiceStaff.service_id == bindparam("service_id"), col(Staff.active).is_(True))
    .order_by(col(Staff.id))
)


def schedule_of(session: Session, staff: Staff, window: Interval) -> StaffSchedule:
    """The staff member's schedule with time off, bookings and the cached busy times of their
    own calendars that touch ``window``."""
    assert staff.id is not None
    span = {"staff_id": staff.id, "window_start": window.start, "window_end": window.end}
    connection = connection_of(session)
    time_off = connection.execute(_TIME_OFF, span).all()
    busy = connection.execute(_BUSY, span).all()
    first, last = window.start.timestamp(), window.end.timestamp()
    external = [
        Interval(datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC))
        for (cached,) in connection.execute(_EXTERNAL, {"staff_id": staff.id})
        for start, end in cached
        if end > first and start < last
    ]
    return StaffSchedule(
        staff_id=staff.id,
        timezone=staff.timezone,
        weekly_hours=parse_weekly_hours(staff.weekly_hours),
        time_off=[Interval(start, end) for start, end in time_off],
        busy=[BusyInterval(start, end, booking_id) for start, end, booking_id in busy],
        external_busy=external,
    )


def closures_of(session: Session, business: Business, window: Interval) -> Closures:
    """The business's closed days that fall inside ``window`` (with a day's margin)."""
    zone = ZoneInfo(business.timezone)
    first = window.start.astimezone(zone).date() - timedelta(days=1)
    last = window.end.astimezone(zone).date() + timedelta(days=1)
    rows = (
        connection_of(session)
        .execute(_CLOSURES, {"business_id": business.id, "first": first, "last": last})
        .all()
    )
    dates: set[date] = set()
    for row in rows:
        day = max(row.start_date, first)
        while day <= min(row.end_date, last):
            dates.add(day)
            day += timedelta(days=1)
    return Closures(timezone=business.timezone, dates=frozenset(dates))


def business_by_slug(session: Session, slug: str | None) -> Business:
    """The named business, or the only one when ``slug`` is None."""
    if slug is None:
        businesses = session.exec(select(Business).limit(2)).all()
        if len(businesses) == 1:
            return businesses[0]
        raise NotFound(N_("business"), message=N_("no business named, and there is not exactly one: name it"))
    business = session.exec(select(Business).where(Business.slug == slug)).first()
    if business is None:
        raise NotFound(N_("business"), slug)
    return business


def service_by_slug(session: Session, business: Business, slug: str) -> Service:
    service = session.exec(
        select(Service).where(Service.business_id == business.id, Service.slug == slug)
    ).first()
    if service is None:
        raise NotFound(N_("service"), slug)
    return service


def staff_by_email(session: Session, business: Business, email: str) -> Staff:
    staff = session.exec(
        select(Staff).where(Staff.business_id == business.id, Staff.email == email.strip().lower())
    ).first()
    if staff is None:
        raise NotFound(N_("staff member"), email)
    return staff


def staff_by_id(session: Session, staff_id: int) -> Staff:
    staff = session.get(Staff, staff_id)
    if staff is None:
        raise NotFound(N_("staff member"), str(staff_id))
    return staff


def staff_for_service(session: Session, service: Service) -> Sequence[Staff]:
    """Active staff who perform ``service``, in a stable order."""
    return session.exec(_STAFF_FOR_SERVICE, params={"service_id": service.id}).all()


_WITH_PEOPLE = (
    select_columns(Booking, Customer, Staff, Service)
    .join(Customer, col(Customer.id) == col(Booking.customer_id))
    .join(Staff, col(Staff.id) == col(Booking.staff_id))
    .join(Service, col(Service.id) == col(Booking.service_id))
    .where(col(Booking.id) == bindparam("booking_id"))
)


def booking_with_people(session: Session, booking_id: int) -> Booking:
    """Booking ``booking_id``, which must exist, with its customer, staff member and service
    loaded in the same statement (read one by one, they were four trips through the ORM)."""
    held = session.identity_map.get(identity_key(Booking, booking_id))
    if isinstance(held, Booking):
        return held
    booking: Booking = session.execute(_WITH_PEOPLE, {"booking_id": booking_id}).one()[0]
    return booking


_BY_REF = select(Booking).where(Booking.ref == bindparam("ref"))
_BY_REF_FOR_UPDATE = _BY_REF.with_for_update()


def booking_by_ref(session: Session, ref: str, *, for_update: bool = False) -> Booking:
    statement = _BY_REF_FOR_UPDATE if for_update else _BY_REF
    booking = session.exec(statement, params={"ref": ref.strip().upper()}).first()
    if booking is None:
        raise NotFound(N_("booking"), ref)
    return booking


def customer_for(session: Session, business: Business, email: str) -> Customer | None:
    return session.exec(
        select(Customer).where(Customer.business_id == business.id, Customer.email == email)
    ).first()


def day_window(day_from: date, day_to: date, tz: str) -> Interval:
    """The UTC span covering local days ``day_from``..``day_to`` in ``tz``, widened by a day on
    each side (what a slot search must look at: bookings, time off and buffers reaching in).
    Calendars showing those days use ``local_days``."""
    zone = ZoneInfo(tz)
    start = datetime.combine(day_from - timedelta(days=1), time(0), zone)
    end = datetime.combine(day_to + timedelta(days=2), time(0), zone)
    return Interval(start, end)


def local_days(day_from: date, day_to: date, tz: str) -> Interval:
    """The UTC span of exactly the local days ``day_from``..``day_to`` in ``tz`` (for calendars:
    a booking starting on another local day is outside it, unlike ``day_window``)."""
    zone = ZoneInfo(tz)
    return Interval(
        datetime.combine(day_from, time(0), zone).astimezone(UTC),
        datetime.combine(day_to + timedelta(days=1), time(0), zone).astimezone(UTC),
    )


# By start only (its index), the staff picked after: a staff filter in SQL can make the engine
# walk every booking of those staff instead of the day's few.
_STARTS = select(Booking.staff_id, Booking.start).where(
    Booking.status == BookingStatus.CONFIRMED.value,
    col(Booking.id) != bindparam("moved"),
    col(Booking.start) >= bindparam("first"),
    col(Booking.start) < bindparam("last"),
)
# The latest booking made (whatever became of it) is the one with the highest id: the staff
# index answers that, where a maximum of created_at would read every booking.
_NEWEST = (
    select(func.max(Booking.id))
    .where(
        col(Booking.staff_id).in_(bindparam("staff_ids", expanding=True)),
        col(Booking.id) != bindparam("moved"),
    )
    .group_by(col(Booking.staff_id))
)
_CREATED = select(Booking.staff_id, Booking.created_at).where(
    col(Booking.id).in_(bindparam("ids", expanding=True))
)


def staff_loads(
    session: Session,
    staff_ids: Sequence[int],
    days: Interval,
    tz: str,
    exclude_booking_id: int | None = None,
) -> dict[int, StaffLoad]:
    """What the "any staff" choice knows of ``staff_ids``: confirmed bookings per local day
    (in ``tz``) starting in ``days``, and when each one's latest booking (any status) was made.
    ``exclude_booking_id`` (a booking being moved) counts for neither."""
    if not staff_ids:
        return {}
    zone = ZoneInfo(tz)
    moved = exclude_booking_id if exclude_booking_id is not None else -1
    connection = connection_of(session)
    per_day: dict[int, dict[date, int]] = {staff_id: {} for staff_id in staff_ids}
    for staff_id, start in connection.execute(
        _STARTS, {"moved": moved, "first": days.start, "last": days.end}
    ):
        if staff_id in per_day:
            day = start.astimezone(zone).date()
            per_day[staff_id][day] = per_day[staff_id].get(day, 0) + 1
    newest = connection.execute(_NEWEST, {"staff_ids": list(staff_ids), "moved": moved}).scalars().all()
    latest = {staff_id: made for staff_id, made in connection.execute(_CREATED, {"ids": list(newest)})}
    return {staff_id: StaffLoad(staff_id, per_day[staff_id], latest.get(staff_id)) for staff_id in staff_ids}
