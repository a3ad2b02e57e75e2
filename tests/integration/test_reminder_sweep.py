"""The reminder sweep drains everything due, batch by batch, not just its first batch."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from sqlmodel import Session, col, select

from mailflow.booking.model import Actor, ActorKind
from mailflow.bootstrap import App, build
from mailflow.config import load_settings
from mailflow.demo import seed_demo
from mailflow.services.reminders import sweep_reminders
from mailflow.store.tables import OutboxMessage, Reminder
from tests.conftest import berlin, book_self_service


def five_bookings(db_url: str, tmp_path: Path, now: datetime, day: date) -> App:
    app = build(
        load_settings(
            {
                "MAILFLOW_DATABASE_URL": db_url,
                "MAILFLOW_DATA_DIR": str(tmp_path),
                "MAILFLOW_OUTBOUND_URL": "memory://",
            }
        )
    )
    seed_demo(app.engine, now)
    for hour in range(10, 15):
        book_self_service(app, berlin(day, hour), f"c{hour}@example.org", now, f"C {hour}")
    return app


def reminder_emails(app: App) -> int:
    with Session(app.engine) as session:
        return len(session.exec(select(OutboxMessage.id).where(col(OutboxMessage.kind) == "reminder")).all())


def test_one_sweep_queues_every_due_reminder_in_batches(
    db_url: str, tmp_path: Path, now: datetime, next_tuesday: date
) -> None:
    """Five due reminders, batches of two: one sweep queues all five; the next finds none."""
    app = five_bookings(db_url, tmp_path, now, next_tuesday)
    due = berlin(next_tuesday, 9)  # every reminder (24 h ahead) is due, no booking has started
    assert sweep_reminders(app.engine, app.notifier.send_reminder, due, limit=2) == 5
    assert sweep_reminders(app.engine, app.notifier.send_reminder, due, limit=2) == 0
    with Session(app.engine) as session:
        assert set(session.exec(select(Reminder.status)).all()) == {"sent"}
    assert reminder_emails(app) == 5
    app.close()


def test_a_stopping_sweep_ends_after_the_batch_in_hand(
    db_url: str, tmp_path: Path, now: datetime, next_tuesday: date
) -> None:
    """Asked to stop, the sweep finishes its batch and leaves the rest due for the next one."""
    app = five_bookings(db_url, tmp_path, now, next_tuesday)
    due = berlin(next_tuesday, 9)
    assert sweep_reminders(app.engine, app.notifier.send_reminder, due, limit=2, stop=lambda: True) == 2
    assert sweep_reminders(app.engine, app.notifier.send_reminder, due, limit=2) == 3
    assert reminder_emails(app) == 5
    app.close()


def test_batched_rows_of_a_sweep_belong_to_their_own_emails(
    db_url: str, tmp_path: Path, now: datetime, next_tuesday: date
) -> None:
    """Rows inserted in one statement per batch: each rendered reminder lands in its own outbox row,
    addressed to its own customer, and its manage link opens that customer's booking."""
    import email
    import email.policy
    import re

    from mailflow.store.links import rows_for_token

    app = five_bookings(db_url, tmp_path, now, next_tuesday)
    assert sweep_reminders(app.engine, app.notifier.send_reminder, berlin(next_tuesday, 9), limit=3) == 5
    with Session(app.engine) as session:
        rows = session.exec(select(OutboxMessage).where(col(OutboxMessage.kind) == "reminder")).all()
        assert len(rows) == 5
        for row in rows:
            assert row.payload is not None, row.id  # rendered into this row (see the test below)
            message = email.message_from_bytes(row.payload, policy=email.policy.default)
            assert message["To"].addresses[0].addr_spec == row.recipient
            text = message.get_body(("plain",))
            assert text is not None
            token = re.search(r"/m/([\w-]+)\?lang=", text.get_content())
            assert token is not None, row.recipient
            opened = rows_for_token(session, token.group(1), now)
            assert opened is not None and opened[4].email == row.recipient
            assert opened[0].id == row.booking_id


def test_postgresql_writes_each_reminder_once_sqlite_renders_after_the_commit(
    db_url: str, tmp_path: Path, now: datetime, next_tuesday: date
) -> None:
    """On PostgreSQL the sweep renders inside its transaction: each reminder's outbox row is
    inserted with its body and never updated. On SQLite the one write lock must not wait for
    rendering: the rows are inserted as recipes and filled after the commit. Both end rendered."""
    from sqlalchemy import event

    app = five_bookings(db_url, tmp_path, now, next_tuesday)
    updates: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("UPDATE OUTBOXMESSAGE"):
            updates.append(statement)

    event.listen(app.engine, "before_cursor_execute", seen)
    assert sweep_reminders(app.engine, app.notifier.send_reminder, berlin(next_tuesday, 9), limit=2) == 5
    event.remove(app.engine, "before_cursor_execute", seen)
    if app.engine.dialect.name == "postgresql":
        assert updates == []
    else:
        assert len(updates) == 3 and all("SET payload" in statement for statement in updates)  # one a batch
    with Session(app.engine) as session:
        rows = session.exec(select(OutboxMessage).where(col(OutboxMessage.kind) == "reminder")).all()
        assert len(rows) == 5
        assert all(row.payload and "pending" not in row.context for row in rows)
    app.close()


def test_a_batch_reads_the_edited_templates_of_all_its_businesses_at_once(
    db_url: str, tmp_path: Path, now: datetime, next_tuesday: date
) -> None:
    """A batch with reminders of two businesses: each gets its own template in force (City's
    edited one, Contoso's default), read in one query for the batch, not one per business."""
    import email
    import email.policy

    from sqlalchemy import event

    from mailflow.outbound import template_store
    from mailflow.outbound.templates import default_source
    from mailflow.services import business as businesses
    from mailflow.services import catalog, staff
    from mailflow.store.engine import write_session
    from mailflow.store.tables import Business, pk

    app = five_bookings(db_url, tmp_path, now, next_tuesday)
    owner = Actor(ActorKind.STAFF, "owner@city.example")
    businesses.create_business(
        app.engine, slug="city", name="City", timezone="Europe/Berlin", actor=owner, now=now
    )
    hours = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
    staff.add_staff(
        app.engine, "city", email="ben@city.example", name="Ben", hours=hours, actor=owner, now=now
    )
    values = {"names": {"en": "Cut"}, "duration": 30, "staff": ["ben@city.example"], "reminders": [1440]}
    catalog.create_service(app.engine, "city", slug="cut", values=values, actor=owner, now=now)
    book_self_service(
        app, berlin(next_tuesday, 11), "zoe@example.org", now, "Zoe", business="city", service="cut",
        staff="ben@city.example",
    )  # fmt: skip
    shipped = default_source("reminder", "en")
    edited = type(shipped)(
        kind="reminder", locale="en", subject="City reminds you", mjml=shipped.mjml, text=shipped.text
    )
    with write_session(app.engine) as session:
        city = session.exec(select(Business).where(Business.slug == "city")).one()
        template_store.save_version(session, pk(city), edited, author="owner@city.example", now=now)

    reads: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "FROM template" in statement and "template.current_version IS NOT NULL" in statement:
            reads.append(statement)

    event.listen(app.engine, "before_cursor_execute", seen)
    assert sweep_reminders(app.engine, app.notifier.send_reminder, berlin(next_tuesday, 9)) == 6
    event.remove(app.engine, "before_cursor_execute", seen)
    assert len(reads) == 1, reads
    with Session(app.engine) as session:
        rows = session.exec(select(OutboxMessage).where(col(OutboxMessage.kind) == "reminder")).all()
        subjects = {
            row.recipient: str(
                email.message_from_bytes(row.payload or b"", policy=email.policy.default)["Subject"]
            )
            for row in rows
        }
    assert subjects.pop("zoe@example.org") == "City reminds you"
    assert len(subjects) == 5 and not any("City" in subject for subject in subjects.values())
    app.close()
