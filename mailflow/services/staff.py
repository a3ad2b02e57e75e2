"""Staff: add, change, deactivate; weekly working hours (time off: ``time_off``).

Weekly hours and time off are the staff member's local times (their time zone,
by default the business's). A change that leaves confirmed bookings outside the
new availability is never silent: time off and deactivation return the bookings
they affect, so staff can move them (the bookings themselves stay as they are).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from mailflow.booking.localtime import resolve_local
from mailflow.booking.model import Actor, BookingStatus
from mailflow.errors import InvalidInput
from mailflow.i18n import N_
from mailflow.services.bookings import BookingView, view_of
from mailflow.services.common import (
    LIMITS,
    audit,
    change_audited,
    check_text,
    check_timezone,
    normalize_email,
    unknown_fields,
)
from mailflow.store import queries
from mailflow.store.engine import read_session, write_session
from mailflow.store.tables import (
    Booking,
    Business,
    Service,
    ServiceStaff,
    Staff,
    pk,
)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ROLES = ("staff", "admin")
_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True, slots=True)
class StaffView:
    """A staff member as the CLI and the API show them."""

    email: str
    name: str
    role: str
    locale: str
    timezone: str
    active: bool
    hours: dict[str, list[list[str]]]
    services: list[str]
    can_sign_in: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "name": self.name,
            "role": self.role,
            "locale": self.locale,
            "timezone": self.timezone,
            "active": self.active,
            "hours": {day: [list(p) for p in periods] for day, periods in self.hours.items()},
            "weekly_hours": {
                str(DAYS.index(day)): [list(p) for p in periods] for day, periods in self.hours.items()
            },
            "services": list(self.services),
            "can_sign_in": self.can_sign_in,
        }


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Changed(Generic[T]):
    """What an action made or changed, and the confirmed bookings it leaves to be moved."""

    item: T
    affected: list[BookingView]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = self.item.to_json()  # type: ignore[attr-defined]  # every view has one
        data["affected"] = [booking.to_json() for booking in self.affected]
        return data


def staff_view(session: Session, member: Staff) -> StaffView:
    slugs = session.exec(
        select(Service.slug)
        .join(ServiceStaff, col(ServiceStaff.service_id) == col(Service.id))
        .where(ServiceStaff.staff_id == member.id)
        .order_by(col(Service.slug))
    ).all()
    return StaffView(
        email=member.email,
        name=member.name,
        role=member.role,
        locale=member.locale,
        timezone=member.timezone,
        active=member.active,
        hours={DAYS[int(day)]: periods for day, periods in sorted(member.weekly_hours.items()) if periods},
        services=list(slugs),
        can_sign_in=member.password_hash is not None,
    )


# --- checks ------------------------------------------------------------------------------


def parse_clock(value: str, field: str) -> time:
    match = _CLOCK.fullmatch(value.strip())
    if match is None:
        raise InvalidInput(N_("{field}: {value!r} is not a time such as 09:00"), value=value, field=field)
    return time(int(match.group(1)), int(match.group(2)))


def parse_periods(text: str, field: str) -> list[list[str]]:
    """``"09:00-12:00,13:00-17:00"`` -> ``[["09:00", "12:00"], ["13:00", "17:00"]]``; ``off`` -> []."""
    value = text.strip().lower()
    if value in ("off", "closed", "-", ""):
        return []
    periods = []
    for part in value.split(","):
        start, sep, end = part.strip().partition("-")
        if not sep:
            raise InvalidInput(
                N_("{field}: {period!r} is not a period such as 09:00-17:00"),
                period=part.strip(),
                field=field,
            )
        periods.append([start.strip(), end.strip()])
    return check_periods(periods, field)


def check_periods(periods: list[list[str]] | list[tuple[str, str]], field: str) -> list[list[str]]:
    """Periods of one day, each ``[start, end]`` (HH:MM), start before end, none overlapping;
    returned sorted and normalised (``9:00`` -> ``09:00``)."""
    parsed = []
    for period in periods:
        if len(period) != 2:
            raise InvalidInput(N_("{field}: a period is a start and an end, e.g. 09:00-17:00"), field=field)
        start, end = parse_clock(period[0], field), parse_clock(period[1], field)
        if start >= end:
            raise InvalidInput(
                N_("{field}: {start}-{end} ends before it starts (hours cannot cross midnight)"),
                start=period[0],
                end=period[1],
                field=field,
            )
        parsed.append((start, end))
    parsed.sort()
    for (_, first_end), (second_start, _) in itertools.pairwise(parsed):
        if second_start < first_end:
            raise InvalidInput(N_("{field}: the periods overlap"), field=field)
    return [[s.strftime("%H:%M"), e.strftime("%H:%M")] for s, e in parsed]


def _locale(business: Business, locale: str | None) -> str:
    if not locale:
        return business.default_locale
    if locale not in business.locales:
        raise InvalidInput(
            N_("language {locale!r} is not offered by {business}: use one of {languages}"),
            locale=locale,
            business=business.slug,
            languages=", ".join(business.locales),
            field="locale",
        )
    return locale


def _role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(N_("role {role!r}: use staff or admin"), role=role, field="role")
    return role


def aware(value: datetime, zone: str, field: str | None = None) -> datetime:
    """``value`` as given, or read in ``zone`` when it has no offset (refused when daylight
    saving skips or repeats that wall time there: ``LocalTimeInvalid``)."""
    return resolve_local(value, zone, field=field)


def affected_bookings(
    session: Session, business: Business, start: datetime, end: datetime, staff_id: int | None = None
) -> list[BookingView]:
    """Confirmed bookings of ``business`` (of one staff member) overlapping ``[start, end)``."""
    statement = select(Booking).where(
        Booking.business_id == business.id,
        Booking.status == BookingStatus.CONFIRMED,
        col(Booking.start) < end,
        col(Booking.end) > start,
    )
    if staff_id is not None:
        statement = statement.where(Booking.staff_id == staff_id)
    return [view_of(session, row) for row in session.exec(statement.order_by(col(Booking.start)))]


# --- actions -----------------------------------------------------------------------------


def new_staff(
    session: Session,
    business: Business,
    *,
    email: str,
    name: str,
    role: str,
    locale: str | None,
    timezone: str | None,
    actor: Actor,
    now: datetime,
    hours: dict[str, list[list[str]]] | None = None,
) -> Staff:
    """Add a staff member inside the caller's transaction (see ``add_staff``)."""
    address = normalize_email(email, field="email")
    if session.exec(select(Staff.id).where(Staff.business_id == business.id, Staff.email == address)).first():
        raise InvalidInput(
            N_("{address} is already a staff member of {business}"),
            address=address,
            business=business.slug,
            field="email",
        )
    member = Staff(
        business_id=pk(business),
        email=address,
        name=check_text(name, "name", LIMITS["name"]),
        role=_role(role),
        locale=_locale(business, locale),
        timezone=check_timezone(timezone, field="timezone") if timezone else business.timezone,
        weekly_hours=_weekly(hours or {}),
    )
    session.add(member)
    session.flush()
    audit(
        session,
        business_id=pk(business),
        action="staff.added",
        actor=actor,
        at=now,
        after=staff_view(session, member).to_json(),
    )
    return member


def _weekly(
    hours: dict[str, list[list[str]]], current: dict[str, list[list[str]]] | None = None
) -> dict[str, list[list[str]]]:
    """Stored weekly hours after setting the days named in ``hours`` (others keep theirs)."""
    weekly = {key: value for key, value in (current or {}).items() if value}
    for day, periods in hours.items():
        if day not in DAYS:
            raise InvalidInput(
                N_("unknown day {day!r}: use {days}"), day=day, days=", ".join(DAYS), field="hours"
            )
        checked = check_periods(periods, f"hours.{day}")
        if checked:
            weekly[str(DAYS.index(day))] = checked
        else:
            weekly.pop(str(DAYS.index(day)), None)
    return dict(sorted(weekly.items()))


def add_staff(
    engine: Engine,
    business: str | None,
    *,
    email: str,
    name: str,
    role: str = "staff",
    locale: str | None = None,
    timezone: str | None = None,
    hours: dict[str, list[list[str]]] | None = None,
    actor: Actor,
    now: datetime,
) -> StaffView:
    """Add a staff member (who cannot sign in until invited or given a password).

    ``hours``: ``{"mon": [["09:00", "17:00"]], …}`` in their time zone (default: the
    business's); without hours nobody can book them yet. Raises ``InvalidInput`` naming
    the field (address in use or malformed, unknown role, language or time zone, bad hours).
    """
    with write_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        member = new_staff(
            session,
            biz,
            email=email,
            name=name,
            role=role,
            locale=locale,
            timezone=timezone,
            hours=hours,
            actor=actor,
            now=now,
        )
        return staff_view(session, member)


def update_staff(
    engine: Engine,
    business: str | None,
    email: str,
    changes: dict[str, Any],
    *,
    actor: Actor,
    now: datetime,
) -> StaffView:
    """Change ``name``, ``role``, ``locale``, ``timezone`` or ``active`` (absent keys stay).

    The last active admin cannot stop being one. Raises ``NotFound``, ``InvalidInput``.
    """
    unknown = set(changes) - {"name", "role", "locale", "timezone", "active"}
    if unknown:
        raise unknown_fields(unknown)
    with write_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        member = queries.staff_by_email(session, biz, email)
        update: dict[str, Any] = {}
        if "name" in changes:
            update["name"] = check_text(changes["name"] or "", "name", LIMITS["name"])
        if "role" in changes:
            update["role"] = _role(changes["role"])
        if "locale" in changes:
            update["locale"] = _locale(biz, changes["locale"])
        if "timezone" in changes:
            update["timezone"] = check_timezone((changes["timezone"] or "").strip(), field="timezone")
        if "active" in changes:
            update["active"] = bool(changes["active"])
        _keep_an_admin(session, biz, member, update)
        change_audited(
            session, member, update, business_id=pk(biz), action="staff.updated", actor=actor, now=now,
            subject={"email": member.email},
        )  # fmt: skip
        return staff_view(session, member)


def _keep_an_admin(session: Session, business: Business, member: Staff, update: dict[str, Any]) -> None:
    losing = (
        member.role == "admin"
        and member.active
        and (update.get("role", "admin") != "admin" or update.get("active", True) is False)
    )
    if not losing:
        return
    others = session.exec(
        select(Staff.id).where(
            Staff.business_id == business.id,
            Staff.role == "admin",
            col(Staff.active).is_(True),
            Staff.id != member.id,
        )
    ).first()
    if others is None:
        raise InvalidInput(
            N_("{email} is the last admin of {business}: make someone else admin first"),
            email=member.email,
            business=business.slug,
            field="role",
        )


def deactivate_staff(
    engine: Engine, business: str | None, email: str, *, actor: Actor, now: datetime
) -> Changed[StaffView]:
    """Take a staff member off the booking pages (and out of sign-in); their bookings stay.

    Returns their upcoming confirmed bookings as ``affected``, to be moved or cancelled.
    """
    update_staff(engine, business, email, {"active": False}, actor=actor, now=now)
    with read_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        member = queries.staff_by_email(session, biz, email)
        affected = affected_bookings(session, biz, now, datetime.max.replace(tzinfo=now.tzinfo), pk(member))
        return Changed(staff_view(session, member), affected)


def set_hours(
    engine: Engine,
    business: str | None,
    email: str,
    hours: dict[str, list[list[str]]],
    *,
    actor: Actor,
    now: datetime,
) -> StaffView:
    """Set the weekly hours of the days named (``{"mon": [["09:00", "12:00"], ["13:00",
    "17:00"]], "sun": []}``: an empty list clears a day); days not named keep theirs.

    Raises ``InvalidInput`` naming the day (``hours.mon``) for reversed or overlapping periods.
    """
    with write_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        member = queries.staff_by_email(session, biz, email)
        weekly = _weekly(hours, member.weekly_hours)
        change_audited(
            session, member, {"weekly_hours": weekly}, business_id=pk(biz), action="staff.hours_set",
            actor=actor, now=now, subject={"email": member.email},
        )  # fmt: skip
        return staff_view(session, member)


def list_staff(engine: Engine, business: str | None) -> list[StaffView]:
    with read_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        rows = session.exec(select(Staff).where(Staff.business_id == biz.id).order_by(col(Staff.id)))
        return [staff_view(session, row) for row in rows]


def get_staff(engine: Engine, business: str | None, email: str) -> StaffView:
    with read_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        return staff_view(session, queries.staff_by_email(session, biz, email))
