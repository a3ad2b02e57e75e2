"""Replies through the pipeline: stored first, then judged; commands act, everything else reaches staff."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlmodel import Session, col, select

from mailflow import services
from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.bootstrap import App
from mailflow.inbound.process import process_pending, store_raw
from mailflow.outbound.return_path import ReturnPaths
from mailflow.services.business import update_business
from mailflow.services.manage import send_customer_message
from mailflow.store.tables import Booking, Customer, InboundMessage, OutboxMessage
from tests.conftest import berlin, demo_app_on

DOMAIN = "replies.contoso.example"


@pytest.fixture
def app(db_url: str, tmp_path: Path, now: datetime) -> Iterator[App]:
    with demo_app_on(db_url, tmp_path, now, {"MAILFLOW_INBOUND_DOMAIN": DOMAIN}) as application:
        yield application


MAX = services.CustomerInput(email="max@example.de", name="Max Mustermann", locale="de")


def book(
    app: App,
    day: date,
    hour: int,
    now: datetime,
    *,
    service_slug: str,
    origin: Origin,
    customer: services.CustomerInput = MAX,
) -> str:
    return services.create_booking(
        app.engine,
        business="contoso",
        service=service_slug,
        staff="bob@contoso.example",
        customer=customer,
        start=berlin(day, hour),
        origin=origin,
        actor=Actor(ActorKind.STAFF if origin is Origin.STAFF else ActorKind.CUSTOMER_LINK, "x"),
        now=now,
        public_url=app.settings.public_url,
        **app.booking_kwargs(),
    ).ref


def queued(app: App, since: int = 0) -> list[OutboxMessage]:
    with Session(app.engine) as session:
        return list(
            session.exec(
                select(OutboxMessage).where(col(OutboxMessage.id) > since).order_by(col(OutboxMessage.id))
            )
        )


def last_id(app: App) -> int:
    rows = queued(app)
    return rows[-1].id or 0 if rows else 0


def parsed(row: OutboxMessage) -> EmailMessage:
    message = email.message_from_bytes(row.payload or b"", policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def customer_email(app: App, ref: str, kind: str, *, recipient: str = "max@example.de") -> EmailMessage:
    rows = [
        r
        for r in queued(app)
        if r.kind == kind and r.recipient == recipient and parsed(r)["X-Mailflow-Booking"] == ref
    ]
    assert rows, f"no {kind} for {ref}"
    return parsed(rows[-1])


def reply_to(
    original: EmailMessage, body: str, *, sender: str = "max@example.de", subject: str | None = None
) -> bytes:
    """A reply as Outlook writes it: the new text on top, the German original quoted below."""
    reply = EmailMessage()
    reply["From"] = f"Max Mustermann <{sender}>"
    reply["To"] = str(original["Reply-To"])
    reply["Subject"] = subject or f"AW: {original['Subject']}"
    reply["Message-ID"] = email.utils.make_msgid(domain="example.de")
    reply["In-Reply-To"] = str(original["Message-ID"])
    reply["References"] = f"{original['References']} {original['Message-ID']}"
    quoted = original.get_body(("plain",))
    assert quoted is not None
    reply.set_content(
        f"{body}\n\n-----Ursprüngliche Nachricht-----\nVon: Contoso Salon <hello@contoso.example>\n"
        f"Gesendet: Montag, 1. Dezember 2026 10:00\nAn: {sender}\nBetreff: {original['Subject']}\n\n"
        + quoted.get_content()
    )
    return reply.as_bytes()


def feed(app: App, raw: bytes, now: datetime, *, sender: str = "max@example.de") -> InboundMessage:
    row_id = store_raw(app.engine, raw, envelope_from=sender, envelope_rcpt="", now=now)
    process_pending(app.mailroom, now)
    with Session(app.engine) as session:
        return session.get_one(InboundMessage, row_id)


def status_of(app: App, ref: str) -> tuple[str, str, datetime]:
    with Session(app.engine) as session:
        row = session.exec(select(Booking).where(Booking.ref == ref)).one()
        staff = row.staff_id
        from mailflow.store.tables import Staff

        return row.status, session.get_one(Staff, staff).email, row.start


def test_german_stornieren_reply_cancels(app: App, next_tuesday: date, now: datetime) -> None:
    """An Outlook-style "Stornieren" reply to the confirmation cancels and is answered by the cancellation."""
    ref = book(app, next_tuesday, 10, now, service_slug="consultation", origin=Origin.SELF_SERVICE)
    mark = last_id(app)
    row = feed(app, reply_to(customer_email(app, ref, "confirmation"), "Stornieren"), now)
    assert row.status == "done" and row.kind == "reply" and row.command == "cancel"
    assert status_of(app, ref)[0] == "cancelled"
    kinds = sorted((r.recipient, r.kind) for r in queued(app, mark))
    assert ("max@example.de", "cancelled") in kinds and ("bob@contoso.example", "booking_cancelled") in kinds
    # Max cancelled himself: his email says so, and offers a new booking and the contact instead
    # of change instructions for a booking that no longer exists.
    text = customer_email(app, ref, "cancelled").get_body(("plain",))
    assert text is not None
    assert "wie gewünscht haben wir den folgenden Termin storniert" in text.get_content()
    assert "Rufen Sie uns unter +49 30 1234567 an" in text.get_content()


CAMILLE = services.CustomerInput(email="camille@example.fr", name="Camille Martin", locale="fr")


def offer_french(app: App, now: datetime) -> None:
    """The business offers French too, as ``mailflow business update contoso --languages en,de,fr`` does."""
    update_business(
        app.engine,
        "contoso",
        {"languages": ["en", "de", "fr"]},
        actor=Actor(ActorKind.SYSTEM, "test"),
        now=now,
    )


def french_reply(original: EmailMessage, body: str) -> bytes:
    """A reply as French Outlook writes it: "RE :" subject, the new text on top, the original quoted."""
    reply = EmailMessage()
    reply["From"] = f"Camille Martin <{CAMILLE.email}>"
    reply["To"] = str(original["Reply-To"])
    reply["Subject"] = f"RE\u00a0: {original['Subject']}"
    reply["Message-ID"] = email.utils.make_msgid(domain="example.fr")
    reply["In-Reply-To"] = str(original["Message-ID"])
    reply["References"] = f"{original['References']} {original['Message-ID']}"
    quoted = original.get_body(("plain",))
    assert quoted is not None
    reply.set_content(
        f"{body}\n\n-----Message d'origine-----\nDe\u00a0: Contoso Salon <hello@contoso.example>\n"
        f"Envoyé\u00a0: lundi 1 décembre 2026 10:00\nÀ\u00a0: {CAMILLE.email}\n"
        f"Objet\u00a0: {original['Subject']}\n\n" + quoted.get_content()
    )
    return reply.as_bytes()


def french_booking(app: App, day: date, now: datetime) -> tuple[str, EmailMessage]:
    """With French offered, Camille's self-service consultation at 10:00 and its French confirmation."""
    offer_french(app, now)
    ref = book(app, day, 10, now, service_slug="consultation", origin=Origin.SELF_SERVICE, customer=CAMILLE)
    confirmation = customer_email(app, ref, "confirmation", recipient=CAMILLE.email)
    assert str(confirmation["Subject"]).startswith("Confirmé\u00a0: ")
    return ref, confirmation


def test_french_annuler_reply_cancels_and_is_answered_in_french(
    app: App, next_tuesday: date, now: datetime
) -> None:
    """ "Annuler, s'il vous plaît" under a French confirmation cancels; Camille's answer is in French."""
    ref, confirmation = french_booking(app, next_tuesday, now)
    mark = last_id(app)

    row = feed(app, french_reply(confirmation, "Annuler, s'il vous plaît"), now, sender=CAMILLE.email)

    assert row.status == "done" and row.kind == "reply" and row.command == "cancel"
    assert status_of(app, ref)[0] == "cancelled"
    kinds = sorted((r.recipient, r.kind) for r in queued(app, mark))
    assert (CAMILLE.email, "cancelled") in kinds and ("bob@contoso.example", "booking_cancelled") in kinds
    answer = customer_email(app, ref, "cancelled", recipient=CAMILLE.email)
    assert str(answer["Subject"]).startswith("Annulé à votre demande")
    text = answer.get_body(("plain",))
    assert text is not None and "Bonjour Camille Martin" in text.get_content()


def test_french_deplacer_reply_is_answered_with_french_slots(
    app: App, next_tuesday: date, now: datetime
) -> None:
    """ "DEPLACER" (without its accent) is answered in French with numbered free times."""
    ref, confirmation = french_booking(app, next_tuesday, now)
    row = feed(app, french_reply(confirmation, "DEPLACER svp"), now, sender=CAMILLE.email)
    assert row.command == "reschedule"
    options = customer_email(app, ref, "reschedule_options", recipient=CAMILLE.email)
    assert str(options["Subject"]).startswith("Choisissez un nouvel horaire\u00a0: Consultation, ")
    text = options.get_body(("plain",))
    assert text is not None and "uniquement le numéro" in text.get_content()


def test_verschieben_then_number_reschedules_to_exactly_that_slot(
    app: App, next_tuesday: date, now: datetime
) -> None:
    """ "verschieben" is answered with numbered slots; "2" books the second one shown."""
    ref = book(app, next_tuesday, 10, now, service_slug="consultation", origin=Origin.SELF_SERVICE)
    row = feed(app, reply_to(customer_email(app, ref, "confirmation"), "Verschieben bitte"), now)
    assert row.command == "reschedule"
    options = customer_email(app, ref, "reschedule_options")
    text = options.get_body(("plain",))
    assert text is not None and "2" in text.get_content()
    with Session(app.engine) as session:
        from mailflow.store.tables import ReplyKey

        key = str(options["Reply-To"].addresses[0].addr_spec).split("+", 1)[1].split("@", 1)[0]
        offered = session.exec(select(ReplyKey).where(ReplyKey.key == key)).one().offered
    assert offered is not None and len(offered) >= 2
    mark = last_id(app)
    row = feed(app, reply_to(options, "2"), now + timedelta(minutes=5))
    assert row.command == "choose_slot"
    status, staff, start = status_of(app, ref)
    assert status == "confirmed"
    assert start == datetime.fromisoformat(offered[1]["start"]) and staff == offered[1]["staff"]
    assert any(r.kind == "rescheduled" and r.recipient == "max@example.de" for r in queued(app, mark))


def offered_of(app: App, options: EmailMessage) -> list[dict[str, str]]:
    """The times the reply key of a ``reschedule_options`` email remembers, in the numbers' order."""
    from mailflow.store.tables import ReplyKey

    key = str(options["Reply-To"].addresses[0].addr_spec).split("+", 1)[1].split("@", 1)[0]
    with Session(app.engine) as session:
        offered = session.exec(select(ReplyKey).where(ReplyKey.key == key)).one().offered
    assert offered is not None
    return list(offered)


def test_reschedule_offers_are_spread_over_days_with_links_that_select_them(
    app: App, next_tuesday: date, now: datetime
) -> None:
    """Offers on several days, with Bob, each link selecting its own time; "3" books the third."""
    ref = book(app, next_tuesday, 10, now, service_slug="consultation", origin=Origin.SELF_SERVICE)
    feed(app, reply_to(customer_email(app, ref, "confirmation"), "Verschieben bitte"), now)
    options = customer_email(app, ref, "reschedule_options")
    offered = offered_of(app, options)

    starts = [datetime.fromisoformat(o["start"]).astimezone(berlin(next_tuesday, 0).tzinfo) for o in offered]
    assert len(offered) == 5
    assert len({s.date() for s in starts}) >= 3, starts  # not one morning: at most two a day
    assert all(sum(s.date() == d for s in starts) <= 2 for d in {s.date() for s in starts})
    assert {s.hour < 12 for s in starts} == {True, False}, starts  # mornings and afternoons
    assert starts == sorted(starts)
    assert {o["staff"] for o in offered} == {"bob@contoso.example"}  # the current staff member
    text = options.get_body(("plain",))
    assert text is not None
    content = text.get_content()
    for offer, start in zip(offered, starts, strict=True):
        value = f"{datetime.fromisoformat(offer['start']).astimezone(UTC).isoformat()}|{offer['staff']}"
        query = urlencode({"day": start.date().isoformat(), "staff": offer["staff"], "slot": value})
        assert f"/reschedule?{query}" in content

    row = feed(app, reply_to(options, "3"), now + timedelta(minutes=5))

    assert row.command == "choose_slot"
    status, staff, start = status_of(app, ref)
    assert status == "confirmed"
    assert start == datetime.fromisoformat(offered[2]["start"]) and staff == offered[2]["staff"]


def test_free_text_reaches_the_staff_with_the_original(app: App, next_tuesday: date, now: datetime) -> None:
    """A question is no command: Bob gets it as customer_message with the stripped text and the original."""
    ref = book(app, next_tuesday, 10, now, service_slug="haircut", origin=Origin.SELF_SERVICE)
    mark = last_id(app)
    row = feed(
        app, reply_to(customer_email(app, ref, "confirmation"), "Kann ich meinen Hund mitbringen?"), now
    )
    assert row.command is None
    assert status_of(app, ref)[0] == "confirmed"
    forwarded = [r for r in queued(app, mark) if r.kind == "customer_message"]
    assert [r.recipient for r in forwarded] == ["bob@contoso.example"]
    message = parsed(forwarded[0])
    text = message.get_body(("plain",))
    assert text is not None and "Kann ich meinen Hund mitbringen?" in text.get_content()
    assert "Ursprüngliche Nachricht" not in text.get_content()
    # The original is attached as an email (message/rfc822) that a mail client opens as one.
    (attached,) = [part for part in message.iter_attachments() if part.get_filename() == "original.eml"]
    assert attached.get_content_type() == "message/rfc822"
    assert attached["Content-Transfer-Encoding"] in {"7bit", "8bit"}
    (original,) = attached.iter_parts()
    assert str(original["Subject"]).startswith("AW: Bestätigt: ")
    assert "Kann ich meinen Hund mitbringen?" in original.get_body(("plain",)).get_content()


def test_cancel_reply_to_staff_booking_with_setting_off_is_refused(
    app: App, next_tuesday: date, now: datetime
) -> None:
    """The policy refuses: the customer gets action_refused once, staff get the message, nothing changes."""
    ref = book(app, next_tuesday, 10, now, service_slug="haircut", origin=Origin.STAFF)
    confirmation = customer_email(app, ref, "confirmation")
    mark = last_id(app)
    row = feed(app, reply_to(confirmation, "cancel"), now)
    assert status_of(app, ref)[0] == "confirmed"
    assert any(v["verdict"] == "refused" for v in row.verdicts)
    after = queued(app, mark)
    assert [r.kind for r in after if r.recipient == "max@example.de"] == ["action_refused"]
    assert any(r.kind == "customer_message" and r.recipient == "bob@contoso.example" for r in after)
    mark = last_id(app)
    feed(app, reply_to(confirmation, "Stornieren!"), now + timedelta(minutes=10))
    assert [
        r.kind for r in queued(app, mark) if r.recipient == "max@example.de"
    ] == []  # at most once an hour


def test_spoofed_sender_does_not_act(app: App, next_tuesday: date, now: datetime) -> None:
    """A cancel from another address is not acted on; staff see it marked unverified."""
    ref = book(app, next_tuesday, 10, now, service_slug="consultation", origin=Origin.SELF_SERVICE)
    mark = last_id(app)
    row = feed(
        app, reply_to(customer_email(app, ref, "confirmation"), "cancel", sender="mallory@evil.example"), now
    )
    assert status_of(app, ref)[0] == "confirmed"
    assert {
        "rule": "sender",
        "verdict": "unverified",
        "detail": "mallory@evil.example is not max@example.de",
    } in row.verdicts
    assert [r.kind for r in queued(app, mark)] == ["customer_message"]


def test_replayed_message_and_auto_reply_never_act(app: App, next_tuesday: date, now: datetime) -> None:
    """The same Message-ID twice acts once; a vacation notice to the reply address does nothing."""
    ref = book(app, next_tuesday, 10, now, service_slug="consultation", origin=Origin.SELF_SERVICE)
    confirmation = customer_email(app, ref, "confirmation")
    raw = reply_to(confirmation, "Verschieben")
    feed(app, raw, now)
    mark = last_id(app)
    again = feed(app, raw, now)
    assert again.verdicts[-1]["verdict"] == "duplicate"
    assert queued(app, mark) == []
    vacation = email.message_from_bytes(
        reply_to(confirmation, "Ich bin bis Montag nicht im Büro."), policy=email.policy.default
    )
    del vacation["Subject"]
    vacation["Subject"] = "Abwesenheitsnotiz: Ihr Termin"
    vacation["Auto-Submitted"] = "auto-replied"
    row = feed(app, vacation.as_bytes(), now)
    assert row.kind == "auto_reply" and row.command is None
    assert queued(app, mark) == []


def test_unknown_key_and_malformed_mime_are_recorded_not_acted_on(app: App, now: datetime) -> None:
    """A reply to a key we never issued and broken MIME are kept with their verdicts."""
    unknown = feed(
        app,
        f"From: x@example.com\r\nTo: reply+{'ab' * 12}@{DOMAIN}\r\nSubject: cancel\r\n\r\n"
        "cancel\r\n".encode(),
        now,
    )
    assert unknown.status == "done" and unknown.verdicts[-1]["rule"] == "target"
    broken = feed(
        app, b"From: x@example.com\r\nContent-Type: multipart/mixed\r\n\r\n--x\r\n\xff\xfe garbage", now
    )
    assert broken.status == "done"
    assert queued(app) == []  # no answer to either


def test_permanent_bounce_marks_the_customer_and_tells_the_admin(
    app: App, next_tuesday: date, now: datetime
) -> None:
    """A 5.1.1 DSN for the customer's confirmation marks the address bouncing and reports it."""
    ref = book(app, next_tuesday, 10, now, service_slug="consultation", origin=Origin.SELF_SERVICE)
    confirmation = customer_email(app, ref, "confirmation")
    sent = next(r for r in queued(app) if r.message_id == confirmation["Message-ID"])
    assert sent.id is not None
    return_path = ReturnPaths(app.secret_key, DOMAIN).address(sent.id, sent.message_id)
    dsn = (
        f"From: MAILER-DAEMON@mx.example.de\r\nTo: {return_path}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nThis is the mail system.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.de\r\n\r\n"
        "Final-Recipient: rfc822; max@example.de\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
        f"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {confirmation['Message-ID']}\r\n"
        f"X-Mailflow-Kind: confirmation\r\nX-Mailflow-Booking: {ref}\r\n--b--\r\n"
    ).encode()
    mark = last_id(app)
    row = feed(app, dsn, now)
    assert row.kind == "bounce"
    with Session(app.engine) as session:
        assert session.exec(select(Customer).where(Customer.email == "max@example.de")).one().bouncing
    assert [(r.kind, r.recipient) for r in queued(app, mark)] == [
        ("delivery_failed", "admin@contoso.example")
    ]


def test_feed_and_inspect_through_the_cli(run_cli: Any, tmp_path: Path, next_tuesday: date) -> None:
    """`inbound feed` stores and exits 0; `inspect` prints one JSON line per file; run-once acts."""
    run_cli("db", "upgrade", check=True)
    run_cli("demo", check=True)
    created = json.loads(
        run_cli(
            "bookings", "create", "--service", "consultation", "--staff", "bob@contoso.example",
            "--customer-email", "max@example.de", "--customer-name", "Max", "--locale", "de",
            "--origin", "self_service", "--start", berlin(next_tuesday, 10).isoformat(), "--json", check=True,
        ).stdout
    )  # fmt: skip
    run_cli("run-once", check=True)
    import mailbox

    box = mailbox.Maildir(tmp_path / "data" / "outbox", factory=None, create=False)
    confirmation = next(
        m
        for m in (
            email.message_from_bytes(box.get_bytes(k), policy=email.policy.default) for k in box.iterkeys()
        )
        if m["X-Mailflow-Kind"] == "confirmation"
    )
    assert isinstance(confirmation, EmailMessage)
    reply_file = tmp_path / "reply.eml"
    reply_file.write_bytes(reply_to(confirmation, "Stornieren"))
    junk = tmp_path / "junk.eml"
    junk.write_bytes(b"\x00\xff not mail at all")
    inspected = run_cli(
        "inbound", "inspect", str(reply_file), str(junk), "--json", check=True
    ).stdout.splitlines()
    first, second = (json.loads(line) for line in inspected)
    assert (first["kind"], first["command"], first["target"], first["text"]) == (
        "reply",
        "cancel",
        created["ref"],
        "Stornieren",
    )
    assert second["command"] is None and second["target"] is None
    assert (
        json.loads(run_cli("bookings", "show", created["ref"], "--json", check=True).stdout)["status"]
        == "confirmed"
    )
    fed = run_cli("inbound", "feed", str(reply_file))
    assert fed.returncode == 0
    report = json.loads(run_cli("run-once", "--json", check=True).stdout)
    assert report["inbound_processed"] == 1
    assert (
        json.loads(run_cli("bookings", "show", created["ref"], "--json", check=True).stdout)["status"]
        == "cancelled"
    )
    listed = json.loads(run_cli("inbound", "list", "--json", check=True).stdout)
    assert listed[0]["command"] == "cancel" and listed[0]["booking"] == created["ref"]
    assert run_cli("inbound", "feed", str(junk)).returncode == 0  # stored whatever it is


def test_staff_answer_to_a_forwarded_question_reaches_the_customer(
    app: App, next_tuesday: date, now: datetime
) -> None:
    """Bob replies to the forwarded question from his inbox; Max gets Bob's new text from the business."""
    ref = book(app, next_tuesday, 10, now, service_slug="haircut", origin=Origin.SELF_SERVICE)
    question = reply_to(customer_email(app, ref, "confirmation"), "Kann ich meinen Hund mitbringen?")
    question_id = str(email.message_from_bytes(question, policy=email.policy.default)["Message-ID"])
    feed(app, question, now)
    forwarded = parsed([r for r in queued(app) if r.kind == "customer_message"][-1])
    mark = last_id(app)
    answer = reply_to(forwarded, "Ja, gerne! Er bekommt ein Leckerli.", sender="bob@contoso.example")
    row = feed(app, answer, now)
    assert {"rule": "staff_reply", "verdict": "relayed", "detail": ref} in row.verdicts
    relayed = [r for r in queued(app, mark)]
    assert [(r.kind, r.recipient) for r in relayed] == [("staff_reply", "max@example.de")]
    message = parsed(relayed[0])
    body = message.get_body(("plain",))
    assert body is not None and "Ja, gerne! Er bekommt ein Leckerli." in body.get_content()
    assert "Ursprüngliche Nachricht" not in body.get_content()
    assert message["From"].addresses[0].addr_spec == "hello@contoso.example"
    # In Max's mailbox the answer sits under his own question, in the booking's thread.
    assert message["In-Reply-To"] == question_id
    assert message["References"].split() == [f"<booking.{ref.lower()}@{DOMAIN}>", question_id]
    assert str(message["Subject"]).startswith("AW: ") and str(message["Subject"]).endswith(
        " Uhr · Contoso Salon"
    )


def test_staff_answer_to_a_message_from_the_manage_page_reaches_the_customer(
    app: App, next_tuesday: date, now: datetime
) -> None:
    """A message written on the manage page is forwarded like a reply by email, and Bob's reply
    to that forward reaches Max as well."""
    ref = book(app, next_tuesday, 10, now, service_slug="haircut", origin=Origin.SELF_SERVICE)
    mark = last_id(app)
    send_customer_message(app.engine, ref, "Kann ich meinen Hund mitbringen?", now=now, notifier=app.notifier)
    rows = queued(app, mark)
    assert [(r.kind, r.recipient) for r in rows] == [("customer_message", "bob@contoso.example")]
    forwarded = parsed(rows[0])
    assert forwarded.get_body(("plain",)) is not None and not list(forwarded.iter_attachments())
    mark = last_id(app)
    row = feed(app, reply_to(forwarded, "Ja, gerne!", sender="bob@contoso.example"), now)
    assert {"rule": "staff_reply", "verdict": "relayed", "detail": ref} in row.verdicts
    assert [(r.kind, r.recipient) for r in queued(app, mark)] == [("staff_reply", "max@example.de")]


def test_staff_reply_to_a_notification_is_told_how_to_reach_the_customer(
    app: App, next_tuesday: date, now: datetime
) -> None:
    """Bob answers the "new booking" notification: nothing reaches Max, and Bob learns so, with
    Max's address, phone and the admin link; a second such reply within the hour gets no second notice."""
    ref = book(app, next_tuesday, 10, now, service_slug="haircut", origin=Origin.SELF_SERVICE)
    created = customer_email(app, ref, "booking_created", recipient="bob@contoso.example")
    mark = last_id(app)
    row = feed(app, reply_to(created, "Bitte Max anrufen!", sender="bob@contoso.example"), now)
    assert {
        "rule": "staff_reply",
        "verdict": "told",
        "detail": "a reply to a booking_created notification",
    } in (row.verdicts)
    rows = queued(app, mark)
    assert [(r.kind, r.recipient) for r in rows] == [("reply_not_relayed", "bob@contoso.example")]
    notice = parsed(rows[0])
    text = notice.get_body(("plain",))
    assert text is not None
    body = text.get_content()
    assert "max@example.de" in body and f"/admin/bookings/{ref}" in body
    assert "reply+" not in str(notice["Reply-To"])  # an answer to the notice reaches the business
    assert notice["References"] == f"<booking.{ref.lower()}@{DOMAIN}>"  # in the booking's thread
    assert status_of(app, ref)[0] == "confirmed"

    mark = last_id(app)
    again = feed(app, reply_to(created, "Noch einmal: bitte anrufen", sender="bob@contoso.example"), now)
    assert {
        "rule": "staff_reply",
        "verdict": "ignored",
        "detail": "a reply to a booking_created notification",
    } in (again.verdicts)
    assert queued(app, mark) == []


def test_dmarc_fail_from_a_trusted_server_holds_the_action(
    db_url: str, tmp_path: Path, next_tuesday: date, now: datetime
) -> None:
    """With mx.contoso.example trusted, its dmarc=fail verdict keeps a cancel from acting."""
    settings = {"MAILFLOW_INBOUND_DOMAIN": DOMAIN, "MAILFLOW_TRUSTED_AUTHSERV_IDS": "mx.contoso.example"}
    with demo_app_on(db_url, tmp_path, now, settings) as trusted:
        ref = book(trusted, next_tuesday, 10, now, service_slug="consultation", origin=Origin.SELF_SERVICE)
        raw = reply_to(customer_email(trusted, ref, "confirmation"), "cancel")
        spoofed = (
            b"Authentication-Results: mx.contoso.example; dmarc=fail (p=reject) header.from=example.de\r\n"
            + raw
        )
        row = feed(trusted, spoofed, now)
        assert status_of(trusted, ref)[0] == "confirmed"
        assert any(v["rule"] == "dmarc" and v["verdict"] == "fail" for v in row.verdicts)
        untrusted = b"Authentication-Results: evil.example; dmarc=fail\r\n" + raw.replace(
            b"Message-ID: <", b"Message-ID: <x"
        )
        feed(trusted, untrusted, now)
        assert status_of(trusted, ref)[0] == "cancelled"  # a header from an untrusted server means nothing


def test_huge_message_is_stored_and_judged_without_crashing(app: App, now: datetime) -> None:
    """A 20 MiB message is kept and processed like any other (the SMTP limit applies before storage)."""
    body = b"x" * (20 * 1024 * 1024)
    row = feed(app, b"From: big@example.com\r\nTo: someone@example.com\r\nSubject: big\r\n\r\n" + body, now)
    assert row.status == "done" and len(row.raw) > 20 * 1024 * 1024
    assert row.verdicts[-1]["rule"] == "target"


def test_machine_mail_from_the_corpus_never_acts_or_answers(app: App, corpora: Path, now: datetime) -> None:
    """Every sisimai bounce, auto-reply and abuse report goes through the pipeline without a word back."""
    files = sorted((corpora / "sisimai" / "maildir" / "bsd").iterdir())
    ids = [
        store_raw(
            app.engine,
            path.read_bytes(),
            envelope_from="",
            envelope_rcpt=f"reply+{'cd' * 12}@{DOMAIN}",
            now=now,
        )
        for path in files
    ]
    process_pending(app.mailroom, now)
    with Session(app.engine) as session:
        rows = session.exec(select(InboundMessage).where(col(InboundMessage.id).in_(ids))).all()
    assert len(rows) == len(files) >= 170
    assert all(row.status == "done" for row in rows)
    duplicates = [row for row in rows if row.verdicts[-1]["verdict"] == "duplicate"]  # shared Message-IDs
    judged = [row for row in rows if row not in duplicates]
    assert len(judged) > 150
    assert all(row.kind in {"bounce", "auto_reply", "feedback_report", "loop"} for row in judged)
    assert all(row.command is None for row in rows)
    assert queued(app) == []


def test_flufl_bounce_corpus_at_a_real_reply_address_never_acts(
    app: App, corpora: Path, next_tuesday: date, now: datetime
) -> None:
    """117 bounces of many MTAs sent to a booking's reply address: no action, no answer, nobody marked."""
    ref = book(app, next_tuesday, 10, now, service_slug="consultation", origin=Origin.SELF_SERVICE)
    reply_address = str(customer_email(app, ref, "confirmation")["Reply-To"].addresses[0].addr_spec)
    mark = last_id(app)
    files = sorted((corpora / "flufl-bounce" / "data").iterdir())
    ids = [
        store_raw(app.engine, path.read_bytes(), envelope_from="", envelope_rcpt=reply_address, now=now)
        for path in files
    ]
    process_pending(app.mailroom, now)
    with Session(app.engine) as session:
        rows = session.exec(select(InboundMessage).where(col(InboundMessage.id).in_(ids))).all()
        assert not any(c.bouncing for c in session.exec(select(Customer)))
    assert len(rows) == len(files) >= 117 and all(row.status == "done" for row in rows)
    judged = [row for row in rows if row.verdicts[-1]["verdict"] != "duplicate"]
    people = [row for row in judged if row.kind not in {"bounce", "auto_reply", "feedback_report", "loop"}]
    assert len(people) == 1  # groupwise_03.txt: a hotel's answer by hand (see test_inbound_corpora)
    assert all(row.command is None for row in judged if row not in people)
    assert [r.kind for r in queued(app, mark)] == ["customer_message"]  # that one reaches staff, unverified
    assert status_of(app, ref)[0] == "confirmed"


def test_key_of_another_booking_does_not_act_for_its_sender(
    app: App, next_tuesday: date, now: datetime
) -> None:
    """Grace replies "cancel" through a key minted for Max's booking: nothing changes, staff are told."""
    ref = book(app, next_tuesday, 10, now, service_slug="consultation", origin=Origin.SELF_SERVICE)
    stolen = reply_to(customer_email(app, ref, "confirmation"), "cancel", sender="grace@example.com")
    row = feed(app, stolen, now)
    assert status_of(app, ref)[0] == "confirmed"
    assert any(v["rule"] == "sender" and v["verdict"] == "unverified" for v in row.verdicts)


def test_undeclared_and_wrong_charsets_still_act(app: App, next_tuesday: date, now: datetime) -> None:
    """A latin-1 body without a charset, or declared as utf-8, is read and its command understood."""
    ref = book(app, next_tuesday, 10, now, service_slug="consultation", origin=Origin.SELF_SERVICE)
    original = customer_email(app, ref, "confirmation")
    head = (
        f"From: max@example.de\r\nTo: {original['Reply-To']}\r\nSubject: AW: Termin\r\n"
        f"In-Reply-To: {original['Message-ID']}\r\nMIME-Version: 1.0\r\n"
    ).encode()
    undeclared = (
        head
        + b"Message-ID: <a1@example.de>\r\nContent-Type: text/plain\r\n\r\nVerschieben\r\n\r\nGr\xfc\xdfe\r\n"
    )
    row = feed(app, undeclared, now)
    assert row.command == "reschedule" and row.status == "done"
    wrong = (
        head
        + b"Message-ID: <a2@example.de>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + b"absagen\r\n\xe4\xf6\xfc\r\n"
    )
    row = feed(app, wrong, now)
    assert row.command == "cancel" and status_of(app, ref)[0] == "cancelled"


def test_a_polling_worker_sees_waiting_messages_without_claiming(app: App, now: datetime) -> None:
    """has_received is true exactly while a stored message waits, and takes nothing itself."""
    from mailflow.inbound.process import claim_received, has_received

    assert not has_received(app.engine)
    row_id = store_raw(
        app.engine, b"From: a@example.com\r\n\r\nHi", envelope_from="", envelope_rcpt="", now=now
    )
    assert has_received(app.engine) and has_received(app.engine)
    assert claim_received(app.engine, now, 10) == [row_id]
    assert not has_received(app.engine)


def test_a_claim_holds_from_when_it_is_taken_not_from_when_the_message_arrived(
    app: App, now: datetime
) -> None:
    """A message that waited past the lease is claimed by one worker only; a dead worker's claim runs out."""
    from sqlalchemy import update

    from mailflow.inbound.process import CLAIM_LEASE, claim_received

    waited = store_raw(
        app.engine,
        b"From: a@example.com\r\nMessage-ID: <w@example.com>\r\n\r\nHi",
        envelope_from="",
        envelope_rcpt="",
        now=now - CLAIM_LEASE * 2,  # a backlog: stored while no worker ran
    )
    assert claim_received(app.engine, now, 10) == [waited]
    assert claim_received(app.engine, now + timedelta(seconds=1), 10) == []  # a second worker
    assert claim_received(app.engine, now + CLAIM_LEASE - timedelta(seconds=1), 10) == []
    assert claim_received(app.engine, now + CLAIM_LEASE + timedelta(seconds=1), 10) == [waited]

    legacy = store_raw(
        app.engine, b"From: b@example.com\r\n\r\nHi", envelope_from="", envelope_rcpt="", now=now
    )
    with Session(app.engine) as session:  # claimed by a version without claimed_until, then its worker died
        session.execute(
            update(InboundMessage).where(col(InboundMessage.id) == legacy).values(status="processing")
        )
        session.commit()
    assert claim_received(app.engine, now + CLAIM_LEASE - timedelta(seconds=1), 10) == []
    assert claim_received(app.engine, now + CLAIM_LEASE + timedelta(seconds=1), 10) == [legacy]


def test_a_crash_in_one_message_of_a_batch_keeps_the_others(
    app: App, next_tuesday: date, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Messages share a write transaction; one whose steps crash is rolled back alone and kept as error."""
    from mailflow.inbound import steps

    first = book(app, next_tuesday, 10, now, service_slug="consultation", origin=Origin.SELF_SERVICE)
    second = book(app, next_tuesday, 12, now, service_slug="consultation", origin=Origin.SELF_SERVICE)
    question = reply_to(customer_email(app, first, "confirmation"), "BOOM: is parking available?")
    cancel = reply_to(customer_email(app, second, "confirmation"), "Stornieren")
    forward = steps.store.forward_to_staff

    def exploding(*args: Any, **kwargs: Any) -> None:
        forward(*args, **kwargs)  # its rows are written, then rolled back with the savepoint
        if "BOOM" in kwargs["text"]:
            raise RuntimeError("the forward broke")

    monkeypatch.setattr(steps.store, "forward_to_staff", exploding)
    mark = last_id(app)
    ids = [
        store_raw(app.engine, raw, envelope_from="max@example.de", envelope_rcpt="", now=now)
        for raw in (question, cancel)
    ]
    assert process_pending(app.mailroom, now) == 2
    with Session(app.engine) as session:
        broken, fine = (session.get_one(InboundMessage, row_id) for row_id in ids)
        assert broken.status == "error" and broken.error == "RuntimeError: the forward broke"
        assert broken.raw == question and broken.verdicts[-1]["verdict"] == "error"
        assert fine.status == "done" and fine.command == "cancel"
    assert status_of(app, second)[0] == "cancelled"
    kinds = [(r.recipient, r.kind) for r in queued(app, mark)]
    assert ("max@example.de", "cancelled") in kinds
    assert not [k for k in kinds if k[1] == "customer_message"], "the crashed forward left nothing queued"


def test_pipeline_steps_are_named_in_order() -> None:
    """``STEPS`` is the pipeline, read top to bottom: a plain tuple of named functions."""
    from mailflow.inbound.steps import STEPS

    assert [step.__name__ for step in STEPS] == [
        "deduplicate",
        "postmaster",
        "classify",
        "target",
        "verify_sender",
        "check_dmarc",
        "staff_reply",
        "calendar_reply",
        "strip",
        "command",
        "act",
        "answer_or_forward",
    ]


def test_an_auto_reply_stops_at_classify_and_records_only_the_steps_it_ran(
    app: App, next_tuesday: date, now: datetime
) -> None:
    """A vacation notice runs deduplicate and classify, then stops: its row holds their verdicts alone."""
    from mailflow.inbound.process import process_one

    ref = book(app, next_tuesday, 10, now, service_slug="consultation", origin=Origin.SELF_SERVICE)
    vacation = email.message_from_bytes(
        reply_to(customer_email(app, ref, "confirmation"), "Ich bin bis Montag nicht im Büro."),
        policy=email.policy.default,
    )
    vacation["Auto-Submitted"] = "auto-replied"
    row_id = store_raw(app.engine, vacation.as_bytes(), envelope_from="", envelope_rcpt="", now=now)
    outcome = process_one(app.mailroom, row_id, now)
    assert outcome.steps == ["deduplicate", "postmaster", "classify"]
    with Session(app.engine) as session:
        row = session.get_one(InboundMessage, row_id)
    assert row.status == "done" and row.kind == "auto_reply" and row.booking_id is None
    assert [(v["rule"], v["verdict"]) for v in row.verdicts] == [
        ("parse", "ok"),
        ("auto_submitted", "discard"),
        ("answer", "none"),
    ]


def test_a_refused_cancel_skips_to_answer_or_forward_and_records_each_step(
    app: App, next_tuesday: date, now: datetime
) -> None:
    """A refusal is answered, then forwarded: act hands over to the last step; the verdicts say so."""
    from mailflow.inbound.process import process_one

    ref = book(app, next_tuesday, 10, now, service_slug="haircut", origin=Origin.STAFF)
    raw = reply_to(customer_email(app, ref, "confirmation"), "cancel")
    row_id = store_raw(app.engine, raw, envelope_from="max@example.de", envelope_rcpt="", now=now)
    outcome = process_one(app.mailroom, row_id, now)
    assert outcome.steps == [
        "deduplicate",
        "postmaster",
        "classify",
        "target",
        "verify_sender",
        "check_dmarc",
        "staff_reply",
        "calendar_reply",
        "strip",
        "command",
        "act",
        "answer_or_forward",
    ]
    with Session(app.engine) as session:
        row = session.get_one(InboundMessage, row_id)
    assert [(v["rule"], v["verdict"]) for v in row.verdicts] == [
        ("parse", "ok"),
        ("target", "reply_key"),
        ("sender", "verified"),
        ("command", "cancel"),
        ("act", "refused"),
        ("answer", "action_refused"),
        ("forward", "staff"),
    ]
    assert row.verdicts[-1]["detail"] == "refused request"


def test_an_unverified_sender_skips_to_answer_or_forward(app: App, next_tuesday: date, now: datetime) -> None:
    """A stranger's cancel is handed to staff straight from verify_sender; nothing is acted on."""
    from mailflow.inbound.process import process_one

    ref = book(app, next_tuesday, 10, now, service_slug="consultation", origin=Origin.SELF_SERVICE)
    raw = reply_to(customer_email(app, ref, "confirmation"), "cancel", sender="mallory@evil.example")
    row_id = store_raw(app.engine, raw, envelope_from="mallory@evil.example", envelope_rcpt="", now=now)
    outcome = process_one(app.mailroom, row_id, now)
    assert outcome.steps == [
        "deduplicate",
        "postmaster",
        "classify",
        "target",
        "verify_sender",
        "answer_or_forward",
    ]
    assert [(v["rule"], v["verdict"]) for v in outcome.verdicts][-2:] == [
        ("sender", "unverified"),
        ("forward", "staff"),
    ]
    assert status_of(app, ref)[0] == "confirmed"


def test_a_batch_of_replies_reads_and_mints_keys_with_one_statement_each(
    app: App, next_tuesday: date, now: datetime
) -> None:
    """Three replies processed together (cancel, a question, reschedule): their reply keys are
    read with their bookings in one statement; their answers' reply keys and manage tokens are
    written at the batch's end, one statement per table, and every answer's Reply-To key is
    then known to the SMTP side."""
    from sqlalchemy import event

    from mailflow.services.reply_targets import reply_key_exists

    refs = [book(app, next_tuesday, hour, now, service_slug="haircut", origin=Origin.SELF_SERVICE)
            for hour in (9, 11, 14)]  # fmt: skip
    mark = last_id(app)
    for ref, body in zip(
        refs, ["stornieren", "Kann ich meinen Hund mitbringen?", "verschieben"], strict=True
    ):
        store_raw(app.engine, reply_to(customer_email(app, ref, "confirmation"), body),
                  envelope_from="max@example.de", envelope_rcpt="", now=now)  # fmt: skip
    inserts: list[str] = []
    key_reads: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO") and (
            "replykey" in statement or "managetoken" in statement
        ):
            inserts.append(statement.split("(")[0].split()[-1])  # fmt: skip
        elif statement.lstrip().upper().startswith("SELECT") and "FROM replykey" in statement:
            key_reads.append(statement)

    event.listen(app.engine, "before_cursor_execute", seen)
    try:
        assert process_pending(app.mailroom, now) == 3
    finally:
        event.remove(app.engine, "before_cursor_execute", seen)
    assert [status_of(app, ref)[0] for ref in refs] == ["cancelled", "confirmed", "confirmed"]
    answers = queued(app, mark)
    assert {r.kind for r in answers} >= {"booking_cancelled", "customer_message", "reschedule_options"}
    assert sorted(inserts) == ["managetoken", "replykey"]  # without the gathering: one per email
    assert len(key_reads) == 1 and "JOIN booking" in key_reads[0]  # without the prefetch: one a reply
    for row in answers:
        reply_address = str(parsed(row)["Reply-To"] or "")
        if reply_address.startswith("reply+"):
            assert reply_key_exists(app.engine, reply_address.split("@")[0].removeprefix("reply+"))


def test_copies_in_one_batch_act_once_by_message_id_else_by_bytes(
    app: App, next_tuesday: date, now: datetime
) -> None:
    """Stored together and processed in one batch: the second copy of a Message-ID (relayed
    again, so its bytes differ) and the second copy of the same bytes without one are
    duplicates; a copy whose earlier one ended in error is not (the error was given up on,
    the copy is the message)."""
    refs = [book(app, next_tuesday, hour, now, service_slug="haircut", origin=Origin.SELF_SERVICE)
            for hour in (9, 11, 14)]  # fmt: skip
    with_id = reply_to(customer_email(app, refs[0], "confirmation"), "stornieren")
    without = email.message_from_bytes(
        reply_to(customer_email(app, refs[1], "confirmation"), "stornieren"), policy=email.policy.default
    )
    del without["Message-ID"]
    without_id = without.as_bytes()
    failed = reply_to(customer_email(app, refs[2], "confirmation"), "stornieren")
    errored = store_raw(app.engine, failed, envelope_from="max@example.de", envelope_rcpt="", now=now)
    with Session(app.engine) as session:
        session.get_one(InboundMessage, errored).status = "error"
        session.commit()
    relayed = b"Received: from relay.example.de by mx.example; Mon, 7 Dec 2026 10:00:00 +0100\r\n" + with_id
    ids = [store_raw(app.engine, raw, envelope_from="max@example.de", envelope_rcpt="", now=now)
           for raw in (with_id, relayed, without_id, without_id, failed)]  # fmt: skip
    assert process_pending(app.mailroom, now) == 5
    with Session(app.engine) as session:
        rows = [session.get_one(InboundMessage, row_id) for row_id in ids]
    duplicate = [any(v["verdict"] == "duplicate" for v in row.verdicts) for row in rows]
    assert duplicate == [False, True, False, True, False]
    assert [status_of(app, ref)[0] for ref in refs] == ["cancelled"] * 3


@pytest.mark.parametrize(("limit", "sizes"), [(8, [4, 4]), (9, [2, 2, 2, 2])])
def test_a_full_claim_goes_in_larger_transactions(
    app: App, next_tuesday: date, now: datetime, monkeypatch: pytest.MonkeyPatch, limit: int, sizes: list[int]
) -> None:
    """A claim that comes back full (a backlog waits) is processed ``BACKLOG_BATCH`` messages to a
    transaction, a shorter one ``BATCH`` to a transaction; every message is done either way."""
    from mailflow.inbound import process

    monkeypatch.setattr(process, "BATCH", 2)
    monkeypatch.setattr(process, "BACKLOG_BATCH", 4)
    batches: list[int] = []
    run = process.process_batch

    def recorded(room: Any, row_ids: list[int], *args: Any) -> Any:
        batches.append(len(row_ids))
        return run(room, row_ids, *args)

    monkeypatch.setattr(process, "process_batch", recorded)
    ref = book(app, next_tuesday, 9, now, service_slug="haircut", origin=Origin.SELF_SERVICE)
    address = customer_email(app, ref, "confirmation")
    for number in range(8):
        store_raw(app.engine, reply_to(address, f"Frage {number}: Parkplätze?"),
                  envelope_from="max@example.de", envelope_rcpt="", now=now)  # fmt: skip
    assert process_pending(app.mailroom, now, limit=limit) == 8
    assert batches == sizes
    with Session(app.engine) as session:
        statuses = session.exec(select(InboundMessage.status)).all()
    assert statuses == ["done"] * 8
