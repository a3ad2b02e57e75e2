"""Sample render contexts for every email kind: template previews, validation and tests.

Each context matches the render contract of the default templates exactly
(``mailflow/templates/<locale>/<kind>.*``): a booking of the Contoso Salon in
Europe/Berlin, in two variants, ``manage`` (the customer may change the booking
online) and ``no-manage`` (they may not: the email shows the business's change
instructions instead). Staff kinds have both variants too, identical but for
``manage``.

The human strings (dates, change instructions, reasons) are written by hand for
each locale below; ``sample_context`` picks them for the locale asked for.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import quote

from mailflow.errors import InvalidInput
from mailflow.kinds import CALENDAR_LINK_KINDS, CUSTOMER_KINDS, STAFF_KINDS, EmailKind

KINDS: Final = CUSTOMER_KINDS + STAFF_KINDS  # the kinds with templates (see mailflow.kinds)
VARIANTS: Final = ("manage", "no-manage")
SAMPLE_LOCALES: Final = ("en", "de", "fr")

PUBLIC_URL = "http://127.0.0.1:8000"
# A made-up manage link (43-character token shape), not a working one.
MANAGE_URL = f"{PUBLIC_URL}/m/q3Vd0bT8zK1wYh5nR2sLmP4cXa7eF9gJ6uQyWbNtHkE"
REF = "BK-7Q2M9X"

BUSINESS: Final = {
    "name": "Contoso Salon",
    "phone": "+49 30 1234567",
    "email": "hello@contoso.example",
    "address": "Hauptstraße 1, 10115 Berlin",
    "website_url": "https://contoso.example",
}
CUSTOMER: Final = {"name": "Anna Schmidt", "email": "anna.schmidt@example.com", "phone": "+49 171 2345678"}
STAFF_MEMBER: Final = {"name": "Bob Berger", "email": "bob@contoso.example"}
ADMIN: Final = {"name": "Contoso Admin", "email": "admin@contoso.example"}

# The preformatted strings of each locale (what Babel and the business settings would give).
_STRINGS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "date": "Tuesday, 3 March 2026",
        "when": "Tuesday, 3 March 2026, 10:00–10:45 (CET)",
        "moved_date": "Thursday, 5 March 2026",
        "moved_when": "Thursday, 5 March 2026, 14:30–15:15 (CET)",
        "slot_1": "Wednesday, 4 March 2026, 09:00–09:45 (CET)",
        "slot_2": "Thursday, 5 March 2026, 14:30–15:15 (CET)",
        "slot_3": "Friday, 6 March 2026, 11:00–11:45 (CET)",
        "timezone_name": "CET",
        "time_range": "10:00–10:45",
        "moved_time_range": "14:30–15:15",
        "day_time": "Tue 3 Mar, 10:00",
        "moved_day_time": "Thu 5 Mar, 14:30",
        "soon": "tomorrow, 10:00",
        "spoken_range": "from 10:00 to 10:45",
        "moved_spoken_range": "from 14:30 to 15:15",
        "change_instructions": (
            "To change or cancel, call us at +49 30 1234567 or write to hello@contoso.example."
        ),
        "reason_origin_staff_and_setting_off": (
            "This booking was made by our team, so we are happy to change it for you."
        ),
        "reason_cancelled": "This booking has been cancelled.",
        "reason_past_cutoff": "It is too close to the appointment to change it online.",
        "reason_slot_taken": "Someone else has just booked that time.",
        "cancel_reason": "I'm ill, sorry.",
        "note": "Please use the fragrance-free shampoo, I am allergic.",
        "changed_by_manage_page": "the customer via the manage page",
        "changed_by_reply": "the customer by replying to an email",
        "changed_by_staff": "staff (admin@contoso.example)",
        "changed_by_system": "mailflow (automatic)",
        "message_subject": "Re: Your booking is confirmed",
        "message_text": (
            "Hello,\nmay I bring my daughter along? She would like a trim too.\n\nThanks,\nAnna"
        ),
        "reply_subject": "Re: Message from Anna Schmidt (BK-7Q2M9X): Re: Your booking is confirmed",
        "reply_text": (
            "Hello Anna,\nof course, bring her along! I have kept 10:45–11:15 free for her trim,"
            " right after your appointment.\nSee you on Tuesday!"
        ),
    },
    "de": {
        "date": "Dienstag, 3. März 2026",
        "when": "Dienstag, 3. März 2026, 10:00–10:45 Uhr (MEZ)",
        "moved_date": "Donnerstag, 5. März 2026",
        "moved_when": "Donnerstag, 5. März 2026, 14:30–15:15 Uhr (MEZ)",
        "slot_1": "Mittwoch, 4. März 2026, 09:00–09:45 Uhr (MEZ)",
        "slot_2": "Donnerstag, 5. März 2026, 14:30–15:15 Uhr (MEZ)",
        "slot_3": "Freitag, 6. März 2026, 11:00–11:45 Uhr (MEZ)",
        "timezone_name": "MEZ",
        "time_range": "10:00–10:45 Uhr",
        "moved_time_range": "14:30–15:15 Uhr",
        "day_time": "Di., 3. März, 10:00 Uhr",
        "moved_day_time": "Do., 5. März, 14:30 Uhr",
        "soon": "morgen, 10:00 Uhr",
        "spoken_range": "von 10:00 bis 10:45 Uhr",
        "moved_spoken_range": "von 14:30 bis 15:15 Uhr",
        "change_instructions": (
            "Für Änderungen oder eine Absage rufen Sie uns bitte unter +49 30 1234567 an "
            "oder schreiben Sie an hello@contoso.example."
        ),
        "reason_origin_staff_and_setting_off": (
            "Dieser Termin wurde von unserem Team gebucht; Änderungen übernehmen wir gern für Sie."
        ),
        "reason_cancelled": "Dieser Termin wurde storniert.",
        "reason_past_cutoff": "So kurz vor dem Termin ist eine Änderung online nicht mehr möglich.",
        "reason_slot_taken": "Dieser Termin wurde inzwischen leider anderweitig vergeben.",
        "cancel_reason": "Ich bin leider krank geworden.",
        "note": "Bitte das parfümfreie Shampoo verwenden, ich bin allergisch.",
        "changed_by_manage_page": "Kunde/Kundin über die Terminseite",
        "changed_by_reply": "Kunde/Kundin per Antwort-E-Mail",
        "changed_by_staff": "Team (admin@contoso.example)",
        "changed_by_system": "mailflow (automatisch)",
        "message_subject": "AW: Ihr Termin ist bestätigt",
        "message_text": (
            "Hallo,\nkann ich meine Tochter mitbringen? Sie hätte auch gern einen Spitzenschnitt.\n\n"
            "Danke und viele Grüße\nAnna"
        ),
        "reply_subject": "AW: Nachricht von Anna Schmidt (BK-7Q2M9X): AW: Ihr Termin ist bestätigt",
        "reply_text": (
            "Hallo Frau Schmidt,\nsehr gern, bringen Sie Ihre Tochter einfach mit! Ich habe direkt im"
            " Anschluss an Ihren Termin von 10:45 bis 11:15 Uhr für sie freigehalten.\nBis Dienstag!"
        ),
    },
    "fr": {
        "date": "mardi 3 mars 2026",
        "when": "mardi 3 mars 2026, 10:00–10:45 (CET)",
        "moved_date": "jeudi 5 mars 2026",
        "moved_when": "jeudi 5 mars 2026, 14:30–15:15 (CET)",
        "slot_1": "mercredi 4 mars 2026, 09:00–09:45 (CET)",
        "slot_2": "jeudi 5 mars 2026, 14:30–15:15 (CET)",
        "slot_3": "vendredi 6 mars 2026, 11:00–11:45 (CET)",
        "timezone_name": "CET",
        "time_range": "10:00–10:45",
        "moved_time_range": "14:30–15:15",
        "day_time": "mar. 3 mars, 10:00",
        "moved_day_time": "jeu. 5 mars, 14:30",
        "soon": "demain, 10:00",
        "spoken_range": "de 10:00 à 10:45",
        "moved_spoken_range": "de 14:30 à 15:15",
        "change_instructions": (
            "Pour modifier ou annuler votre rendez-vous, appelez-nous au +49 30 1234567 "
            "ou écrivez-nous à hello@contoso.example."
        ),
        "reason_origin_staff_and_setting_off": (
            "Ce rendez-vous a été pris pour vous par notre équipe\u00a0: "
            "nous le modifierons volontiers pour vous."
        ),
        "reason_cancelled": "Ce rendez-vous a été annulé.",
        "reason_past_cutoff": "Le rendez-vous est désormais trop proche pour être modifié en ligne.",
        "reason_slot_taken": "Ce créneau vient malheureusement d’être réservé par quelqu’un d’autre.",
        "cancel_reason": "Je suis malade, désolée.",
        "note": "Merci d’utiliser le shampooing sans parfum, je suis allergique.",
        "changed_by_manage_page": "le client, depuis la page de son rendez-vous",
        "changed_by_reply": "le client, en répondant à un e-mail",
        "changed_by_staff": "l’équipe (admin@contoso.example)",
        "changed_by_system": "mailflow (automatique)",
        "message_subject": "RE\u00a0: Votre rendez-vous est confirmé",
        "message_text": (
            "Bonjour,\npuis-je venir avec ma fille\u00a0? "
            "Elle aimerait aussi se faire rafraîchir les pointes.\n\n"
            "Merci et bonne journée,\nAnna"
        ),
        "reply_subject": (
            "RE\u00a0: Message de Anna Schmidt (BK-7Q2M9X)\u00a0: RE\u00a0: Votre rendez-vous est confirmé"
        ),
        "reply_text": (
            "Bonjour Madame Schmidt,\nbien sûr, venez avec elle\u00a0! J’ai gardé le créneau 10:45–11:15 pour"
            " sa coupe, juste après votre rendez-vous.\nÀ mardi\u00a0!"
        ),
    },
}

# Which reason a customer email of each kind gives in the ``no-manage`` variant.
_NO_MANAGE_REASON: Final = {
    "cancelled": "cancelled",
    "action_refused": "past_cutoff",
}


def _booking(kind: str, s: dict[str, str]) -> dict[str, Any]:
    moved = kind in (EmailKind.RESCHEDULED, EmailKind.BOOKING_RESCHEDULED, EmailKind.BOOKING_REASSIGNED)
    cancelled = kind in (EmailKind.CANCELLED, EmailKind.BOOKING_CANCELLED)
    return {
        "ref": REF,
        "service_name": "Haircut",
        "staff_name": "Carla Castro" if moved else "Bob Berger",
        "when": s["moved_when"] if moved else s["when"],
        "date": s["moved_date"] if moved else s["date"],
        "time_range": s["moved_time_range"] if moved else s["time_range"],
        "timezone_name": s["timezone_name"],
        "day_time": s["moved_day_time"] if moved else s["day_time"],
        "soon": s["soon"],
        "spoken_range": s["moved_spoken_range"] if moved else s["spoken_range"],
        "venue_time": "",
        "duration": "45 min",
        "location": "",
        "customer_name": CUSTOMER["name"],
        "customer_email": CUSTOMER["email"],
        "customer_phone": CUSTOMER["phone"],
        "status": "cancelled" if cancelled else "confirmed",
        "cancel_reason": s["cancel_reason"] if cancelled else None,
        "note": s["note"],
    }


def _manage(kind: str, variant: str, s: dict[str, str]) -> dict[str, Any]:
    if variant == "manage":
        return {"allowed": True, "reason": "allowed", "reason_text": ""}
    reason = _NO_MANAGE_REASON.get(kind, "origin_staff_and_setting_off")
    return {"allowed": False, "reason": reason, "reason_text": s[f"reason_{reason}"]}


def _slots(s: dict[str, str]) -> list[dict[str, Any]]:
    times = (
        ("slot_1", "Bob Berger", "2026-03-04T08:00:00Z", "bob"),
        ("slot_2", "Carla Castro", "2026-03-05T13:30:00Z", "carla"),
        ("slot_3", "Bob Berger", "2026-03-06T10:00:00Z", "bob"),
    )
    return [
        {
            "number": number,
            "when": s[key],
            "staff_name": staff_name,
            "url": f"{MANAGE_URL}/reschedule?start={start}&staff={staff}%40contoso.example",
        }
        for number, (key, staff_name, start, staff) in enumerate(times, start=1)
    ]


def _agenda(s: dict[str, str]) -> dict[str, Any]:
    rows = (
        (("09:00", "09:30"), "Consultation", "Ada Lovelace", "ada@example.com", "", "BK-3HK8PW"),
        (("10:00", "10:45"), "Haircut", CUSTOMER["name"], CUSTOMER["email"], CUSTOMER["phone"], REF),
        (("14:00", "14:45"), "Haircut", "Max Mustermann", "max@example.de", "+49 152 9876543", "BK-9D4W6T"),
    )
    # The locale's own range and spoken range ("09:00–09:30 Uhr", "von 09:00 bis 09:30 Uhr").
    ranges = {
        times: (
            s["time_range"].replace("10:00", times[0]).replace("10:45", times[1]),
            s["spoken_range"].replace("10:00", times[0]).replace("10:45", times[1]),
        )
        for times, *_ in rows
    }
    return {
        "date": s["date"],
        "items": [
            {
                "time_range": ranges[times][0],
                "spoken_range": ranges[times][1],
                "service_name": service,
                "customer_name": name,
                "customer_email": email,
                "customer_phone": phone,
                "ref": ref,
                "url": f"{PUBLIC_URL}/admin/bookings/{ref}",
            }
            for times, service, name, email, phone, ref in rows
        ],
    }


def _customer_extras(kind: str, variant: str, s: dict[str, str]) -> dict[str, Any]:
    if kind == EmailKind.RESCHEDULED:
        return {"old_booking": _old_booking(s)}
    if kind == EmailKind.CANCELLED:  # both wordings in the editor: the customer's, and the business's
        return {"cancelled_by": "customer" if variant == "manage" else "business"}
    if kind == EmailKind.RESCHEDULE_OPTIONS:
        # Slots are manage actions: a customer who may not manage gets none (and the
        # email falls back to the change instructions).
        return {"slots": _slots(s) if variant == "manage" else []}
    if kind == EmailKind.ACTION_REFUSED:
        if variant == "manage":
            return {"refused": {"action": "reschedule", "reason_text": s["reason_slot_taken"]}}
        return {"refused": {"action": "cancel", "reason_text": s["reason_past_cutoff"]}}
    if kind == EmailKind.STAFF_REPLY:
        # The staff member's answer to a forwarded customer_message, relayed to the customer.
        return {"message": _message(STAFF_MEMBER, s["reply_subject"], s["reply_text"])}
    return {}


def _message(sender: dict[str, str], subject: str, text: str) -> dict[str, Any]:
    return {
        "from_name": sender["name"],
        "from_email": sender["email"],
        "subject": subject,
        "text": text,
        "verified": True,
    }


def _old_booking(s: dict[str, str]) -> dict[str, Any]:
    return {
        "when": s["when"],
        "staff_name": "Bob Berger",
        "date": s["date"],
        "time_range": s["time_range"],
        "day_time": s["day_time"],
    }


def _staff_extras(kind: str, s: dict[str, str]) -> dict[str, Any]:
    admin_url = f"{PUBLIC_URL}/admin/bookings/{REF}"
    extras: dict[str, Any] = {"changed_by": s["changed_by_staff"], "admin_url": admin_url}
    if kind in (EmailKind.BOOKING_RESCHEDULED, EmailKind.BOOKING_REASSIGNED):
        extras["changed_by"] = s["changed_by_manage_page"]
        extras["old_booking"] = _old_booking(s)
    if kind == EmailKind.BOOKING_REASSIGNED:  # as Carla reads it: Bob's booking, now hers and moved
        extras["reassigned"] = {"direction": "to_you", "other_staff_name": "Bob Berger", "moved": True}
    elif kind in (EmailKind.BOOKING_CANCELLED, EmailKind.CUSTOMER_MESSAGE):
        extras["changed_by"] = s["changed_by_reply"]
    if kind == EmailKind.CUSTOMER_MESSAGE:
        extras["message"] = _message(CUSTOMER, s["message_subject"], s["message_text"])
    elif kind == EmailKind.DELIVERY_FAILED:
        extras["changed_by"] = s["changed_by_system"]
        extras["failure"] = {
            "recipient": CUSTOMER["email"],
            "kind": "reminder",
            "reason": (
                f"550 5.1.1 <{CUSTOMER['email']}>: Recipient address rejected: "
                "User unknown in virtual mailbox table"
            ),
            "booking_ref": REF,
        }
    elif kind == EmailKind.DAILY_AGENDA:
        extras["changed_by"] = s["changed_by_system"]
        extras["admin_url"] = f"{PUBLIC_URL}/admin/calendar?date=2026-03-03"
        extras["agenda"] = _agenda(s)
    return extras


def _recipient(kind: str) -> dict[str, str]:
    if kind in CUSTOMER_KINDS:
        return {"name": CUSTOMER["name"], "email": CUSTOMER["email"]}
    return dict(ADMIN if kind == EmailKind.DELIVERY_FAILED else STAFF_MEMBER)


def _add_to_calendar(kind: str) -> dict[str, str | None]:
    """The "add to calendar" links (.ics, Google, Outlook) of a kind about a booking with a time:
    in both variants, since they do not depend on the customer being allowed to manage."""
    if kind not in CALENDAR_LINK_KINDS:
        return {"calendar_url": None, "add_to_google": None, "add_to_outlook": None}
    text, where = quote(f"Haircut at {BUSINESS['name']}"), quote(BUSINESS["address"])
    return {
        "calendar_url": f"{MANAGE_URL}/booking.ics",
        "add_to_google": "https://calendar.google.com/calendar/render?action=TEMPLATE"
        f"&text={text}&dates=20260303T090000Z/20260303T094500Z&location={where}",
        "add_to_outlook": "https://outlook.live.com/calendar/0/deeplink/compose?path=/calendar/action/compose"
        f"&rru=addevent&subject={text}&startdt=2026-03-03T09:00:00Z&enddt=2026-03-03T09:45:00Z&location={where}",
    }


def _build(kind: str, variant: str, locale: str) -> dict[str, Any]:
    s = _STRINGS.get(locale, _STRINGS["en"])
    manage = _manage(kind, variant, s)
    context: dict[str, Any] = {
        "locale": locale,
        "subject": "",
        "business": dict(BUSINESS),
        "recipient": _recipient(kind),
        "booking": _booking(kind, s),
        "manage": manage,
        "links": {
            "manage_url": f"{MANAGE_URL}?lang={locale}" if manage["allowed"] else None,
            "new_booking_url": f"{PUBLIC_URL}/book?lang={locale}",
            **_add_to_calendar(kind),
        },
        "change_instructions": s["change_instructions"],
        "reply_enabled": True,
    }
    if kind in CUSTOMER_KINDS:
        context.update(_customer_extras(kind, variant, s))
    else:
        context.update(_staff_extras(kind, s))
    return context


SAMPLE_CONTEXTS: Final[dict[str, dict[str, dict[str, Any]]]] = {
    kind: {variant: _build(kind, variant, "en") for variant in VARIANTS} for kind in KINDS
}


def sample_context(kind: str, variant: str, locale: str) -> dict[str, Any]:
    """A fresh sample context for ``kind`` and ``variant`` with its strings in ``locale``.

    The result is the ``SAMPLE_CONTEXTS`` entry built anew (a deep copy: callers
    may change it freely) with ``locale`` set and the dates, reasons and
    instructions written in that locale; a locale without hand-written strings
    gets the English ones. ``subject`` is empty: the renderer fills it in.

    Raises ``InvalidInput`` for an unknown kind or variant, e.g.
    ``sample_context("reminder", "no-manage", "de")["booking"]["date"] == "Dienstag, 3. März 2026"``.
    """
    if kind not in KINDS:
        raise InvalidInput(f"unknown email kind {kind!r}: choose one of {', '.join(KINDS)}")
    if variant not in VARIANTS:
        raise InvalidInput(f"unknown sample variant {variant!r}: choose one of {', '.join(VARIANTS)}")
    return _build(kind, variant, locale)
