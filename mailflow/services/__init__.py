"""The service layer (DESIGN §11): every action that changes state, one function each.

A use case takes plain values (parsed by its adapter: the CLI, the JSON API, the
admin and customer pages, the inbound pipeline), opens one transaction, checks
the rules, writes, records an audit event, plans what follows (outbox rows,
reminders, webhook deliveries) and returns the result, or raises a ``MailflowError`` with a stable
code. Read models (listings for the CLI, API and admin) live beside them.

Modules:

- ``bookings``: create, reschedule, cancel, look up, list; ``free_slots``: the free starts and days;
- ``business``: the business profile, its languages, the first run's set-up link;
- ``catalog``: services (names, descriptions, change instructions per language;
  archive; reminder offsets re-planned), and what the self-service page lists;
- ``staff``: staff members and their weekly hours; ``time_off``: their absences (with the
  bookings they affect);
- ``closures``: closed days and imported public holidays;
- ``customers``: address correction, export, erasure, listings;
- ``calendar`` and ``manage``: what the admin calendar and the manage page show;
- ``inbound_store``, ``inbound`` and ``mail_log``: storing and claiming inbound mail, what the
  pipeline reads and changes and its finished record, and the outbox and inbound listings;
- ``accounts``, ``sessions``, ``account_links``: the team, sign-in passwords and preferences;
  sign-in sessions; invitations and password resets;
- ``api_keys``: create, list, revoke, the bearer look-up;
- ``webhooks``: endpoints, test events, re-sends, the delivery log; ``webhook_events``: the
  events planned in each change's transaction; ``booking_view``: the booking JSON they share;
- ``templates``: save, import, roll back, reset email templates, their history;
- ``reminders``, ``agenda``, ``housekeeping``: reminders planned with each change and sent
  when due, the staff's daily agenda, dropping what is no longer kept;
- ``common``: the checks every use case shares, and the audit record.

The booking use cases and the free-slot search are re-exported here.
"""

from mailflow.services.bookings import (
    BookingView,
    CustomerInput,
    calendar_bounds,
    cancel_booking,
    create_booking,
    get_booking,
    in_calendar,
    list_bookings,
    reschedule_booking,
    view_of,
)
from mailflow.services.common import check_timezone, normalize_email
from mailflow.services.free_slots import OfferedSlot, find_free_days, find_slots

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
