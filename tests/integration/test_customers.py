"""Data protection: export gives all that is held about a customer; erase leaves counts, nothing personal."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import Session, col, select

from mailflow import services
from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.bootstrap import App
from mailflow.errors import InvalidInput, NotFound
from mailflow.inbound.process import process_pending, store_raw
from mailflow.runtime import run_once
from mailflow.services.customers import erase_customer, erased_address, export_customer
from mailflow.services.housekeeping import clean_up
from mailflow.store.tables import AuditEvent, Booking, Customer, InboundMessage, ManageToken, OutboxMessage
from tests.conftest import berlin
from tests.integration.test_inbound_pipeline import app, customer_email, reply_to  # noqa: F401

ADA = "max@example.de"  # the pipeline tests' customer


def book(app: App, day: date, now: datetime) -> str:  # noqa: F811
    return services.create_booking(
        app.engine,
        business="contoso",
        service="consultation",
        staff="bob@contoso.example",
        customer=services.CustomerInput(email=ADA, name="Max Mustermann", phone="+49 30 555", locale="de"),
        start=berlin(day, 10),
        origin=Origin.SELF_SERVICE,
        actor=Actor(ActorKind.CUSTOMER_LINK, ADA),
        now=now,
        public_url=app.settings.public_url,
        **app.booking_kwargs(),
    ).ref


def counts(app: App) -> tuple[int, int, int]:  # noqa: F811
    with Session(app.engine) as session:
        return (
            session.exec(select(func.count()).select_from(Booking)).one(),
            session.exec(select(func.count()).select_from(OutboxMessage)).one(),
            session.exec(select(func.count()).select_from(InboundMessage)).one(),
        )


def test_export_then_erase(app: App, next_tuesday: date, now: datetime) -> None:  # noqa: F811
    ref = book(app, next_tuesday, now)
    question = reply_to(customer_email(app, ref, "confirmation"), "Gibt es Parkplätze in der Nähe?")
    store_raw(app.engine, question, envelope_from=ADA, envelope_rcpt="", now=now)
    process_pending(app.mailroom, now)
    run_once(app, now)

    exported = export_customer(app.engine, ADA.upper())
    [customer] = exported["customers"]
    assert customer["name"] == "Max Mustermann" and customer["phone"] == "+49 30 555"
    assert [b["ref"] for b in customer["bookings"]] == [ref]
    assert {e["kind"] for e in customer["emails"]} == {"confirmation"}
    assert customer["emails"][0]["subject"] and "Max" in customer["emails"][0]["message"]
    assert len(customer["replies"]) == 1 and "Parkpl" in customer["replies"][0]["message"]
    assert customer["history"][0]["action"] == "booking.created"
    json.dumps(exported)  # all of it is JSON

    with pytest.raises(InvalidInput, match=f"still has a confirmed booking ahead \\({ref}\\)"):
        erase_customer(app.engine, ADA, now)
    assert export_customer(app.engine, ADA)["customers"][0]["name"] == "Max Mustermann"  # nothing erased

    services.cancel_booking(
        app.engine,
        ref,
        reason="my divorce, honestly",
        actor=Actor(ActorKind.CUSTOMER_LINK, ADA),
        now=now,
        notifier=app.notifier,
    )
    before = counts(app)
    summary = erase_customer(app.engine, ADA, now + timedelta(minutes=1))
    assert summary["customers"] == 1 and summary["bookings"] == 1 and summary["replies"] == 1
    assert summary["emails"] >= 2 and summary["manage_links"] >= 1
    assert counts(app) == before, "bookings, emails and replies stay, as counts for reports"

    with Session(app.engine) as session:
        row = session.exec(select(Customer).where(col(Customer.id).is_not(None))).one()
        assert (row.email, row.name, row.phone) == (erased_address(row.id or 0), "(erased)", "")
        booking = session.exec(select(Booking).where(Booking.ref == ref)).one()
        assert booking.cancel_reason is None and booking.status == "cancelled"
        assert session.exec(select(ManageToken)).first() is None
        theirs = session.exec(select(OutboxMessage).where(OutboxMessage.recipient == row.email)).all()
        assert theirs and all(m.payload is None and m.status in ("sent", "failed") for m in theirs)
        assert session.exec(select(OutboxMessage).where(OutboxMessage.recipient == ADA)).first() is None
        reply = session.exec(select(InboundMessage)).one()
        assert reply.raw == b"" and reply.envelope_from == "" and reply.kind == "reply"
        for event in session.exec(select(AuditEvent).where(AuditEvent.booking_id == booking.id)):
            assert ADA not in json.dumps([event.actor_label, event.before, event.after])
            assert "divorce" not in json.dumps([event.before, event.after])
    with pytest.raises(NotFound):
        export_customer(app.engine, ADA)


def test_retention_drops_old_bodies_only(app: App, next_tuesday: date, now: datetime) -> None:  # noqa: F811
    book(app, next_tuesday, now)
    run_once(app, now)
    clean_up(app.engine, now + timedelta(days=9), sent_retention=timedelta(days=10))
    with Session(app.engine) as session:
        assert all(m.payload for m in session.exec(select(OutboxMessage)))
    clean_up(app.engine, now + timedelta(days=11), sent_retention=timedelta(days=10))
    with Session(app.engine) as session:
        sent = session.exec(select(OutboxMessage)).all()
        assert sent and all(m.payload is None and m.status == "sent" for m in sent)


def test_cli_export_and_erase(run_cli: Any) -> None:
    assert run_cli("db", "upgrade").returncode == 0
    assert run_cli("demo", "--json").returncode == 0
    created = run_cli(
        "bookings", "create", "--business", "contoso", "--service", "haircut",
        "--staff", "bob@contoso.example", "--customer-email", "Zoe@Example.org", "--customer-name", "Zoe",
        "--start", "2030-03-05T10:00:00+01:00", "--json",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    ref = json.loads(created.stdout)["ref"]
    exported = run_cli("customers", "export", "zoe@example.org")
    assert (
        exported.returncode == 0 and json.loads(exported.stdout)["customers"][0]["bookings"][0]["ref"] == ref
    )
    refused = run_cli("customers", "erase", "zoe@example.org")
    assert refused.returncode != 0 and "cancel it first" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert run_cli("bookings", "cancel", ref).returncode == 0
    erased = run_cli("customers", "erase", "zoe@example.org", "--json")
    assert erased.returncode == 0 and json.loads(erased.stdout)["customers"] == 1
    missing = run_cli("customers", "export", "zoe@example.org")
    assert (
        missing.returncode != 0 and "zoe@example.org" in missing.stderr and "Traceback" not in missing.stderr
    )
