"""Tables of the staff calendars (issue 19): the private feed out, the external calendars in.

A ``CalendarFeed`` is a staff member's subscription URL ``/cal/{token}.ics``; only the
SHA-256 of the token is stored, as for manage tokens. An ``ExternalCalendar`` is one of a
staff member's own calendars (an iCalendar URL or a CalDAV calendar) whose busy times block
customer slots; its ``busy`` column holds the busy intervals of its last successful sync, so a
slot search reads the database only, never the calendar.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Text, text
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
    busy: list[list[int]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default=text("'[]'"))
    )
    """The busy intervals of the last successful sync: sorted, merged ``[start, end)`` pairs of
    Unix seconds. One value per calendar, so a slot search reads one row per calendar instead of
    hundreds (and parses no date strings): 9 ms less CPU per self-service page with 3 x 500."""
