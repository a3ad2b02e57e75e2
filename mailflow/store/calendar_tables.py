"""Tables of the staff calendars (issue 19): the private feed out, the external calendars in.

A ``CalendarFeed`` is a staff member's subscription URL ``/cal/{token}.ics``; only the
SHA-256 of the token is stored, as for manage tokens. An ``ExternalCalendar`` is one of a
staff member's own calendars (an iCalendar URL or a CalDAV calendar) whose busy times block
customer slots; ``ExternalBusy`` holds the busy intervals of its last successful sync, so a
slot search reads the database only, never the calendar.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from mailflow.store.types import UTCDateTime


class CalendarFeed(SQLModel, table=True):
    """A staff member's private iCalendar feed: one per member; a new one replaces the old."""

    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(foreign_key="staff.id", unique=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_type=UTCDateTime)


class ExternalCalendar(SQLModel, table=True):
    """A staff member's own calendar, polled for busy times.

    ``kind`` is ``ics`` (a "secret address" of Google or Outlook, any iCalendar URL) or
    ``caldav``; ``password_secret`` is the CalDAV password encrypted with the secret key
    (``mailflow.services.secrets_box``), never the password itself.
    """

    id: int | None = Field(default=None, primary_key=True)
    business_id: int = Field(foreign_key="business.id", index=True)
    staff_id: int = Field(foreign_key="staff.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=16)
    url: str = Field(max_length=2000)
    username: str | None = Field(default=None, max_length=254)
    password_secret: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(sa_type=UTCDateTime)
    next_sync_at: datetime = Field(sa_type=UTCDateTime, index=True)
    """When the worker fetches it next; saving a calendar sets it to now."""
    last_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_success_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=500)
    busy_count: int = Field(default=0)


class ExternalBusy(SQLModel, table=True):
    """One busy interval of an external calendar, as of its last successful sync (aware UTC)."""

    __table_args__ = (Index("ix_externalbusy_staff_end", "staff_id", "end"),)

    id: int | None = Field(default=None, primary_key=True)
    calendar_id: int = Field(foreign_key="externalcalendar.id", index=True, ondelete="CASCADE")
    staff_id: int = Field(foreign_key="staff.id", ondelete="CASCADE")
    start: datetime = Field(sa_type=UTCDateTime)
    end: datetime = Field(sa_type=UTCDateTime)
