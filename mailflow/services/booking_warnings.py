"""Warnings given with a booking that staff made anyway (issue 19): not refusals.

Staff may book over the busy times of a staff member's own calendars (customers may not);
the booking is made, and the CLI, the API (``"warnings": [{"code", "message"}]``) and the
admin say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mailflow import booking as core
from mailflow.booking.model import Actor, ServiceRules, StaffSchedule
from mailflow.i18n import N_, gettext

__all__ = ["EXTERNAL_BUSY", "BookingWarning", "booking_warnings"]

EXTERNAL_BUSY = "external_busy"
TEXTS = {EXTERNAL_BUSY: N_("{staff} is busy at that time in their own calendar; the booking is made anyway.")}


@dataclass(frozen=True, slots=True)
class BookingWarning:
    """A stable ``code`` and the values of its sentence (``text(locale)``)."""

    code: str
    values: dict[str, str] = field(default_factory=dict)

    def text(self, locale: str) -> str:
        return gettext(locale, TEXTS[self.code], **self.values)

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.text("en")}


def booking_warnings(
    rules: ServiceRules, schedule: StaffSchedule, start: datetime, actor: Actor, staff: str
) -> tuple[BookingWarning, ...]:
    """What staff should know about a booking they made at ``start`` (customers are refused instead)."""
    if actor.kind.is_customer or not core.external_conflict(rules, schedule, start):
        return ()
    return (BookingWarning(EXTERNAL_BUSY, {"staff": staff}),)
