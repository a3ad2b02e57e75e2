"""Sample render contexts for every email kind: template previews, validation and tests.

Each context matches the render contract of the default templates exactly
(``mailflow/templates/<locale>/<kind>.*``): a booking of the Contoso Salon in
Europe/Berlin, in two variants, ``manage`` (the customer may change the booking
online) and ``no-manage`` (they may not: the email shows the business's change
instructions instead). Staff kinds have both variants too, identical but for
``manage``.

Dates and times come from the formatting real emails use (``format_when`` on
fixed sample moments in the business's zone), so a preview shows the formats a
customer gets; links start with the public URL asked for (the editor passes
the real one). The other human strings (change instructions, reasons) are
written by hand for each locale below; ``sample_context`` picks them for the
locale asked for.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import quote

from mailflow.errors import InvalidInput
from mailflow.kinds import CALENDAR_LINK_KINDS, CUSTOMER_KINDS, STAFF_KINDS, EmailKind
from mailflow.outbound.formatting import format_duration, format_when, soon_day_time

KINDS: Final = CUSTOMER_KINDS + STAFF_KINDS  # the kinds with templates (see mailflow.kinds)
VARIANTS: Final = ("manage", "no-manage")
SAMPLE_LOCALES: Final = ("en", "de", "fr")

PUBLIC_URL = "http://127.0.0.1:8000"  # MAILFLOW_PUBLIC_URL's default; the editor passes the real one
# A made-up manage token (43-character shape), not a working one.
MANAGE_PATH = "/m/q3Vd0bT8zK1wYh5nR2sLmP4cXa7eF9gJ6uQyWbNtHkE"
MANAGE_URL = f"{PUBLIC_URL}{MANAGE_PATH}"
REF = "BK-7Q2M9X"
SAMPLE_TIMEZONE: Final = "Europe/Berlin"  # the Contoso Salon's
DURATION: Final = timedelta(minutes=45)
# The sample moments (UTC): the booking, where a moved booking went, and three free slots.
START: Final = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
MOVED_START: Final = datetime(2026, 3, 5, 13, 30, tzinfo=UTC)
SLOT_STARTS: Final = (
    datetime(2026, 3, 4, 8, 0, tzinfo=UTC),
    MOVED_START,
    datetime(2026, 3, 6, 10, 0, tzinfo=UTC),
)

BUSINESS: Final = {
    "name": "Contoso Salon",
    "phone": "+49 30 1234567",
    "phone_url": "tel:+49301234567",
    "email": "hello@contoso.example",
    "address": "Hauptstraße 1, 10115 Berlin",
    "website_url": "https://contoso.example",
}
CUSTOMER: Final = {"name": "Anna Schmidt", "email": "anna.schmidt@example.com", "phone": "+49 171 2345678"}
STAFF_MEMBER: Final = {"name": "Bob Berger", "email": "bob@contoso.example"}
ADMIN: Final = {"name": "Contoso Admin", "email": "admin@contoso.example"}

# The hand-written strings of each locale (what the business settings would give).
_STRINGS: Final[dict[str, dict[str, str]]] = {
    "en": {
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
        "timezone_name": s["moved_timezone_name"] if moved else s["timezone_name"],
        "day_time": s["moved_day_time"] if moved else s["day_time"],
        "soon": s["soon"],
        "spoken_range": s["moved_spoken_range"] if moved else s["spoken_range"],
        "venue_time": "",
        "duration": s["duration"],
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
    staff = (("Bob Berger", "bob"), ("Carla Castro", "carla"), ("Bob Berger", "bob"))
    return [
        {
            "number": number,
            "when": s[f"slot_{number}"],
            "staff_name": staff_name,
            "url": (
                f"{s['manage_url']}/reschedule?start={start:%Y-%m-%dT%H:%M:%SZ}"
                f"&staff={handle}%40contoso.example"
            ),
        }
        for number, ((staff_name, handle), start) in enumerate(zip(staff, SLOT_STARTS, strict=True), start=1)
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
        "url": f"{s['public_url']}/admin/bookings?view=day&day={START:%Y-%m-%d}",
        "items": [
            {
                "time_range": ranges[times][0],
                "spoken_range": ranges[times][1],
                "service_name": service,
                "customer_name": name,
                "customer_email": email,
                "customer_phone": phone,
                "ref": ref,
                "url": f"{s['public_url']}/admin/bookings/{ref}",
            }
            for times, service, name, email, phone, ref in rows
        ],
    }


def _add_to_calendar(kind: str, s: dict[str, str]) -> dict[str, str | None]:
    """The "add to calendar" links (.ics, Google, Outlook) of a kind about a booking with a time:
    in both variants, since they do not depend on the customer being allowed to manage."""
    if kind not in CALENDAR_LINK_KINDS:
        return {"calendar_url": None, "add_to_google": None, "add_to_outlook": None}
    text, where = quote(f"Haircut at {BUSINESS['name']}"), quote(BUSINESS["address"])
    return {
        "calendar_url": f"{s['manage_url']}/booking.ics",
        "add_to_google": "https://calendar.google.com/calendar/render?action=TEMPLATE"
        f"&text={text}&dates=20260303T090000Z/20260303T094500Z&location={where}",
        "add_to_outlook": "https://outlook.live.com/calendar/0/deeplink/compose?path=/calendar/action/compose"
        f"&rru=addevent&subject={text}&startdt=2026-03-03T09:00:00Z&enddt=2026-03-03T09:45:00Z&location={where}",
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
    admin_url = f"{s['public_url']}/admin/bookings/{REF}"
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
        extras["admin_url"] = f"{s['public_url']}/admin/bookings/{REF}"
        extras["agenda"] = _agenda(s)
    return extras


def _recipient(kind: str) -> dict[str, str]:
    if kind in CUSTOMER_KINDS:
        return {"name": CUSTOMER["name"], "email": CUSTOMER["email"]}
    return dict(ADMIN if kind == EmailKind.DELIVERY_FAILED else STAFF_MEMBER)


def _dates(locale: str) -> dict[str, str]:
    """The sample moments formatted as real emails format them (``format_when``), in the business's zone."""
    booked = format_when(START, START + DURATION, locale, SAMPLE_TIMEZONE, regional=True)
    moved = format_when(MOVED_START, MOVED_START + DURATION, locale, SAMPLE_TIMEZONE, regional=True)
    dates = {
        "when": booked.when,
        "date": booked.date,
        "time_range": booked.time_range,
        "timezone_name": booked.timezone_name,
        "moved_when": moved.when,
        "moved_date": moved.date,
        "moved_time_range": moved.time_range,
        "moved_timezone_name": moved.timezone_name,
        "duration": format_duration(DURATION, locale),
        "day_time": booked.day_time,
        "moved_day_time": moved.day_time,
        "spoken_range": booked.spoken_range,
        "moved_spoken_range": moved.spoken_range,
        # A reminder's day as the evening before reads it: "tomorrow, 10:00".
        "soon": soon_day_time(START, START - timedelta(days=1), locale, SAMPLE_TIMEZONE),
    }
    for number, start in enumerate(SLOT_STARTS, start=1):
        slot = format_when(start, start + DURATION, locale, SAMPLE_TIMEZONE, regional=True)
        dates[f"slot_{number}"] = slot.when
    return dates


def _build(kind: str, variant: str, locale: str, public_url: str) -> dict[str, Any]:
    base = public_url.rstrip("/")
    s = {
        **_STRINGS.get(locale, _STRINGS["en"]),
        **_dates(locale),
        "public_url": base,
        "manage_url": f"{base}{MANAGE_PATH}",
    }
    manage = _manage(kind, variant, s)
    context: dict[str, Any] = {
        "locale": locale,
        "subject": "",
        "business": dict(BUSINESS),
        "recipient": _recipient(kind),
        "booking": _booking(kind, s),
        "manage": manage,
        "links": {
            "manage_url": f"{s['manage_url']}?lang={locale}" if manage["allowed"] else None,
            "new_booking_url": f"{base}/book?lang={locale}",
            **_add_to_calendar(kind, s),
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
    kind: {variant: _build(kind, variant, "en", PUBLIC_URL) for variant in VARIANTS} for kind in KINDS
}


def sample_context(kind: str, variant: str, locale: str, public_url: str = PUBLIC_URL) -> dict[str, Any]:
    """A fresh sample context for ``kind`` and ``variant`` with its strings in ``locale``.

    The result is the ``SAMPLE_CONTEXTS`` entry built anew (a deep copy: callers
    may change it freely) with ``locale`` set, the dates formatted by
    ``format_when`` for that locale (as real emails are) and the reasons and
    instructions written in it; a locale without hand-written strings gets the
    English ones. Every link starts with ``public_url`` (pass the configured
    ``MAILFLOW_PUBLIC_URL``). ``subject`` is empty: the renderer fills it in.

    Raises ``InvalidInput`` for an unknown kind or variant, e.g.
    ``sample_context("reminder", "no-manage", "de")["booking"]["date"] == "Dienstag, 3. März 2026"``.
    """
    if kind not in KINDS:
        raise InvalidInput(f"unknown email kind {kind!r}: choose one of {', '.join(KINDS)}")
    if variant not in VARIANTS:
        raise InvalidInput(f"unknown sample variant {variant!r}: choose one of {', '.join(VARIANTS)}")
    return _build(kind, variant, locale, public_url)
