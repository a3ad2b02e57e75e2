"""SQLModel tables: the persistent shape of mailflow (DESIGN §4).

Enumerations are stored as short strings (no database enum types, so a new
value needs no ``ALTER TYPE``); times are aware UTC through ``UTCDateTime``.
The schema itself is owned by the Alembic migrations in ``migrations/``;
``tests/integration/test_migrations.py`` checks the two agree.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import JSON, Column, Index, LargeBinary, String, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from mailflow.kinds import InboundStatus
from mailflow.store.types import UTCDateTime

OUTBOX_WAITING = text("status IN ('queued', 'sending')")
INBOUND_WAITING = text("status IN ('received', 'processing')")
MAX_INTEGER = 2**31 - 1
"""The largest value an INTEGER column holds on PostgreSQL: a larger number given by a user
is no id or version of any row (and the query would fail), so look-ups answer "not found"."""


class _HasId(Protocol):
    id: int | None


def pk(row: _HasId) -> int:
    """The primary key of a row that has been flushed."""
    if row.id is None:
        raise RuntimeError(f"{type(row).__name__} has no primary key yet: flush the session first")
    return row.id


def _utc(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


def _json(default: Any) -> Any:
    return Field(default_factory=lambda: default.copy(), sa_column=Column(JSON, nullable=False))


def _texts() -> Any:
    """A ``{language: text}`` map (migration 0008), empty by default."""
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default=text("'{}'")))


def in_language(texts: dict[str, str], locale: str, fallback: str) -> str:
    """The text of ``locale`` in ``texts``, else ``fallback`` (the business's default language's)."""
    return texts.get(locale) or fallback


class Business(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    timezone: str = Field(max_length=64)
    default_locale: str = Field(default="en", max_length=16)
    locales: list[str] = _json(["en"])
    phone: str = Field(default="", max_length=64)
    email: str = Field(default="", max_length=254)
    address: str = Field(default="", max_length=500)
    sender_name: str = Field(default="", max_length=200)
    sender_email: str = Field(default="", max_length=254)
    change_instructions: str | None = Field(default=None, sa_type=Text)
    """In the default language; ``instructions`` holds every language's."""
    instructions: dict[str, str] = _texts()
    created_at: datetime = _utc()

    def instructions_in(self, locale: str) -> str | None:
        """The change instructions in ``locale``, else in the default language (None: none given)."""
        return in_language(self.instructions, locale, self.change_instructions or "") or None


class SetupLink(SQLModel, table=True):
    """The one-time link ``serve`` prints while no business exists (only its SHA-256 is kept)."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _utc()
    used_at: datetime | None = _utc(default=None)


class BusinessClosure(SQLModel, table=True):
    """Whole days (inclusive, business time zone) on which nothing is booked."""

    id: int | None = Field(default=None, primary_key=True)
    business_id: int = Field(foreign_key="business.id", index=True)
    start_date: date
    end_date: date
    label: str = Field(default="", max_length=200)


class Staff(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("business_id", "email"),)

    id: int | None = Field(default=None, primary_key=True)
    business_id: int = Field(foreign_key="business.id", index=True)
    email: str = Field(max_length=254)
    name: str = Field(default="", max_length=200)
    role: str = Field(default="staff", max_length=16)
    locale: str = Field(default="en", max_length=16)
    timezone: str = Field(max_length=64)
    # {"0": [["09:00", "17:00"]], ...}: weekday (0 = Monday) -> local periods
    weekly_hours: dict[str, list[list[str]]] = _json({})
    # {"booking_created": true, "daily_agenda": true, ...}; a missing key means on
    notification_prefs: dict[str, bool] = _json({})
    active: bool = True
    # scrypt hash (mailflow.auth); None: this person cannot sign in
    password_hash: str | None = Field(default=None, max_length=255)


class AdminSession(SQLModel, table=True):
    """A signed-in browser of a staff member; the cookie holds the token, the row its hash."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    staff_id: int = Field(foreign_key="staff.id", index=True, ondelete="CASCADE")
    created_at: datetime = _utc()
    expires_at: datetime = _utc()


class AdminLink(SQLModel, table=True):
    """A one-time link emailed to a staff member: a password reset or an invitation."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    staff_id: int = Field(foreign_key="staff.id", index=True, ondelete="CASCADE")
    purpose: str = Field(max_length=16)
    created_at: datetime = _utc()
    expires_at: datetime = _utc()
    used_at: datetime | None = _utc(default=None)


class ApiKey(SQLModel, table=True):
    """A business's key for ``/api/v1``: only its SHA-256 is kept, the key is shown once."""

    id: int | None = Field(default=None, primary_key=True)
    business_id: int = Field(foreign_key="business.id", index=True)
    key_hash: str = Field(max_length=64, unique=True, index=True)
    prefix: str = Field(max_length=16)
    label: str = Field(default="", max_length=200)
    created_at: datetime = _utc()
    created_by: str = Field(default="", max_length=254)
    last_used_at: datetime | None = _utc(default=None)
    revoked_at: datetime | None = _utc(default=None)


class StaffTimeOff(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    start: datetime = _utc()
    end: datetime = _utc()
    note: str = Field(default="", max_length=200)


class Service(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("business_id", "slug"),)

    id: int | None = Field(default=None, primary_key=True)
    business_id: int = Field(foreign_key="business.id", index=True)
    slug: str = Field(max_length=64)
    name: str = Field(max_length=200)
    description: str = Field(default="", sa_type=Text)
    duration_minutes: int
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    customer_can_manage: bool = False
    change_cutoff_minutes: int = 0
    min_notice_minutes: int = 60
    horizon_days: int = 90
    reminder_offsets_minutes: list[int] = _json([1440])
    location: str = Field(default="", max_length=500)
    change_instructions: str | None = Field(default=None, sa_type=Text)
    active: bool = True
    # {language: text}; ``name``, ``description`` and ``change_instructions`` above hold the
    # business's default language (what readers that do not localize show).
    names: dict[str, str] = _texts()
    descriptions: dict[str, str] = _texts()
    instructions: dict[str, str] = _texts()

    def name_in(self, locale: str) -> str:
        """The name a reader of ``locale`` sees (the default language's when there is none)."""
        return in_language(self.names, locale, self.name)

    def description_in(self, locale: str) -> str:
        return in_language(self.descriptions, locale, self.description)

    def instructions_in(self, locale: str) -> str | None:
        """The service's own change instructions in ``locale`` (None: the business's apply)."""
        return in_language(self.instructions, locale, self.change_instructions or "") or None


class ServiceStaff(SQLModel, table=True):
    """Which staff members perform which service."""

    service_id: int = Field(foreign_key="service.id", primary_key=True)
    staff_id: int = Field(foreign_key="staff.id", primary_key=True)


class Customer(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("business_id", "email"),)

    id: int | None = Field(default=None, primary_key=True)
    business_id: int = Field(foreign_key="business.id", index=True)
    email: str = Field(max_length=254)
    name: str = Field(max_length=200)
    phone: str = Field(default="", max_length=64)
    locale: str = Field(default="en", max_length=16)
    timezone: str = Field(max_length=64)
    bouncing: bool = False
    created_at: datetime = _utc()


class Booking(SQLModel, table=True):
    # The PostgreSQL exclusion constraint on (staff_id, [block_start, block_end))
    # for confirmed bookings is created by the migration (it has no SQLModel form).
    __table_args__ = (
        Index("ix_booking_staff_block", "staff_id", "block_start", "block_end"),
        # A staff member's busy times around a window: bounded below by block_end, so the
        # search skips their past (the other index can only bound block_start from above).
        Index("ix_booking_staff_end", "staff_id", "block_end"),
    )

    id: int | None = Field(default=None, primary_key=True)
    business_id: int = Field(foreign_key="business.id", index=True)
    ref: str = Field(max_length=16, unique=True)
    service_id: int = Field(foreign_key="service.id")
    staff_id: int = Field(foreign_key="staff.id")
    customer_id: int = Field(foreign_key="customer.id", index=True)
    origin: str = Field(max_length=16)
    status: str = Field(max_length=16)
    start: datetime = _utc(index=True)
    end: datetime = _utc()
    block_start: datetime = _utc()
    block_end: datetime = _utc()
    sequence: int = 0
    version: int = 1
    cancel_reason: str | None = Field(default=None, sa_type=Text)
    note: str | None = Field(default=None, sa_type=Text)
    """The customer's note to the business, given when booking (shown to staff only)."""
    cancelled_at: datetime | None = _utc(default=None)
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class ManageToken(SQLModel, table=True):
    """A manage link; only the SHA-256 of the token is stored."""

    id: int | None = Field(default=None, primary_key=True)
    booking_id: int = Field(foreign_key="booking.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _utc()
    expires_at: datetime = _utc()


class ReplyKey(SQLModel, table=True):
    """The key in ``reply+<key>@``: binds a reply to a booking and a recipient."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True)
    booking_id: int | None = Field(default=None, foreign_key="booking.id", index=True)
    recipient: str = Field(max_length=254)
    created_at: datetime = _utc()
    kind: str | None = Field(default=None, max_length=32)
    """The email kind the key was minted for (a reply to a staff email is a staff reply)."""
    offered: list[dict[str, str]] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    """For ``reschedule_options``: the numbered slots shown, so "2" books exactly that one."""
    answers: str | None = Field(default=None, max_length=998)
    """For ``customer_message``: the Message-ID of the customer's own email it forwards, so a
    staff member's answer threads under it in the customer's mailbox."""


class OutboxMessage(SQLModel, table=True):
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        # The claim's "oldest waiting first" without walking every sent email (migration 0007).
        Index("ix_outbox_waiting", "id", postgresql_where=OUTBOX_WAITING, sqlite_where=OUTBOX_WAITING),
    )

    id: int | None = Field(default=None, primary_key=True)
    business_id: int = Field(foreign_key="business.id", index=True)
    booking_id: int | None = Field(default=None, foreign_key="booking.id", index=True)
    kind: str = Field(max_length=32)
    recipient: str = Field(max_length=254)
    message_id: str = Field(max_length=255, unique=True)
    status: str = Field(default="queued", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = _utc()
    claimed_until: datetime | None = _utc(default=None)
    last_error: str | None = Field(default=None, sa_type=Text)
    payload: bytes | None = Field(default=None, sa_type=LargeBinary)
    context: dict[str, Any] = _json({})
    created_at: datetime = _utc()
    sent_at: datetime | None = _utc(default=None)


class Reminder(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("booking_id", "offset_minutes"),
        Index("ix_reminder_due", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    booking_id: int = Field(foreign_key="booking.id")
    offset_minutes: int
    due_at: datetime = _utc()
    status: str = Field(default="pending", max_length=16)
    booking_version: int = 1
    sent_at: datetime | None = _utc(default=None)


class Template(SQLModel, table=True):
    """An admin's override of a default template; versions hold the content."""

    __table_args__ = (UniqueConstraint("business_id", "kind", "locale"),)

    id: int | None = Field(default=None, primary_key=True)
    business_id: int | None = Field(default=None, foreign_key="business.id", index=True)
    kind: str = Field(max_length=32)
    locale: str = Field(max_length=16)
    current_version: int | None = None


class TemplateVersion(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("template_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    template_id: int = Field(foreign_key="template.id", index=True)
    version: int
    subject: str = Field(sa_type=Text)
    mjml: str = Field(sa_type=Text)
    text: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = _utc()
    created_by: str = Field(default="", max_length=254)
    note: str = Field(default="", max_length=500, sa_column_kwargs={"server_default": ""})


class InboundMessage(SQLModel, table=True):
    __table_args__ = (
        Index("ix_inbound_status", "status", "received_at"),
        Index("ix_inbound_waiting", "id", postgresql_where=INBOUND_WAITING, sqlite_where=INBOUND_WAITING),
    )

    id: int | None = Field(default=None, primary_key=True)
    message_id: str | None = Field(default=None, max_length=998, sa_type=String(998), index=True)
    sha256: str = Field(max_length=64, index=True)
    raw: bytes = Field(sa_type=LargeBinary)
    envelope_from: str = Field(default="", max_length=254)
    envelope_rcpt: str = Field(default="", max_length=254)
    received_at: datetime = _utc()
    status: str = Field(default=InboundStatus.RECEIVED.value, max_length=16)  # an InboundStatus
    verdicts: list[dict[str, Any]] = _json([])
    error: str | None = Field(default=None, sa_type=Text)
    booking_id: int | None = Field(default=None, foreign_key="booking.id", index=True)
    kind: str | None = Field(default=None, max_length=16)
    command: str | None = Field(default=None, max_length=16)
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    claimed_until: datetime | None = _utc(default=None)
    """While ``processing``: when the worker's claim runs out and another may take the message."""


class AuditEvent(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    business_id: int = Field(foreign_key="business.id", index=True)
    booking_id: int | None = Field(default=None, foreign_key="booking.id", index=True)
    at: datetime = _utc()
    actor_kind: str = Field(max_length=32)
    actor_label: str = Field(default="", max_length=254)
    action: str = Field(max_length=64)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


metadata = SQLModel.metadata

from mailflow.store.calendar_tables import CalendarFeed as CalendarFeed  # noqa: E402
from mailflow.store.calendar_tables import ExternalCalendar as ExternalCalendar  # noqa: E402
from mailflow.store.webhook_tables import WebhookDelivery, WebhookEndpoint  # noqa: E402, F401 - in the metadata
