"""Staff members' own calendars (issue 19): added, listed, removed, and synced for busy times.

A calendar is an iCalendar URL (the "secret address" Google Calendar and Outlook give) or a
CalDAV calendar (user name and password; the password stored encrypted, see
``secret_box``). Syncing fetches it **outside any database transaction**, with a timeout
(``busy_times``), then replaces the calendar's cached busy intervals in one short
transaction. A failed fetch changes no busy time: the last known ones stay in force, and the
calendar records the error beside its last successful sync. Slot searches read only the
cache (``queries.schedule_of``), so a slow or broken calendar never slows them.

The worker syncs every calendar each ``CalendarSync.every`` (``sync_due_calendars``; each
process may run it: a calendar is claimed by a conditional update first); saving one makes
it due at once, and the CLI and the admin page sync on demand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, func, update
from sqlmodel import col, select

from mailflow.booking.model import Actor
from mailflow.errors import InvalidInput, NotFound
from mailflow.i18n import N_
from mailflow.services.busy_times import CALDAV, ICS, FetchError, busy_intervals, fetch_calendars
from mailflow.services.common import audit
from mailflow.services.secret_box import SecretUnreadable, open_secret, seal_secret
from mailflow.store import queries
from mailflow.store.engine import read_session, write_session
from mailflow.store.tables import MAX_INTEGER, ExternalCalendar, Service, Staff, pk

if TYPE_CHECKING:
    from mailflow.parts import CalendarSync

__all__ = [
    "CalendarView",
    "add_calendar",
    "list_calendars",
    "remove_calendar",
    "sync_calendar",
    "sync_calendars",
    "sync_due_calendars",
]

KINDS = (ICS, CALDAV)
SCHEMES = ("http", "https", "webcal", "webcals")
SYNC_PAST = timedelta(days=1)
DEFAULT_AHEAD_DAYS = 90


@dataclass(frozen=True, slots=True)
class CalendarView:
    """One external calendar as the CLI, the API and the admin show it (never its password)."""

    id: int
    staff: str
    kind: str
    url: str
    username: str | None
    created_at: datetime
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    busy_count: int

    @property
    def display_url(self) -> str:
        """The address without its secret part: a Google or Outlook "secret address" carries
        its key in the path, which only the stored row keeps."""
        parts = urlsplit(self.url)
        path = (
            parts.path
            if self.kind == CALDAV
            else (parts.path[:12] + "…" if len(parts.path) > 12 else parts.path)
        )
        return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{path}"

    def to_json(self) -> dict[str, Any]:
        def iso(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment is not None else None

        return {
            "id": self.id,
            "staff": self.staff,
            "kind": self.kind,
            "url": self.display_url,
            "username": self.username,
            "last_success": iso(self.last_success_at),
            "last_attempt": iso(self.last_attempt_at),
            "last_error": self.last_error,
            "busy_times": self.busy_count,
        }


def _view(member: Staff, row: ExternalCalendar) -> CalendarView:
    return CalendarView(
        id=pk(row),
        staff=member.email,
        kind=row.kind,
        url=row.url,
        username=row.username,
        created_at=row.created_at,
        last_attempt_at=row.last_attempt_at,
        last_success_at=row.last_success_at,
        last_error=row.last_error,
        busy_count=row.busy_count,
    )


def _check_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES or not parts.hostname:
        raise InvalidInput(
            N_("give the calendar's full address, starting with https:// (or webcal://)"), field="url"
        )
    if len(url) > 2000:
        raise InvalidInput(N_("the address is longer than 2000 characters"), field="url")
    return url


def add_calendar(
    engine: Engine,
    business: str | None,
    email: str,
    url: str,
    *,
    sync: CalendarSync,
    actor: Actor,
    now: datetime,
    username: str | None = None,
    password: str | None = None,
    kind: str | None = None,
) -> CalendarView:
    """Add one of the staff member's own calendars; it is due for a sync at once.

    ``kind`` is ``ics`` or ``caldav`` (default: ``caldav`` with a user name, else ``ics``).
    Raises ``InvalidInput`` for a bad address, a password without a user name, or a calendar
    the member has already; ``NotFound`` for an unknown staff member.
    """
    url = _check_url(url)
    username = (username or "").strip() or None
    kind = (kind or (CALDAV if username else ICS)).strip().lower()
    if kind not in KINDS:
        raise InvalidInput(N_("the calendar kind is ics or caldav"), field="kind")
    if password and not username:
        raise InvalidInput(N_("a password needs a user name"), field="username")
    if username is not None and len(username) > 254:
        raise InvalidInput(N_("the user name is longer than 254 characters"), field="username")
    with write_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        member = queries.staff_by_email(session, biz, email)
        known = session.exec(
            select(ExternalCalendar).where(
                ExternalCalendar.staff_id == member.id, ExternalCalendar.url == url
            )
        ).first()
        if known is not None:
            raise InvalidInput(N_("this calendar is added already (id {id})"), id=known.id, field="url")
        row = ExternalCalendar(
            business_id=pk(biz),
            staff_id=pk(member),
            kind=kind,
            url=url,
            username=username,
            password_secret=seal_secret(sync.secret_key, password) if password else None,
            created_at=now,
            next_sync_at=now,
        )
        session.add(row)
        session.flush()
        view = _view(member, row)
        audit(
            session,
            business_id=pk(biz),
            action="staff.calendar_added",
            actor=actor,
            at=now,
            after=view.to_json(),
        )
        return view


def list_calendars(engine: Engine, business: str | None, email: str) -> list[CalendarView]:
    """The staff member's external calendars, oldest first."""
    with read_session(engine) as session:
        member = queries.staff_by_email(session, queries.business_by_slug(session, business), email)
        rows = session.exec(
            select(ExternalCalendar)
            .where(ExternalCalendar.staff_id == member.id)
            .order_by(col(ExternalCalendar.id))
        )
        return [_view(member, row) for row in rows]


def remove_calendar(
    engine: Engine,
    business: str | None,
    calendar_id: int,
    *,
    actor: Actor,
    now: datetime,
    staff: str | None = None,
) -> CalendarView:
    """Remove an external calendar and its busy times (of ``staff`` when given)."""
    with write_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        row = session.get(ExternalCalendar, calendar_id) if 0 < calendar_id <= MAX_INTEGER else None
        member = session.get(Staff, row.staff_id) if row is not None else None
        if row is None or member is None or row.business_id != biz.id:
            raise NotFound(N_("calendar"), str(calendar_id))
        if staff is not None and member.email != staff.strip().lower():
            raise NotFound(N_("calendar"), str(calendar_id))
        view = _view(member, row)
        session.delete(row)
        audit(
            session,
            business_id=pk(biz),
            action="staff.calendar_removed",
            actor=actor,
            at=now,
            before=view.to_json(),
        )
        return view


@dataclass(frozen=True, slots=True)
class _Job:
    """What a sync needs of a calendar, read before fetching (no transaction is held meanwhile)."""

    calendar_id: int
    kind: str
    url: str
    username: str | None
    password_secret: str | None
    timezone: str
    ahead_days: int


def _job(engine: Engine, calendar_id: int) -> _Job | None:
    with read_session(engine) as session:
        row = session.get(ExternalCalendar, calendar_id)
        if row is None:
            return None
        member = session.get_one(Staff, row.staff_id)
        ahead = session.exec(
            select(func.max(Service.horizon_days)).where(Service.business_id == row.business_id)
        ).first()
        return _Job(
            calendar_id, row.kind, row.url, row.username, row.password_secret, member.timezone,
            ahead or DEFAULT_AHEAD_DAYS,
        )  # fmt: skip


def sync_calendar(
    engine: Engine, calendar_id: int, *, sync: CalendarSync, now: datetime
) -> CalendarView | None:
    """Fetch one calendar now and cache its busy times; on failure keep the last ones and record
    the error. Returns the calendar afterwards (None when it was removed meanwhile)."""
    job = _job(engine, calendar_id)
    if job is None:
        return None
    start, end = now - SYNC_PAST, now + timedelta(days=job.ahead_days + 1)
    spans: list[tuple[datetime, datetime]] | None = None
    error: str | None = None
    try:
        password = open_secret(sync.secret_key, job.password_secret) if job.password_secret else None
        texts = fetch_calendars(
            job.kind, job.url, start=start, end=end, timeout=sync.timeout_seconds,
            username=job.username, password=password,
        )  # fmt: skip
        spans = busy_intervals(texts, start=start, end=end, zone=job.timezone, own_domain=sync.own_domain)
    except SecretUnreadable:
        error = "the stored password cannot be read (the secret key changed): enter it again"
    except FetchError as exc:
        error = str(exc) or "the calendar could not be read"
    with write_session(engine) as session:
        row = session.get(ExternalCalendar, calendar_id)
        if row is None:
            return None
        row.last_attempt_at = now
        row.next_sync_at = now + sync.every
        if spans is not None:
            # Whole seconds since the epoch: read back without parsing a date (queries.schedule_of).
            row.busy = [[math.floor(start.timestamp()), math.ceil(end.timestamp())] for start, end in spans]
            row.last_success_at, row.last_error, row.busy_count = now, None, len(spans)
        else:
            row.last_error = (error or "")[:500]
        session.add(row)
        session.flush()
        return _view(session.get_one(Staff, row.staff_id), row)


def sync_calendars(
    engine: Engine, business: str | None, email: str | None, *, sync: CalendarSync, now: datetime
) -> list[CalendarView]:
    """Sync now every external calendar of the business, or of the staff member ``email``."""
    with read_session(engine) as session:
        biz = queries.business_by_slug(session, business)
        statement = select(ExternalCalendar.id).where(ExternalCalendar.business_id == biz.id)
        if email is not None:
            member = queries.staff_by_email(session, biz, email)
            statement = statement.where(ExternalCalendar.staff_id == member.id)
        ids = [pk_ for pk_ in session.exec(statement.order_by(col(ExternalCalendar.id))) if pk_ is not None]
    views = [sync_calendar(engine, calendar_id, sync=sync, now=now) for calendar_id in ids]
    return [view for view in views if view is not None]


def sync_due_calendars(engine: Engine, *, sync: CalendarSync, now: datetime, limit: int = 50) -> int:
    """Sync the calendars whose time has come (the worker's job); returns how many were fetched.

    Each is claimed first by moving its ``next_sync_at`` past the fetch's timeout in a
    conditional update, so two processes never fetch one calendar at the same time.
    """
    with read_session(engine) as session:
        due = list(
            session.exec(
                select(ExternalCalendar.id)
                .where(col(ExternalCalendar.next_sync_at) <= now)
                .order_by(col(ExternalCalendar.next_sync_at))
                .limit(limit)
            )
        )
    lease = now + timedelta(seconds=2 * sync.timeout_seconds + 60)
    fetched = 0
    for calendar_id in filter(None, due):
        with write_session(engine) as session:
            claimed = session.connection().execute(
                update(ExternalCalendar)
                .where(col(ExternalCalendar.id) == calendar_id, col(ExternalCalendar.next_sync_at) <= now)
                .values(next_sync_at=lease)
            )
        if claimed.rowcount == 1:
            sync_calendar(engine, calendar_id, sync=sync, now=now)
            fetched += 1
    return fetched
