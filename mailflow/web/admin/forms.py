"""What the set-up pages share: a form's state, the posted form, the affected bookings.

A form that fails comes back with every value as typed and the problem next to
the field the service layer named (``InvalidInput.field``), answered 400.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_skeleton
from fastapi import Request

from mailflow.errors import InvalidInput
from mailflow.services.bookings import BookingView

__all__ = ["FormState", "affected_rows", "local_text", "posted", "span_text", "texts_of"]


@dataclass
class FormState:
    """One form as shown or as posted: its values, and the problems by field name."""

    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)

    def fail(
        self, exc: InvalidInput, default: str, aliases: dict[str, str] | None = None, *, locale: str = "en"
    ) -> FormState:
        """This form with ``exc``'s message in ``locale`` at its field (``aliases`` maps service
        fields to form fields; a field the form does not have gets ``default``)."""
        name = (aliases or {}).get(exc.field or default, exc.field or default)
        self.errors[name if name in self.values else default] = exc.text(locale)
        return self


def local_text(value: datetime, zone: str, locale: str) -> str:
    """``value`` in ``zone`` as ``locale`` writes a weekday, date and time ("Tue, Dec 8, 2026, 10:00")."""
    local = value.astimezone(ZoneInfo(zone))
    day, time = format_skeleton("yMMMEd", local, locale=locale), format_skeleton("Hm", local, locale=locale)
    return str(Locale.parse(locale).datetime_formats["medium"]).format(time, day)


def span_text(start: datetime, end: datetime, zone: str, locale: str) -> str:
    """A booking's day and times in ``zone`` as ``locale`` writes them ("Tue, Dec 8, 2026, 10:00–10:45")."""
    tz = ZoneInfo(zone)
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    day = format_skeleton("yMMMEd", local_start, locale=locale)
    first, last = (format_skeleton("Hm", moment, locale=locale) for moment in (local_start, local_end))
    times = f"{first}–{last}"
    return str(Locale.parse(locale).datetime_formats["medium"]).format(times, day)


def affected_rows(affected: list[BookingView], locale: str) -> list[dict[str, str]]:
    """The bookings an action left to be moved, as the ``affected_list`` macro shows them."""
    return [
        {
            "ref": booking.ref,
            "start_local": local_text(booking.start, booking.business_timezone, locale),
            "service": booking.service,
            "staff": booking.staff,
            "customer_name": booking.customer_name,
            "customer_email": booking.customer_email,
        }
        for booking in affected
    ]


def texts_of(values: dict[str, Any], prefix: str, languages: list[str]) -> dict[str, str]:
    """``{"en": values["name_en"], …}`` for the languages offered (form fields ``<prefix>_<lang>``)."""
    return {language: str(values.get(f"{prefix}_{language}", "")) for language in languages}


MULTI = ("staff", "languages")


async def posted(request: Request) -> dict[str, Any]:
    """The posted form as a dict (a dependency): ``staff`` and ``languages`` as lists of values,
    every other field as its last value (text only)."""
    form = await request.form()
    values: dict[str, Any] = {name: [] for name in MULTI}
    for name, value in form.multi_items():
        if not isinstance(value, str):
            continue
        if name in MULTI:
            values[name].append(value)
        else:
            values[name] = value
    return values
