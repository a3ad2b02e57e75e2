"""No exception escapes the pipeline: random bytes and mutated real replies end as recorded rows."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from mailflow.bootstrap import build
from mailflow.config import load_settings
from mailflow.demo import seed_demo
from mailflow.inbound.process import process_one, store_raw
from mailflow.store.engine import make_engine
from mailflow.store.migrate import upgrade
from mailflow.store.tables import InboundMessage

REPLY = (
    b"From: Max <max@example.de>\r\nTo: reply+0123456789abcdef01234567@mailflow.localhost\r\n"
    b"Subject: AW: Ihr Termin\r\nMessage-ID: <m@example.de>\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: multipart/alternative; boundary=b\r\n\r\n"
    b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Stornieren\r\n\r\nAm Montag schrieb Contoso:\r\n> Ihr Termin\r\n--b\r\nContent-Type: text/html\r\n\r\n"
    b"<p>Stornieren</p><blockquote type=cite>Ihr Termin</blockquote>\r\n--b--\r\n"
)


def test_random_and_mutated_messages_never_escape(tmp_path: Path, now: datetime) -> None:
    """Whatever arrives is stored, processed to done (or error with its bytes), never raised."""
    url = f"sqlite:///{tmp_path / 'fuzz.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    app = build(load_settings({"MAILFLOW_DATABASE_URL": url, "MAILFLOW_DATA_DIR": str(tmp_path),
                               "MAILFLOW_OUTBOUND_URL": "memory://fuzz"}))  # fmt: skip
    seed_demo(app.engine, now)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        st.one_of(
            st.binary(max_size=2000),
            st.tuples(st.integers(0, len(REPLY) - 1), st.binary(min_size=1, max_size=20)).map(
                lambda cut: REPLY[: cut[0]] + cut[1] + REPLY[cut[0] + len(cut[1]) :]
            ),
        )
    )
    def run(raw: bytes) -> None:
        row_id = store_raw(app.engine, raw, envelope_from="", envelope_rcpt="", now=now)
        outcome = process_one(app.mailroom, row_id, now)
        with Session(app.engine) as session:
            row = session.get_one(InboundMessage, row_id)
        assert row.status in {"done", "error"} and row.raw == raw
        assert outcome.verdicts

    run()
    app.close()
