"""Full render of a confirmation email per second on one core, split by phase.

Phases per message: context + Jinja (Babel dates, template variables, the
customer's calendar entry and its add-to-calendar links, the sandboxed render of
subject, HTML and text), ICS (icalendar), MIME assembly.
The MJML compile is done once per template version (cached), so it is shown
next to them as a one-off cost, not per message.

    python bench/render.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

from mailflow.booking.model import BookingState, BookingStatus, Origin
from mailflow.booking.policy import manage_allowed
from mailflow.outbound.compose import Address, Envelope, compose, new_message_id, thread_id
from mailflow.outbound.context import BookingFacts, Reader, email_context
from mailflow.outbound.entries import add_to_calendar_links, calendar_entry
from mailflow.outbound.ics import Method, calendar_bytes
from mailflow.outbound.render import Renderer, compile_mjml
from mailflow.outbound.templates import default_source
from mailflow.store.queries import rules_of
from mailflow.store.tables import Business, Customer, Service, Staff

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
PUBLIC = "https://book.contoso.example"


def facts() -> BookingFacts:
    business = Business(
        id=1, slug="contoso", name="Contoso Salon", timezone="Europe/Berlin", phone="+49 30 1234567",
        email="hello@contoso.example", address="Hauptstraße 1, 10115 Berlin", locales=["en", "de"],
    )  # fmt: skip
    service = Service(id=1, business_id=1, slug="haircut", name="Haircut", duration_minutes=45)
    staff = Staff(
        id=1, business_id=1, email="bob@contoso.example", name="Bob Berger", timezone="Europe/Berlin"
    )
    customer = Customer(
        id=1,
        business_id=1,
        email="ada@example.com",
        name="Ada Lovelace",
        locale="de",
        timezone="Europe/Berlin",
    )
    start = datetime(2026, 3, 3, 9, tzinfo=UTC)
    booking = BookingState(
        ref="BK-7Q2M9X", service_id=1, staff_id=1, customer_id=1, origin=Origin.SELF_SERVICE,
        status=BookingStatus.CONFIRMED, start=start, end=start + timedelta(minutes=45), booking_id=1,
    )  # fmt: skip
    return BookingFacts(business=business, service=service, staff=staff, customer=customer, booking=booking)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--locale", default="de")
    args = parser.parse_args()

    data = facts()
    reader = Reader("Ada Lovelace", "ada@example.com", args.locale, "Europe/Berlin")
    source = default_source("confirmation", args.locale)
    renderer = Renderer()

    compiles = []
    for _ in range(50):
        started = time.perf_counter()
        compile_mjml(source.mjml)
        compiles.append(time.perf_counter() - started)
    renderer.compile(source)  # warm the cache, as a running server has it

    entry_domain = "x.example"
    envelope = Envelope(
        sender=Address("hello@contoso.example", "Contoso Salon"),
        to=Address("ada@example.com", "Ada Lovelace"),
        message_id=new_message_id(entry_domain),
        date=NOW,
        kind="confirmation",
        reply_to=Address(f"reply+0123456789abcdef01234567@{entry_domain}"),
        thread_id=thread_id("BK-7Q2M9X", entry_domain),
        booking_ref="BK-7Q2M9X",
    )
    link = f"{PUBLIC}/m/{'x' * 43}"
    manage_url = f"{link}?lang={args.locale}"
    jinja: list[float] = []
    ics: list[float] = []
    mime: list[float] = []
    total: list[float] = []
    sizes = []
    clock = time.perf_counter
    deadline = clock() + args.seconds
    while clock() < deadline:
        t0 = clock()
        decision = manage_allowed(data.booking, rules_of(data.service), NOW)
        # The customer's calendar entry (manage link, phone, address) feeds the add-to-calendar
        # links of the context and the calendar part alike (as in ``EmailBuilder.prepare``).
        entry = calendar_entry(data, data.booking, args.locale, entry_domain, NOW, manage_url=manage_url)
        context = email_context(
            data, reader, decision=decision, manage_url=manage_url, public_url=PUBLIC, reply_enabled=True,
            calendar_url=f"{link}/booking.ics", calendar_links=add_to_calendar_links(entry),
        )  # fmt: skip
        email = renderer.render(source, context)
        t1 = clock()
        calendar = calendar_bytes(entry, Method.REQUEST)
        t2 = clock()
        message = compose(envelope, email, (calendar, Method.REQUEST))
        t3 = clock()
        jinja.append(t1 - t0)
        ics.append(t2 - t1)
        mime.append(t3 - t2)
        total.append(t3 - t0)
        sizes.append(len(message))

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:.3f} ms"

    per_message = statistics.median(total)
    print(f"confirmation ({args.locale}), {len(total)} messages in {args.seconds:.0f} s on one core")
    print(f"  context + Jinja (Babel, subject, HTML, text): {ms(jinja)}")
    print(f"  ICS (icalendar):                               {ms(ics)}")
    print(f"  MIME assembly:                                 {ms(mime)}")
    print(f"  complete email:                                {ms(total)}  -> {1 / per_message:,.0f} emails/s")
    print(f"  one MJML compile of the template (cached per version): {ms(compiles)}")
    print(f"  message size: {statistics.median(sizes) / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
