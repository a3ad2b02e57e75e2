"""Two worker processes on one PostgreSQL database share the webhook deliveries: each sent once, in order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, func, select

from mailflow import services
from mailflow.booking.model import Actor, ActorKind, Origin
from mailflow.demo import seed_demo
from mailflow.outbound.webhook_queue import body, enqueue_delivery
from mailflow.services import webhooks
from mailflow.store.engine import make_engine
from mailflow.store.tables import Booking, Business
from mailflow.store.webhook_tables import WebhookDelivery
from tests.conftest import berlin
from tests.webhook_receiver import Receiver, running_receiver

STAFF = Actor(ActorKind.STAFF, "test")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running_receiver()


def test_two_worker_processes_on_postgres_send_each_delivery_once_and_in_order(
    postgres_url: str, receiver: Receiver, tmp_path: Path, now: datetime, next_tuesday: date
) -> None:
    """300 deliveries (60 of them 20 per booking), two ``run-once`` processes at the same time:
    every webhook-id arrives exactly once, and each booking's events in the order they were made."""
    engine = make_engine(postgres_url)
    seed_demo(engine, now)
    refs = [
        services.create_booking(
            engine, business="contoso", service="consultation", staff="bob@contoso.example",
            customer=services.CustomerInput(email=f"c{hour}@example.com", name="C"),
            start=berlin(next_tuesday, hour), origin=Origin.STAFF, actor=STAFF, now=now,
            public_url="http://x", grid=timedelta(minutes=15), notifier=None,
        ).ref
        for hour in (10, 11, 12)
    ]  # fmt: skip
    endpoint, _secret = webhooks.add_endpoint(engine, "contoso", url=receiver.url, actor=STAFF, now=now)
    with Session(engine) as session:
        booking_ids = {ref: session.exec(select(Booking.id).where(Booking.ref == ref)).one() for ref in refs}
        business_id = session.exec(select(Business.id).where(Business.slug == "contoso")).one()
        assert business_id is not None and endpoint.id is not None
        for index in range(300):
            ref = refs[index % 3] if index < 60 else None
            enqueue_delivery(
                session,
                endpoint_id=endpoint.id,
                business_id=business_id,
                booking_id=booking_ids[ref] if ref else None,
                event_type="booking.rescheduled",
                payload=body("booking.rescheduled", now, {"n": index, "ref": ref}),
                now=now,
            )
        session.commit()
    receiver.pause = 0.002  # each answer takes a moment: the two workers overlap
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILFLOW_")}
    env.update(
        {
            "MAILFLOW_DATABASE_URL": postgres_url,
            "MAILFLOW_OUTBOUND_URL": "memory://",
            "MAILFLOW_DATA_DIR": str(tmp_path),
        }
    )
    workers = [
        subprocess.Popen([sys.executable, "-m", "mailflow", "run-once", "--json"], env=env, cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    outputs = [worker.communicate(timeout=180) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), outputs
    reports = [json.loads(out) for out, _ in outputs]
    assert sum(report["webhooks_delivered"] for report in reports) == 300

    counts = Counter(request.headers["webhook-id"] for request in receiver.requests)
    assert len(counts) == 300 and max(counts.values()) == 1
    arrived: dict[str, list[int]] = defaultdict(list)
    for request in receiver.requests:
        data = request.json()["data"]
        if data["ref"]:
            arrived[data["ref"]].append(data["n"])
    assert {ref: sorted(numbers) for ref, numbers in arrived.items()} == arrived  # each in order
    assert sorted(len(numbers) for numbers in arrived.values()) == [20, 20, 20]
    with Session(engine) as session:
        statuses = dict(
            session.exec(
                select(WebhookDelivery.status, func.count()).group_by(col(WebhookDelivery.status))
            ).all()
        )
    assert statuses == {"delivered": 300}
    engine.dispose()
