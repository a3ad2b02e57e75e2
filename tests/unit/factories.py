"""Factories for the core's values, so tests state only what matters to them."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from mailflow.booking.model import (
    BookingState,
    BookingStatus,
    Closures,
    Origin,
    ServiceRules,
    StaffSchedule,
)

START = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Berlin
NINE_TO_FIVE = {day: [(time(9), time(17))] for day in range(5)}


def rules(**overrides: Any) -> ServiceRules:
    values: dict[str, Any] = {"duration": timedelta(minutes=45)}
    values.update(overrides)
    return ServiceRules(**values)


def booking(**overrides: Any) -> BookingState:
    values: dict[str, Any] = {
        "ref": "BK-TEST23",
        "service_id": 1,
        "staff_id": 1,
        "customer_id": 1,
        "origin": Origin.SELF_SERVICE,
        "status": BookingStatus.CONFIRMED,
        "start": START,
        "end": START + timedelta(minutes=45),
        "booking_id": 7,
    }
    values.update(overrides)
    return BookingState(**values)


def schedule(staff_id: int = 1, tz: str = "Europe/Berlin", **overrides: Any) -> StaffSchedule:
    values: dict[str, Any] = {"staff_id": staff_id, "timezone": tz, "weekly_hours": NINE_TO_FIVE}
    values.update(overrides)
    return StaffSchedule(**values)


def no_closures() -> Closures:
    return Closures(timezone="Europe/Berlin")
