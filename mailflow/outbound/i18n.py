"""The few sentences mailflow writes into emails itself (the templates hold the rest)."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "change_instructions": "To change or cancel, call us at {phone} or write to {email}.",
        "change_instructions.phone": "To change or cancel, call us at {phone}.",
        "change_instructions.email": "To change or cancel, write to {email}.",
        "change_instructions.none": "To change or cancel, please contact {business}.",
        "reason.allowed": "",
        "reason.origin_staff_and_setting_off": "This appointment was booked for you by our team, so changes go through us.",
        "reason.cancelled": "This appointment has been cancelled.",
        "reason.started": "This appointment has already started.",
        "reason.past_cutoff": "It is now too close to the appointment to change it online.",
        "changed_by.customer_link": "the customer via the manage page",
        "changed_by.customer_reply": "the customer by replying to an email",
        "changed_by.staff": "staff ({label})",
        "changed_by.system": "mailflow",
        "summary": "{service} at {business}",
    },
    "de": {
        "change_instructions": "Für Änderungen oder eine Absage rufen Sie uns an unter {phone} oder schreiben Sie an {email}.",
        "change_instructions.phone": "Für Änderungen oder eine Absage rufen Sie uns an unter {phone}.",
        "change_instructions.email": "Für Änderungen oder eine Absage schreiben Sie an {email}.",
        "change_instructions.none": "Für Änderungen oder eine Absage wenden Sie sich bitte an {business}.",
        "reason.allowed": "",
        "reason.origin_staff_and_setting_off": "Diesen Termin hat unser Team für Sie gebucht – Änderungen laufen daher über uns.",
        "reason.cancelled": "Dieser Termin wurde abgesagt.",
        "reason.started": "Dieser Termin hat bereits begonnen.",
        "reason.past_cutoff": "So kurz vor dem Termin ist eine Änderung online nicht mehr möglich.",
        "changed_by.customer_link": "die Kundin bzw. der Kunde über die Terminseite",
        "changed_by.customer_reply": "die Kundin bzw. der Kunde per Antwort-E-Mail",
        "changed_by.staff": "das Team ({label})",
        "changed_by.system": "mailflow",
        "summary": "{service} bei {business}",
    },
}


def message(locale: str, key: str, **values: str) -> str:
    """The sentence ``key`` in ``locale`` (English when missing), with ``values`` filled in."""
    catalogue = MESSAGES.get(locale) or MESSAGES["en"]
    template = catalogue.get(key, MESSAGES["en"][key])
    return template.format(**values)
