"""What the template editor (``templates_editor``) says, in the admin's language.

The descriptions of the email kinds, the notices after an action, and the page
the preview frame shows while a draft has problems.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from mailflow.i18n import N_, gettext
from mailflow.outbound.validate import Problem

__all__ = [
    "DESCRIPTIONS",
    "conflict_notice",
    "done_notice",
    "problems_page",
    "test_email_notice",
    "unchanged_notice",
]

DESCRIPTIONS: Mapping[str, str] = {
    "confirmation": N_("To the customer when a booking is made"),
    "reminder": N_("To the customer before the appointment"),
    "rescheduled": N_("To the customer when the booking moved"),
    "cancelled": N_("To the customer when the booking is cancelled"),
    "reschedule_options": N_("Answer to a “reschedule” reply: free slots to choose from"),
    "action_refused": N_("Answer to a reply command that cannot be carried out"),
    "staff_reply": N_("A staff member's answer relayed to the customer"),
    "booking_created": N_("To staff and admins: a new booking"),
    "booking_rescheduled": N_("To staff and admins: a booking moved"),
    "booking_cancelled": N_("To staff and admins: a booking was cancelled"),
    "booking_reassigned": N_("To the two staff members when a booking is handed from one to the other"),
    "customer_message": N_("To staff: a customer's reply that is no command"),
    "delivery_failed": N_("To admins: an email could not be delivered"),
    "daily_agenda": N_("To staff: tomorrow's bookings"),
    "reply_not_relayed": N_(
        "To staff: their reply to a notification reached no one, and how to reach the customer"
    ),
}


def done_notice(locale: str, kind: str, *, saved: int | None, rolled_back: int | None, reset: bool) -> str:
    """What the editor says after a save, a rollback or a reset ("" after none)."""
    if saved is not None:
        return gettext(
            locale,
            "Saved as version {version}. The next {kind} email in this language uses it.",
            version=saved,
            kind=kind,
        )
    if rolled_back is not None:
        return gettext(locale, "Version {version} is in force again.", version=rolled_back)
    if reset:
        return gettext(
            locale, "The shipped default is in force again; saved versions are kept in the history."
        )
    return ""


def unchanged_notice(locale: str, version: int | None) -> str:
    """A save of the very text in force (``version``; None: the shipped default)."""
    if version:
        return gettext(
            locale,
            "Nothing changed: version {version} in force is this very text, so nothing was saved.",
            version=version,
        )
    return gettext(
        locale, "Nothing changed: the shipped default in force is this very text, so nothing was saved."
    )


def conflict_notice(locale: str, version: int | None) -> str:
    """A save refused because ``version`` (None: the shipped default) came into force meanwhile."""
    if version:
        return gettext(
            locale,
            "Not saved: version {version} came into force while you were editing. Your draft is kept "
            "below; look at the history, then save again to replace it.",
            version=version,
        )
    return gettext(
        locale,
        "Not saved: the shipped default came into force while you were editing. Your draft is kept "
        "below; look at the history, then save again to replace it.",
    )


def test_email_notice(locale: str, variant: str, address: str) -> str:
    """A test email of sample ``variant`` queued to ``address``."""
    if variant == "manage":
        sample = gettext(locale, "with the Manage button")
    else:
        sample = gettext(locale, "without the Manage button")
    return gettext(locale, "Test email ({sample}) queued to {address}.", sample=sample, address=address)


def problems_page(problems: list[Problem], locale: str) -> str:
    """The preview frame's page while the draft has ``problems``."""
    items = "".join(f"<li>{escape(str(problem))}</li>" for problem in problems)
    title = escape(gettext(locale, "Preview"))
    lead = escape(gettext(locale, "The draft cannot be shown until these are fixed:"))
    return (
        f"<!doctype html><html lang='{locale}'><head><meta charset='utf-8'><title>{title}</title></head>"
        "<body style='font-family:system-ui,sans-serif;color:#9b2c2c'>"
        f"<p>{lead}</p><ul>{items}</ul></body></html>"
    )
