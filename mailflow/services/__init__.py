"""The service layer (DESIGN §11): every action that changes state, one function each.

A use case takes plain values (parsed by its adapter: the CLI, the JSON API, the
admin and customer pages, the inbound pipeline), opens one transaction, checks
the rules, writes, records an audit event, plans what follows (outbox rows,
reminders) and returns the result, or raises a ``MailflowError`` with a stable
code. Read models (listings for the CLI, API and admin) live beside them.

Modules: ``bookings`` (create, reschedule, cancel, slots), ``setup`` (business
profile, services, staff, hours, time off, closures), ``accounts`` (sign-in
passwords, sessions, invitations, resets), ``api_keys`` (create, list, revoke,
the bearer look-up), ``templates`` (save, roll back, reset, history),
``common`` (checks, audit).
The booking use cases are re-exported here, as before under ``mailflow.services``.
"""

from mailflow.services.bookings import (
    BookingView,
    CustomerInput,
    OfferedSlot,
    calendar_bounds,
    cancel_booking,
    create_booking,
    find_free_days,
    find_slots,
    get_booking,
    in_calendar,
    list_bookings,
    reschedule_booking,
    view_of,
)
from mailflow.services.common import check_timezone, normalize_email

__all__ = [
    "BookingView",
    "CustomerInput",
    "OfferedSlot",
    "calendar_bounds",
    "cancel_booking",
    "check_timezone",
    "create_booking",
    "find_free_days",
    "find_slots",
    "get_booking",
    "in_calendar",
    "list_bookings",
    "normalize_email",
    "reschedule_booking",
    "view_of",
]
