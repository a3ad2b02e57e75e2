"""Request and response shapes of ``/api/v1`` (pydantic).

Booking JSON is DESIGN §10's, the same as the CLI prints. Addresses and time
zones are checked here with the functions the use cases use, so a bad value
gets a 422 naming its field before anything is looked up.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mailflow.api.errors import FieldInvalid
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


# --- business, services, staff, closures, customers -----------------------------------

Texts = dict[str, str]
TEXTS = (
    'One text per language ({"en": …, "de": …}); the languages given replace theirs, '
    "an empty text removes one."
)


class BusinessOut(BaseModel):
    slug: str
    name: str
    timezone: str
    default_locale: str = Field(description="The language of texts given without one.")
    locales: list[str] = Field(description="The languages offered, the default first.")
    phone: str
    email: str
    address: str
    sender_name: str
    sender_email: str
    change_instructions: Texts = Field(
        description="Per language: shown in emails instead of the Manage button (how to change a booking)."
    )


class BusinessUpdate(Strict):
    """Only the fields given change; an empty text clears a contact field."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = Field(default=None, description="IANA name, e.g. Europe/Berlin.")
    default_locale: str | None = Field(
        default=None, description="The default language; one of ``locales`` (or added to them)."
    )
    locales: list[str] | None = Field(
        default=None, min_length=1, max_length=20, description='The languages offered, e.g. ["en", "de"].'
    )
    phone: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=254, description="Contact address; empty clears it.")
    address: str | None = Field(default=None, max_length=500)
    sender_name: str | None = Field(default=None, max_length=200)
    sender_email: str | None = Field(default=None, max_length=254)
    change_instructions: Texts | None = Field(default=None, description=TEXTS + " null clears them all.")

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
    name: str = Field(description="In the business's default language.")
    description: str = Field(description="In the business's default language.")
    names: Texts = Field(description="The name per language.")
    descriptions: Texts = Field(description="The description per language.")
    change_instructions: Texts = Field(
        description="Per language: how to change a booking (instead of the business's)."
    )
    active: bool = Field(description="False once archived: off the booking pages, bookings kept.")
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
    staff: list[str] = Field(description="Emails of the staff who perform the service.")


# The API's names of a service's settings -> the use case's (``mailflow.services.catalog``).
SERVICE_VALUES = {
    "names": "names",
    "descriptions": "descriptions",
    "change_instructions": "change_instructions",
    "active": "active",
    "duration_minutes": "duration",
    "buffer_before_minutes": "buffer_before",
    "buffer_after_minutes": "buffer_after",
    "customer_can_manage": "customer_can_manage",
    "change_cutoff_minutes": "change_cutoff",
    "min_notice_minutes": "min_notice",
    "horizon_days": "horizon_days",
    "reminder_offsets_minutes": "reminders",
    "location": "location",
    "staff": "staff",
}


class ServiceSettings(Strict):
    """What ``POST`` and ``PATCH /services`` share; every field is optional here."""

    name: str | None = Field(
        default=None, min_length=1, max_length=200, description="The name in the default language."
    )
    names: Texts | None = Field(default=None, description="The name per language. " + TEXTS)
    description: str | None = Field(
        default=None, max_length=5000, description="The description in the default language."
    )
    descriptions: Texts | None = Field(default=None, description="The description per language. " + TEXTS)
    change_instructions: Texts | None = Field(
        default=None, description="How to change a booking, per language. " + TEXTS
    )
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

    @field_validator("names", "descriptions", "change_instructions")
    @classmethod
    def _texts(cls, value: Texts | None) -> Texts | None:
        if value is not None and any("\x00" in f"{key}{text}" for key, text in value.items()):
            raise ValueError("NUL characters are not allowed")
        return value

    def values(self, default_locale: str) -> dict[str, Any]:
        """The use case's ``values``: the fields given, ``name``/``description`` folded into the
        default language's entry of ``names``/``descriptions``."""
        given = self.model_dump(exclude_unset=True)
        for name, value in given.items():
            if value is None and name != "change_instructions":
                raise FieldInvalid.at(("body", name), f"{name} cannot be null")
        values = {SERVICE_VALUES[name]: value for name, value in given.items() if name in SERVICE_VALUES}
        for single, texts in (("name", "names"), ("description", "descriptions")):
            if single not in given:
                continue
            current = values.get(texts) or {}
            if current.get(default_locale, given[single]) != given[single]:
                raise FieldInvalid.at(
                    ("body", single), f"{single} and {texts}.{default_locale} differ: give one of them"
                )
            values[texts] = {**current, default_locale: given[single]}
        if values.get("change_instructions", {}) is None:
            values["change_instructions"] = {}
        return values


class ServiceCreate(ServiceSettings):
    """A new service: a slug, a name in the default language (``name`` or ``names``), a
    duration and at least one staff member; the other settings have defaults."""

    slug: str = Field(min_length=1, max_length=64, description="Lower-case letters, digits, hyphens.")
    duration_minutes: int = Field(ge=5, le=24 * 60)
    staff: list[str] = Field(description="Emails of the staff who perform it (one at least).")


class ServiceUpdate(ServiceSettings):
    """Only the fields given change. Settings apply from now on: to the next email and page;
    changed reminder offsets re-plan the pending reminders of upcoming bookings."""


Period = Annotated[
    list[Annotated[str, Field(max_length=5)]],
    Field(min_length=2, max_length=2, description="[start, end], local HH:MM."),
]
DayPeriods = Annotated[list[Period], Field(max_length=12)]
DAY_HELP = 'Local periods of the day, e.g. [["09:00", "12:00"], ["13:00", "17:00"]]; [] or absent: off.'


class WeeklyHours(Strict):
    """The whole week (a day left out is off), in the staff member's time zone."""

    mon: DayPeriods = Field(default_factory=list, description=DAY_HELP)
    tue: DayPeriods = Field(default_factory=list, description=DAY_HELP)
    wed: DayPeriods = Field(default_factory=list, description=DAY_HELP)
    thu: DayPeriods = Field(default_factory=list, description=DAY_HELP)
    fri: DayPeriods = Field(default_factory=list, description=DAY_HELP)
    sat: DayPeriods = Field(default_factory=list, description=DAY_HELP)
    sun: DayPeriods = Field(default_factory=list, description=DAY_HELP)


class StaffOut(BaseModel):
    email: str
    name: str
    role: Literal["staff", "admin"]
    locale: str
    timezone: str
    active: bool
    hours: dict[str, list[list[str]]] = Field(
        description='Weekday -> local periods, e.g. {"mon": [["09:00", "12:00"], ["13:00", "17:00"]]}.'
    )
    weekly_hours: dict[str, list[list[str]]] = Field(
        description='The same by day number (0 = Monday), e.g. {"0": [["09:00", "17:00"]]}.'
    )
    services: list[str]
    can_sign_in: bool = Field(description="Whether they have a password (invited or set).")


class StaffUpdated(StaffOut):
    affected: list[BookingOut] = Field(
        default_factory=list,
        description="When taken off the booking pages: their upcoming confirmed bookings, to be moved.",
    )


class StaffCreate(Strict):
    """A new staff member; they cannot sign in until invited or given a password."""

    email: str = Field(max_length=254)
    name: str = Field(min_length=1, max_length=200)
    role: Literal["staff", "admin"] = "staff"
    locale: str | None = Field(default=None, description="One of the business's languages; default its own.")
    timezone: str | None = Field(default=None, description="IANA name; default the business's.")
    hours: WeeklyHours | None = Field(
        default=None, description="Weekly hours; without them nobody can book them."
    )

    @field_validator("email")
    @classmethod
    def _address(cls, value: str) -> str:
        return _email(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return None if value is None else _zone(value)


class StaffUpdate(Strict):
    """Only the fields given change. ``active: false`` takes them off the booking pages."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    role: Literal["staff", "admin"] | None = None
    locale: str | None = Field(default=None, description="One of the business's languages.")
    timezone: str | None = Field(default=None, description="IANA name.")
    active: bool | None = None

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return None if value is None else _zone(value)


class TimeOffIn(Strict):
    start: datetime = Field(description="ISO 8601; without an offset, the staff member's local time.")
    end: datetime = Field(description="ISO 8601, after start; without an offset, local time.")
    reason: str = Field(default="", max_length=200)


class TimeOffOut(BaseModel):
    id: int
    staff: str
    start: datetime = Field(description="In the staff member's time zone.")
    end: datetime
    reason: str


class ClosureIn(Strict):
    first: date = Field(alias="from", description="The first closed day (the business's local date).")
    last: date | None = Field(default=None, alias="to", description="The last closed day; default: from.")
    label: str = Field(default="", max_length=200, description="E.g. Christmas.")


class ClosureOut(BaseModel):
    id: int = Field(description="0 for a day left alone (already closed).")
    first: date = Field(alias="from")
    last: date = Field(alias="to")
    label: str


class HolidaysIn(Strict):
    country: str = Field(min_length=2, max_length=3, description="ISO 3166 code, e.g. DE.")
    subdivision: str | None = Field(default=None, max_length=10, description="Region, e.g. BY.")
    year: int = Field(ge=1970, le=8999)


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
    note: str | None = Field(
        default=None, max_length=1000, description="The customer's note to the business (shown to staff)."
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


class BookingWarningOut(BaseModel):
    code: Literal["external_busy"] = Field(
        description="external_busy: the staff member's own calendar is busy then (the booking is made)."
    )
    message: str


class ChangedBookingOut(BookingOut):
    warnings: list[BookingWarningOut] = Field(
        default_factory=list, description="What staff should know about a booking made anyway."
    )


class CreatedBookingOut(ChangedBookingOut):
    manage_url: str = Field(description="The customer's manage link (also for bookings they may not change).")


class TimeOffAdded(TimeOffOut):
    affected: list[BookingOut] = Field(description="Confirmed bookings inside it: move or cancel them.")


class ClosuresAdded(BaseModel):
    closures: list[ClosureOut] = Field(description="The closures made.")
    skipped: list[ClosureOut] = Field(description="Days already closed, left as they were.")
    affected: list[BookingOut] = Field(description="Confirmed bookings on the new closed days.")


class SlotOut(BaseModel):
    start: datetime
    end: datetime
    staff: str
    staff_name: str


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
