"""Request and response shapes of ``/api/v1`` (pydantic).

Booking JSON is DESIGN §10's, the same as the CLI prints. Addresses and time
zones are checked here with the functions the use cases use, so a bad value
gets a 422 naming its field before anything is looked up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mailflow.booking.model import Origin
from mailflow.errors import InvalidInput
from mailflow.services import check_timezone, normalize_email

MAX_REMINDERS = 10
MAX_MINUTES = 60 * 24 * 365
MAX_OFFSET = 1_000_000  # paging deeper than this is a mistake (and overflows SQLite's integers)


def _email(value: str) -> str:
    try:
        return normalize_email(value)
    except InvalidInput as exc:
        raise ValueError(exc.message) from None


def _zone(value: str) -> str:
    try:
        return check_timezone(value.strip())
    except InvalidInput as exc:
        raise ValueError(exc.message) from None


class Strict(BaseModel):
    """Request bodies refuse unknown fields (a typo must not be ignored silently) and NUL
    characters (no database text holds them)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(text, str) and "\x00" in text for text in texts):
            raise ValueError("NUL characters are not allowed")
        return value


# --- business, services, staff, customers --------------------------------------------


class BusinessOut(BaseModel):
    slug: str
    name: str
    timezone: str
    default_locale: str
    locales: list[str]
    phone: str
    email: str
    address: str
    sender_name: str
    sender_email: str
    change_instructions: str | None = Field(
        description="Shown in emails instead of the Manage button (how to change a booking)."
    )


class BusinessUpdate(Strict):
    """Only the fields given change; ``null`` clears ``change_instructions``."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = Field(default=None, description="IANA name, e.g. Europe/Berlin.")
    default_locale: str | None = Field(default=None, description="One of the business's locales.")
    phone: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=254, description="Contact address; empty clears it.")
    address: str | None = Field(default=None, max_length=500)
    sender_name: str | None = Field(default=None, max_length=200)
    sender_email: str | None = Field(default=None, max_length=254)
    change_instructions: str | None = Field(default=None, max_length=5000)

    @field_validator("email", "sender_email")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return value if value is None or not value.strip() else _email(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return None if value is None else _zone(value)


class ServiceOut(BaseModel):
    slug: str
    name: str
    description: str
    active: bool
    duration_minutes: int
    buffer_before_minutes: int
    buffer_after_minutes: int
    customer_can_manage: bool = Field(
        description=(
            "Allow customers to manage their appointment if booked by you or your staff on their behalf."
        )
    )
    change_cutoff_minutes: int = Field(description="Customers cannot change a booking this close to it.")
    min_notice_minutes: int
    horizon_days: int
    reminder_offsets_minutes: list[int] = Field(description="Reminders this many minutes before the start.")
    location: str
    change_instructions: str | None
    staff: list[str] = Field(description="Emails of the staff who perform the service.")


class ServiceUpdate(Strict):
    """Only the fields given change. Settings apply from now on: to the next email and page."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    active: bool | None = None
    duration_minutes: int | None = Field(default=None, ge=5, le=24 * 60)
    buffer_before_minutes: int | None = Field(default=None, ge=0, le=24 * 60)
    buffer_after_minutes: int | None = Field(default=None, ge=0, le=24 * 60)
    customer_can_manage: bool | None = None
    change_cutoff_minutes: int | None = Field(default=None, ge=0, le=MAX_MINUTES)
    min_notice_minutes: int | None = Field(default=None, ge=0, le=MAX_MINUTES)
    horizon_days: int | None = Field(default=None, ge=1, le=730)
    reminder_offsets_minutes: list[int] | None = Field(
        default=None, max_length=MAX_REMINDERS, description="E.g. [1440, 60]: a day and an hour before."
    )
    location: str | None = Field(default=None, max_length=500)
    change_instructions: str | None = Field(default=None, max_length=5000)
    staff: list[str] | None = Field(default=None, description="Emails of the eligible staff (replaces).")

    @field_validator("reminder_offsets_minutes")
    @classmethod
    def _offsets(cls, value: list[int] | None) -> list[int] | None:
        if value is None:
            return None
        if any(offset < 1 or offset > MAX_MINUTES for offset in value):
            raise ValueError(f"every offset must be between 1 and {MAX_MINUTES} minutes")
        return sorted(set(value), reverse=True)

    @field_validator("staff")
    @classmethod
    def _staff(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else list(dict.fromkeys(_email(email) for email in value))


class StaffOut(BaseModel):
    email: str
    name: str
    role: str
    locale: str
    timezone: str
    active: bool
    weekly_hours: dict[str, list[list[str]]] = Field(
        description='Weekday (0 = Monday) -> local periods, e.g. {"0": [["09:00", "17:00"]]}.'
    )
    services: list[str]


class CustomerOut(BaseModel):
    email: str
    name: str
    phone: str
    locale: str
    timezone: str
    bouncing: bool = Field(description="Emails to this address bounce; nothing is sent until cleared.")


# --- bookings ------------------------------------------------------------------------


class CustomerIn(Strict):
    email: str = Field(max_length=254)
    name: str = Field(min_length=1, max_length=200)
    locale: str | None = Field(default=None, description="One of the business's locales; default its own.")
    timezone: str | None = Field(default=None, description="IANA name; default the business's.")
    phone: str = Field(default="", max_length=64)

    @field_validator("email")
    @classmethod
    def _address(cls, value: str) -> str:
        return _email(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the name is empty")
        return value.strip()

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return None if value is None or not value.strip() else _zone(value)


class BookingCreate(Strict):
    service: str = Field(description="Service slug.")
    staff: str = Field(description="Staff member's email.")
    customer: CustomerIn
    start: datetime = Field(description="ISO 8601; without an offset it is the business's local time.")
    origin: Origin = Field(
        default=Origin.STAFF,
        description="staff: booked on the customer's behalf; self_service: the customer booked it.",
    )


class Reschedule(Strict):
    start: datetime = Field(description="ISO 8601; without an offset it is the business's local time.")
    staff: str | None = Field(default=None, description="Move to this staff member (email).")


class Cancel(Strict):
    reason: str | None = Field(default=None, max_length=1000, description="Told to the customer.")


class BookingCustomer(BaseModel):
    email: str
    name: str
    locale: str
    timezone: str


class BookingOut(BaseModel):
    ref: str
    status: Literal["confirmed", "cancelled"]
    origin: Origin
    service: str
    staff: str
    customer: BookingCustomer
    start: datetime
    end: datetime
    sequence: int


class CreatedBookingOut(BookingOut):
    manage_url: str = Field(description="The customer's manage link (also for bookings they may not change).")


class SlotOut(BaseModel):
    start: datetime
    end: datetime
    staff: str
    staff_name: str


# --- templates -----------------------------------------------------------------------


class TemplateState(BaseModel):
    kind: str
    locale: str
    state: Literal["default", "edited"]
    version: int | None = Field(description="The saved version in force; null for the shipped default.")
    versions: int = Field(description="How many versions are saved.")


class VersionOut(BaseModel):
    version: int
    created_at: datetime
    created_by: str
    note: str
    current: bool
    subject: str


class TemplateOut(TemplateState):
    subject: str
    mjml: str
    text: str | None
    history: list[VersionOut]


class TemplateDraft(Strict):
    subject: str = Field(max_length=1000)
    mjml: str = Field(max_length=200_000)
    text: str | None = Field(default=None, max_length=200_000, description="Null: derived from the HTML.")


class NewVersion(TemplateDraft):
    note: str = Field(default="", max_length=500)


class Preview(Strict):
    """Render with sample data; without ``draft`` the template in force is rendered."""

    variant: Literal["manage", "no-manage"] = "manage"
    draft: TemplateDraft | None = None


class ProblemOut(BaseModel):
    part: str
    line: int | None
    message: str


class ValidationOut(BaseModel):
    valid: bool
    problems: list[ProblemOut]


class PreviewOut(BaseModel):
    subject: str
    html: str
    text: str


# --- status --------------------------------------------------------------------------


class OutboxOut(BaseModel):
    id: int
    kind: str
    recipient: str
    booking: str | None
    status: Literal["queued", "sending", "sent", "failed"]
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    message_id: str
    subject: str


class InboundOut(BaseModel):
    id: int
    received_at: datetime
    status: str
    kind: str | None
    command: str | None
    booking: str | None
    message_id: str | None
    error: str | None
    verdicts: list[dict[str, Any]] = Field(description="Each rule of the pipeline and what it decided.")


class ErrorOut(BaseModel):
    detail: str
    problem: str | None = None
