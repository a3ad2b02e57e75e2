"""Outbox and inbound status through the API: what was sent and received, never a message body."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime
from email.message import EmailMessage

from mailflow.inbound.process import process_pending, store_raw
from mailflow.runtime import run_once
from tests.api.conftest import BOB, Api


def test_outbox_lists_a_bookings_emails_and_their_delivery(api: Api) -> None:
    """After an API booking: the customer's confirmation and the staff notifications, queued then sent."""
    ref = api.book(10)["ref"]
    other = api.book(14, service="consultation")["ref"]

    rows = api.get(f"/bookings/{ref}/outbox").json()
    assert sorted((r["kind"], r["recipient"]) for r in rows) == [
        ("booking_created", "admin@contoso.example"), ("booking_created", BOB),
        ("confirmation", "ada@example.com"),
    ]  # fmt: skip
    assert all(r["booking"] == ref and r["status"] == "queued" and r["attempts"] == 0 for r in rows)
    assert all(r["next_attempt_at"] and r["sent_at"] is None and r["message_id"] for r in rows)
    confirmation = next(r for r in rows if r["kind"] == "confirmation")
    assert confirmation["subject"].startswith("Confirmed: Haircut, ")
    assert not {"payload", "html", "text", "body"} & set(confirmation)
    assert api.get(f"/outbox?booking={ref}").json() == rows
    assert {r["booking"] for r in api.get("/outbox").json()} == {ref, other}

    run_once(api.app, datetime.now(UTC))  # the API's clock is the real one

    sent = api.get("/outbox?status=sent").json()
    assert len(sent) == 6 and all(r["sent_at"] and r["next_attempt_at"] is None for r in sent)
    assert api.get("/outbox?status=queued").json() == []
    assert [r["id"] for r in api.get("/outbox?limit=2").json()] == sorted(
        (r["id"] for r in sent), reverse=True
    )[:2]
    assert api.get("/outbox?status=lost").status_code == 422
    assert api.get("/bookings/BK-ZZZZZZ/outbox").status_code == 404


def test_inbound_lists_replies_to_the_business_bookings_without_bodies(api: Api) -> None:
    """A customer's reply is listed with its verdicts and booking, by booking too; its raw bytes are not."""
    ref = api.book(10)["ref"]
    (confirmation,) = api.outbox("confirmation")
    reply = EmailMessage()
    reply["From"] = "Ada Lovelace <ada@example.com>"
    reply["To"] = str(confirmation["Reply-To"])
    reply["Subject"] = f"Re: {confirmation['Subject']}"
    reply["Message-ID"] = email.utils.make_msgid(domain="example.com")
    reply["In-Reply-To"] = str(confirmation["Message-ID"])
    reply.set_content("May I bring my dog? It is a very quiet dog.\n")
    rcpt = email.utils.parseaddr(str(confirmation["Reply-To"]))[1]
    store_raw(
        api.app.engine, reply.as_bytes(), envelope_from="ada@example.com", envelope_rcpt=rcpt, now=api.now
    )
    assert api.get("/inbound").json() == []  # not yet matched to a booking
    process_pending(api.app.mailroom, datetime.now(UTC))

    (row,) = api.get("/inbound").json()
    assert row["booking"] == ref and row["kind"] == "reply" and row["command"] is None
    assert row["status"] and row["error"] is None and row["message_id"] == reply["Message-ID"]
    assert {"rule", "verdict"} <= set(row["verdicts"][0])
    # the verdicts may quote a line of the reply; the raw message (headers, MIME) is never there
    assert "raw" not in row and "Content-Type" not in str(row) and "Message-ID:" not in str(row)
    assert api.get(f"/bookings/{ref}/inbound").json() == [row]
    assert api.get(f"/inbound?booking={ref}&status={row['status']}").json() == [row]
    assert api.get("/inbound?status=error").json() == []
