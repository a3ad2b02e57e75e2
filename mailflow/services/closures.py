"""Closures: whole days (in the business's time zone) on which nothing can be booked.

Public holidays come from the ``holidays`` package (country and region, e.g.
``DE``/``BY``), so nobody has to type them. A closure over confirmed bookings
returns them as ``affected``: the bookings stay, staff move them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays as holiday_calendars
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from mailflow.booking.model import Actor
from mailflow.errors import InvalidInput, NotFound
from mailflow.i18n import N_, Nn_
from mailflow.services.bookings import BookingView, in_calendar
from mailflow.services.common import LIMITS, audit, check_text
from mailflow.services.staff import affected_bookings
from mailflow.store import queries
from mailflow.store.engine import read_session, write_session
from mailflow.store.tables import MAX_INTEGER, Business, BusinessClosure, pk

MAX_DAYS = 366


@dataclass(frozen=True, slots=True)
class ClosureView:
    id: int
    start: date
    end: date
    label: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "label": self.label,
        }


@dataclass(frozen=True, slots=True)
class ClosuresAdded:
    """Closures made by one action (one, or a year's holidays), the days already closed that
    were left alone, and the confirmed bookings on the new closed days."""

    closures: list[ClosureView]
    skipped: list[ClosureView]
    affected: list[BookingView]

    def to_json(self) -> dict[str, Any]:
        return {
            "closures": [c.to_json() for c in self.closures],
            "skipped": [c.to_json() for c in self.skipped],
            "affected": [b.to_json() for b in self.affected],
        }


def _view(row: BusinessClosure) -> ClosureView:
    return ClosureView(pk(row), row.start_date, row.end_date, row.label)


def _overlapping(session: Session, business: Business, first: date, last: date) -> BusinessClosure | None:
    return session.exec(
        select(BusinessClosure).where(
            BusinessClosure.business_id == business.id,
            col(BusinessClosure.start_date) <= last,
            col(BusinessClosure.end_date) >= first,
        )
    ).first()


def _days_span(business: Business, first: date, last: date) -> tuple[datetime, datetime]:
    zone = ZoneInfo(business.timezone)
    return datetime.combine(first, time(0), zone), datetime.combine(last + timedelta(days=1), time(0), zone)


def _add(
    session: Session, business: Business, first: date, last: date, label: str, actor: Actor, now: datetime
) -> BusinessClosure:
    row = BusinessClosure(business_id=pk(business), start_date=first, end_date=last, label=label)
    session.add(row)
    session.flush()
    audit(
        session,
        business_id=pk(business),
        action="closure.added",
        actor=actor,
        at=now,
        after=_view(row).to_json(),
    )
    return row


def add_closure(
    engine: Engine,
    business: str | None,
    *,
    start: date,
    end: date | None = None,
    label: str = "",
    actor: Actor,
    now: datetime,
) -> ClosuresAdded:
    """Close the business on ``start``..``end`` (inclusive; one day without ``end``).

    Raises ``InvalidInput`` for a reversed range, one longer than a year, or one over a
    closure already entered (remove that first).
    """
    last = end or start
    if last < start:
        raise InvalidInput(N_("the closure ends before it starts"), field="to")
    if (last - start).days >= MAX_DAYS:
        raise InvalidInput(
            Nn_("a closure spans at most {n} day", "a closure spans at most {n} days"), n=MAX_DAYS, field="to"
        )
    if not (in_calendar(start) and in_calendar(last)):
        raise InvalidInput(N_("choose days from 1970 to 8999"), field="from")
    with write_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        clash = _overlapping(session, biz, start, last)
        if clash is not None:
            raise InvalidInput(
                N_("overlaps the closure {first}..{last} (id {id}): remove that first"),
                first=clash.start_date,
                last=clash.end_date,
                id=clash.id,
                field="from",
            )
        row = _add(session, biz, start, last, check_text(label, "label", LIMITS["label"]), actor, now)
        span = _days_span(biz, start, last)
        return ClosuresAdded([_view(row)], [], affected_bookings(session, biz, *span))


def import_holidays(
    engine: Engine,
    business: str | None,
    *,
    country: str,
    subdivision: str | None,
    year: int,
    actor: Actor,
    now: datetime,
) -> ClosuresAdded:
    """Close the business on the public holidays of ``country`` (ISO code, e.g. ``DE``) and
    ``subdivision`` (e.g. ``BY``) in ``year``, named in the business's default language where
    the calendar has it. Days already closed are skipped (listed as ``skipped``), so running
    it twice adds nothing. Raises ``InvalidInput`` for an unknown country or region.
    """
    code = country.strip().upper()
    region = (subdivision or "").strip().upper() or None
    if not 1970 <= year <= 8999:
        raise InvalidInput(N_("choose a year from 1970 to 8999"), field="year")
    supported = holiday_calendars.list_supported_countries()
    if code not in supported:
        raise InvalidInput(
            N_("unknown country {country!r}: use an ISO code such as DE, AT, GB, US"),
            country=country,
            field="country",
        )
    if region is not None and region not in supported[code]:
        raise InvalidInput(
            N_("unknown region {region!r} of {country}: use one of {regions}"),
            region=subdivision,
            country=code,
            regions=", ".join(supported[code]),
            field="subdivision",
        )
    with write_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        calendar = _calendar(code, region, year, biz.default_locale)
        added, skipped, affected = [], [], []
        for day, name in sorted(calendar.items()):
            clash = _overlapping(session, biz, day, day)
            if clash is not None:
                skipped.append(ClosureView(0, day, day, name))
                continue
            row = _add(session, biz, day, day, name[:200], actor, now)
            added.append(_view(row))
            affected += affected_bookings(session, biz, *_days_span(biz, day, day))
        return ClosuresAdded(added, skipped, affected)


def _calendar(code: str, region: str | None, year: int, locale: str) -> dict[date, str]:
    kind = holiday_calendars.country_holidays
    try:
        calendar = kind(code, subdiv=region, years=year, language=locale)
    except (NotImplementedError, KeyError, ValueError):
        calendar = kind(code, subdiv=region, years=year)
    return dict(calendar.items())


def list_closures(
    engine: Engine, business: str | None, *, upcoming_from: date | None = None
) -> list[ClosureView]:
    """The business's closures by first day (those ending on or after ``upcoming_from``)."""
    with read_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        statement = select(BusinessClosure).where(BusinessClosure.business_id == biz.id)
        if upcoming_from is not None:
            statement = statement.where(col(BusinessClosure.end_date) >= upcoming_from)
        return [_view(row) for row in session.exec(statement.order_by(col(BusinessClosure.start_date)))]


def remove_closure(
    engine: Engine, business: str | None, closure_id: int, *, actor: Actor, now: datetime
) -> ClosureView:
    """Open the business again on a closure's days. ``NotFound`` for another business's."""
    with write_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        row = session.get(BusinessClosure, closure_id) if 0 < closure_id <= MAX_INTEGER else None
        if row is None or row.business_id != biz.id:
            raise NotFound(N_("closure"), str(closure_id))
        view = _view(row)
        session.delete(row)
        audit(
            session, business_id=pk(biz), action="closure.removed", actor=actor, at=now, before=view.to_json()
        )
        return view
