"""The inbound pipeline alone, in this process: CPU, statements and (under callgrind) instructions per reply.

    python bench/pipeline.py [--replies 300] [--warm 100] [--batch 16] [--callgrind]

``bench/inbound.py`` measures replies end to end, through SMTP, in real server
processes beside a client; its figures move with the host (on a shared two-core
machine by a third within the hour). This one stores the same mix of replies in
a database of 400 bookings and runs ``process_batch`` over them in this process:
``--warm`` replies first (templates compiled, rows cached), then ``--replies``
measured ones, ``--batch`` to a transaction. It prints the process's CPU time
and the SQL statements per measured reply.

``--callgrind`` runs the same under valgrind's callgrind (Debian's ``valgrind``)
and counts the instructions of the measured replies only. That count does not
move with the host, so two versions of the code compare on it: run both back to
back with the same arguments (the replies are the same for the same ``--seed``;
the free times offered follow the clock, so keep the runs minutes apart at most).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inbound import DOMAIN, build_replies, category_counts, collect_targets, create_bookings

from mailflow.bootstrap import build
from mailflow.config import load_settings
from mailflow.demo import seed_demo
from mailflow.inbound.process import process_batch
from mailflow.inbound.rules import RuleContext
from mailflow.services.inbound import our_addresses
from mailflow.services.inbound_store import Received, claim_received, store_many
from mailflow.store.migrate import upgrade

BOOKINGS = 400
UNDER_CALLGRIND = "MAILFLOW_BENCH_UNDER_CALLGRIND"  # set to callgrind_control's path in the run under it


def _callgrind(switch: str) -> None:
    """Turn callgrind's counting on or off for this process (when it runs under callgrind)."""
    control = os.environ.get(UNDER_CALLGRIND)
    if control:
        subprocess.run([control, "-i", switch, str(os.getpid())], check=True, capture_output=True)


def run(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="mailflow-bench-pipeline-") as tmp:
        settings = load_settings(
            environ={
                "MAILFLOW_DATA_DIR": tmp,
                "MAILFLOW_INBOUND_DOMAIN": DOMAIN,
                "MAILFLOW_OUTBOUND_URL": "memory://bench-pipeline",
            }
        )
        app = build(settings)
        try:
            now = datetime.now(UTC)
            upgrade(app.engine)
            seed_demo(app.engine, now)
            targets = collect_targets(app, create_bookings(app, now, BOOKINGS, rng))
            replies = build_replies(targets, args.warm + args.replies, rng, now)
            store_many(app.engine, [Received(r.raw, r.mail_from, r.rcpt) for r in replies], now)
            ids = claim_received(app.engine, now, len(replies))
            context = RuleContext(our_addresses=our_addresses(app.engine), inbound_domain=DOMAIN)

            def process(chunk: list[int]) -> None:
                for first in range(0, len(chunk), args.batch):
                    process_batch(app.mailroom, chunk[first : first + args.batch], now, context)

            process(ids[: args.warm])
            statements = 0

            def count(*_: object) -> None:
                nonlocal statements
                statements += 1

            event.listen(app.engine, "before_cursor_execute", count)
            _callgrind("on")
            began = time.process_time()
            process(ids[args.warm :])
            cpu = time.process_time() - began
            _callgrind("off")
            event.remove(app.engine, "before_cursor_execute", count)
        finally:
            app.close()
    measured = len(ids) - args.warm
    mix = ", ".join(f"{name} {n}" for name, n in category_counts(args.warm + args.replies).items())
    print(f"data: {BOOKINGS} bookings; {len(ids)} replies stored ({mix}), seed {args.seed}")
    print(
        f"pipeline in-process: {measured} replies after {args.warm}, {args.batch} to a transaction: "
        f"{cpu / measured * 1000:.3f} ms CPU per reply, {statements / measured:.2f} statements per reply"
    )


def run_under_callgrind(args: argparse.Namespace) -> None:
    valgrind, control = shutil.which("valgrind"), shutil.which("callgrind_control")
    if valgrind is None or control is None:
        sys.exit("--callgrind needs valgrind (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="mailflow-bench-callgrind-") as tmp:
        command = [
            valgrind,
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={tmp}/callgrind.out",
            sys.executable,
            __file__,
            f"--replies={args.replies}",
            f"--warm={args.warm}",
            f"--batch={args.batch}",
            f"--seed={args.seed}",
        ]
        done = subprocess.run(
            command, env={**os.environ, UNDER_CALLGRIND: control}, capture_output=True, text=True, check=False
        )
    print(done.stdout, end="")
    collected = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or collected is None:
        sys.exit(f"the run under callgrind failed ({done.returncode}):\n{done.stderr[-2000:]}")
    instructions = int(collected.group(1))
    print(
        f"callgrind: {instructions:,} instructions for the {args.replies} measured replies "
        f"({instructions / args.replies:,.0f} per reply; CPU times above are callgrind's, about 50x slower)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--replies", type=int, default=300, help="replies measured (default 300)")
    parser.add_argument("--warm", type=int, default=100, help="replies run first, unmeasured (default 100)")
    parser.add_argument("--batch", type=int, default=16, help="replies to a transaction (default 16)")
    parser.add_argument("--seed", type=int, default=2026, help="random seed of the bookings and replies")
    parser.add_argument("--callgrind", action="store_true", help="count instructions under callgrind")
    args = parser.parse_args()
    if not 10 <= args.replies <= 5000 or not 0 <= args.warm <= 5000 or not 1 <= args.batch <= 100:
        parser.error("--replies must be 10-5000, --warm 0-5000 and --batch 1-100")
    if args.callgrind:
        run_under_callgrind(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
