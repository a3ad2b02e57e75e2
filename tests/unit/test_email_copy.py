"""Email copy: dates and times as a native reader writes them, subjects with the day and time,
the same date and zone in the HTML and the text part (issue 18, items 4 and 5)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mailflow.booking.model import Actor, ActorKind
from mailflow.outbound.context import changed_by_text
from mailflow.outbound.formatting import format_when, soon_day_time, zone_label
from mailflow.outbound.notifier import failure_detail
from mailflow.outbound.samples import CUSTOMER_KINDS, sample_context
from tests.unit.test_default_templates import ALL_SAMPLES, LOCALES, Rendered, render

NBSP = "\u00a0"
# Wednesday 9 December 2026, 09:00–09:30 UTC: 10:00 in Berlin and Paris (winter), 04:00 in New York.
START = datetime(2026, 12, 9, 9, 0, tzinfo=UTC)
END = START + timedelta(minutes=30)
SUMMER = datetime(2026, 7, 8, 9, 0, tzinfo=UTC)

# ---------------------------------------------------------------- formatting


def test_german_times_say_uhr_once_and_name_the_zone_short() -> None:
    """German: "Mittwoch, 9. Dezember 2026, 10:00–10:30 Uhr (MEZ)", Uhr after the range, not each time."""
    when = format_when(START, END, "de", "Europe/Berlin", regional=True)
    assert when.when == "Mittwoch, 9. Dezember 2026, 10:00–10:30 Uhr (MEZ)"
    assert when.time_range == "10:00–10:30 Uhr"
    assert when.spoken_range == "von 10:00 bis 10:30 Uhr"
    assert when.day_time == "Mi., 9. Dez., 10:00 Uhr"


def test_british_english_in_europe_american_english_in_the_us() -> None:
    """Bare "en" follows the reader's zone: 24-hour day-month in Europe, AM/PM month-day in the US."""
    london = format_when(START, END, "en", "Europe/London", regional=True)
    assert london.when == "Wednesday, 9 December 2026, 09:00–09:30 (GMT)"
    assert london.day_time == "Wed 9 Dec, 09:00"
    berlin = format_when(START, END, "en", "Europe/Berlin", regional=True)
    assert berlin.when == "Wednesday, 9 December 2026, 10:00–10:30 (CET)"
    new_york = format_when(START, END, "en", "America/New_York", regional=True)
    assert new_york.when == f"Wednesday, December 9, 2026, 4:00–4:30{NBSP}AM (EST)"
    assert new_york.day_time == f"Wed, Dec 9, 4:00{NBSP}AM"
    assert new_york.spoken_range == f"from 4:00{NBSP}AM to 4:30{NBSP}AM"


def test_a_locale_with_a_region_keeps_its_style_anywhere() -> None:
    """en-US in Berlin writes AM/PM; en-GB in New York writes 24-hour times."""
    assert (
        format_when(START, END, "en-US", "Europe/Berlin", regional=True).time_range == f"10:00–10:30{NBSP}AM"
    )
    assert format_when(START, END, "en-GB", "America/New_York", regional=True).time_range == "04:00–04:30"


def test_french_dates_and_short_zone() -> None:
    """French: "mercredi 9 décembre 2026, 10:00–10:30 (CET)", subjects' "mer. 9 déc., 10:00"."""
    when = format_when(START, END, "fr", "Europe/Paris", regional=True)
    assert when.when == "mercredi 9 décembre 2026, 10:00–10:30 (CET)"
    assert when.day_time == "mer. 9 déc., 10:00"
    assert when.spoken_range == "de 10:00 à 10:30"


@pytest.mark.parametrize(
    ("zone", "locale", "winter", "summer"),
    [
        ("Europe/Berlin", "de", "MEZ", "MESZ"),
        ("Europe/Berlin", "en", "CET", "CEST"),
        ("Europe/Paris", "fr", "CET", "CEST"),
        ("Europe/London", "en", "GMT", "BST"),
        ("Europe/London", "de", "GMT", "BST"),
        ("America/New_York", "en", "EST", "EDT"),
        ("America/New_York", "de", "EST", "EDT"),
        ("America/Los_Angeles", "en", "PST", "PDT"),
        ("Asia/Tokyo", "en", "JST", "JST"),
        ("Australia/Sydney", "en", "AEDT", "AEST"),
    ],
)
def test_zones_go_by_the_short_names_people_know(zone: str, locale: str, winter: str, summer: str) -> None:
    """ "MEZ"/"CET"/"GMT"/"EST", never a long name nor an offset such as "GMT+1"."""
    assert format_when(START, END, locale, zone, regional=True).zone_label == winter
    assert format_when(SUMMER, SUMMER + timedelta(hours=1), locale, zone, regional=True).zone_label == summer


def test_a_zone_known_only_by_its_offset_is_named_in_words() -> None:
    """A zone without letters in its abbreviation ("+04") gets its long name, never "GMT+4"."""
    label = zone_label(START.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Dubai")), "de")
    assert "GMT" not in label and not re.search(r"[+-]\d", label)


@pytest.mark.parametrize(
    ("locale", "tomorrow", "weekday", "later"),
    [
        ("en", "tomorrow, 10:00", "Wednesday, 10:00", "Wed 9 Dec, 10:00"),
        ("de", "morgen, 10:00 Uhr", "Mittwoch, 10:00 Uhr", "Mi., 9. Dez., 10:00 Uhr"),
        ("fr", "demain, 10:00", "mercredi, 10:00", "mer. 9 déc., 10:00"),
    ],
)
def test_reminders_say_tomorrow_or_the_weekday(locale: str, tomorrow: str, weekday: str, later: str) -> None:
    """From the reminder's moment: "tomorrow" the day before, the weekday within a week, else the date."""
    zone = "Europe/Paris" if locale == "fr" else "Europe/Berlin"
    assert soon_day_time(START, START - timedelta(hours=22), locale, zone) == tomorrow
    assert soon_day_time(START, START - timedelta(days=4), locale, zone) == weekday
    assert soon_day_time(START, START - timedelta(days=9), locale, zone) == later


def test_a_bounce_shows_the_status_once() -> None:
    """ "550 5.1.1 <x>: User unknown", not "5.1.1 550 5.1.1 …"; a status alone still shows."""
    diagnostic = "550 5.1.1 <ada@example.com>: User unknown"
    assert failure_detail("5.1.1", diagnostic) == diagnostic
    assert failure_detail("5.2.2", "mailbox full") == "5.2.2 mailbox full"
    assert failure_detail("5.1.1", None) == "5.1.1"
    assert failure_detail(None, None) == "bounced"


@pytest.mark.parametrize("label", ["cli", "demo", "api:booking-widget"])
def test_a_tools_label_is_not_shown_to_staff(label: str) -> None:
    """The CLI's or an API key's label is no name: "das Team", not "das Team (cli)"."""
    assert changed_by_text(Actor(ActorKind.STAFF, label), "de") == "das Team"
    assert changed_by_text(Actor(ActorKind.STAFF, label), "en") == "staff"


def test_a_staff_members_address_is_shown() -> None:
    """A person who changed a booking is named by their address."""
    actor = Actor(ActorKind.STAFF, "ada@contoso.example")
    assert changed_by_text(actor, "de") == "das Team (ada@contoso.example)"


# ---------------------------------------------------------------- templates over real formats

ZONES = {"en": "Europe/London", "de": "Europe/Berlin", "fr": "Europe/Paris"}
MOVED = START + timedelta(days=1, hours=4)


def _times(start: datetime, locale: str) -> dict[str, str]:
    when = format_when(start, start + timedelta(minutes=30), locale, ZONES[locale], regional=True)
    return {
        "when": when.when,
        "date": when.date,
        "time_range": when.time_range,
        "timezone_name": when.timezone_name,
        "day_time": when.day_time,
        "spoken_range": when.spoken_range,
    }


def real_context(kind: str, variant: str, locale: str) -> dict[str, Any]:
    """A sample context whose times are the formatter's own (not the samples' hand-written ones)."""
    context = sample_context(kind, variant, locale)
    moved = "old_booking" in context
    context["booking"].update(_times(MOVED if moved else START, locale))
    context["booking"]["soon"] = soon_day_time(START, START - timedelta(hours=20), locale, ZONES[locale])
    if moved:
        context["old_booking"].update(
            {k: v for k, v in _times(START, locale).items() if k in context["old_booking"]}
        )
    return context


def real_render(locale: str, kind: str, variant: str) -> tuple[Rendered, dict[str, Any]]:
    context = real_context(kind, variant, locale)
    return render(locale, kind, context), context


@pytest.mark.parametrize(("locale", "kind", "variant"), ALL_SAMPLES)
def test_html_and_text_carry_the_same_date_and_zone(locale: str, kind: str, variant: str) -> None:
    """The date, the times and the short zone name read the same in both parts; no long zone name."""
    rendered, context = real_render(locale, kind, variant)
    if kind == "daily_agenda":  # a day of bookings: the day, not one booking's time
        assert context["agenda"]["date"] in rendered.text
        return
    booking = context["booking"]
    for value in (booking["date"], booking["time_range"], f"({booking['timezone_name']})"):
        assert value in rendered.text, value
        assert value in rendered.html, value
    long_names = ("Normalzeit", "Standard Time", "Mean Time", "heure normale")
    assert not any(name in rendered.html + rendered.text for name in long_names)


@pytest.mark.parametrize(("locale", "kind", "variant"), [c for c in ALL_SAMPLES if c[1] in CUSTOMER_KINDS])
def test_every_customer_subject_has_the_day_and_time(locale: str, kind: str, variant: str) -> None:
    """Customer subjects: what happened, the service, the day and start, the business."""
    rendered, context = real_render(locale, kind, variant)
    booking = context["booking"]
    expected = booking["soon"] if kind == "reminder" else booking["day_time"]
    assert rendered.subject.count(booking["service_name"]) == 1
    assert expected in rendered.subject
    assert rendered.subject.endswith(f" · {context['business']['name']}")


@pytest.mark.parametrize(
    ("locale", "subject"),
    [
        ("en", "Confirmed: Haircut, Wed 9 Dec, 09:00 · Contoso Salon"),
        ("de", "Bestätigt: Haircut, Mi., 9. Dez., 10:00 Uhr · Contoso Salon"),
        ("fr", f"Confirmé{NBSP}: Haircut, mer. 9 déc., 10:00 · Contoso Salon"),
    ],
)
def test_confirmation_subject_reads_naturally(locale: str, subject: str) -> None:
    """The whole confirmation subject in each language."""
    rendered, _ = real_render(locale, "confirmation", "manage")
    assert rendered.subject == subject


@pytest.mark.parametrize("locale", LOCALES)
def test_reminder_subject_says_tomorrow(locale: str) -> None:
    """A reminder the day before says "tomorrow", "morgen", "demain"."""
    rendered, _ = real_render(locale, "reminder", "manage")
    word = {"en": "tomorrow", "de": "morgen", "fr": "demain"}[locale]
    assert f"Haircut, {word}, " in rendered.subject


@pytest.mark.parametrize(
    ("locale", "by_customer", "by_business"),
    [
        ("en", "Cancelled as you asked:", "We had to cancel:"),
        ("de", "Wie gewünscht storniert:", "Wir mussten absagen:"),
        ("fr", f"Annulé à votre demande{NBSP}:", f"Nous avons dû annuler{NBSP}:"),
    ],
)
def test_cancelled_subject_says_who_cancelled_and_when(
    locale: str, by_customer: str, by_business: str
) -> None:
    """The customer's cancellation and the business's read differently; both carry the time."""
    mine, context = real_render(locale, "cancelled", "manage")  # the samples: manage = the customer's
    theirs, _ = real_render(locale, "cancelled", "no-manage")
    assert mine.subject.startswith(by_customer) and theirs.subject.startswith(by_business)
    assert context["booking"]["day_time"] in mine.subject


@pytest.mark.parametrize(("kind", "variant"), [(c[1], c[2]) for c in ALL_SAMPLES if c[0] == "de"])
def test_german_time_ranges_end_in_uhr(kind: str, variant: str) -> None:
    """Every German "10:00–10:30" in subject, HTML and text is followed by "Uhr"."""
    rendered, _ = real_render("de", kind, variant)
    for part in (rendered.subject, rendered.html, rendered.text):
        for match in re.finditer(r"\d\d:\d\d–\d\d:\d\d", part):
            assert part[match.end() : match.end() + 4] == " Uhr", part[match.start() : match.end() + 20]


@pytest.mark.parametrize(("kind", "variant"), [(c[1], c[2]) for c in ALL_SAMPLES if c[0] == "de"])
def test_german_labels_are_consistent(kind: str, variant: str) -> None:
    """One word for the booking number and one neutral form for the customer."""
    rendered, _ = real_render("de", kind, variant)
    for part in (rendered.html, rendered.text):
        assert "Buchungs-Nr." not in part
        assert not re.search(r"(?<![/\w])Kunde(?![/\w])", part)
        assert "(cli)" not in part


def test_english_staff_emails_use_the_possessive() -> None:
    """ "Anna Schmidt’s appointment", not "The appointment of Anna Schmidt"."""
    for kind in ("booking_cancelled", "booking_rescheduled"):
        rendered, _ = real_render("en", kind, "manage")
        assert "Anna Schmidt’s appointment" in rendered.text
        assert "appointment of" not in rendered.text + rendered.html


@pytest.mark.parametrize("locale", LOCALES)
def test_customer_emails_show_the_venues_time_when_it_differs(locale: str) -> None:
    """With ``venue_time`` set the time at the venue appears in both parts; without, nothing."""
    context = real_context("confirmation", "manage", locale)
    context["booking"]["venue_time"] = "16:00 in Berlin"
    rendered = render(locale, "confirmation", context)
    assert "16:00 in Berlin" in rendered.html and "(16:00 in Berlin)" in rendered.text
    plain, _ = real_render(locale, "confirmation", "manage")
    assert " in Berlin" not in plain.text
