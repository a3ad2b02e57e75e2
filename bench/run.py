"""Run every benchmark and write docs/PERFORMANCE.md: each figure next to its goal and its in-run reference.

    python bench/run.py [--only slots,render,...] [--scale] [--out docs/PERFORMANCE.md]

Each benchmark runs as its own process with its defaults (``python bench/<name>.py``);
its whole output goes into the report, and the figures that matter are read
from it: the measured value, the goal from its issue, and the reference the
same run measured on this machine (a do-nothing SMTP sink, one MJML compile,
raw aiosmtplib, ``/healthz``). The report also names the machine and how fast
its CPU was during the run (a fixed pure-Python loop), because every figure
scales with it. The whole run takes about eight minutes on two cores.

``--scale`` adds ``bench/scale.py`` at 1,000,000 bookings (a throwaway
PostgreSQL cluster; another 10 to 20 minutes), which is left out by default.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 900  # seconds per benchmark


@dataclass
class Figure:
    what: str
    value: str
    goal: str
    reference: str
    met: bool | None  # None: no goal to judge


Reader = Callable[[str], list[Figure]]


def _find(pattern: str, text: str) -> re.Match[str] | None:
    return re.search(pattern, text, re.M)


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def read_slots(out: str) -> list[Figure]:
    figures = []
    for match in re.finditer(r"^(.+?): median ([\d.]+) ms, p95 ([\d.]+) ms", out, re.M):
        median = _num(match.group(2))
        figures.append(
            Figure(f"free slots: {match.group(1)}", f"median {median:.1f} ms", "< 20 ms", "", median < 20)
        )
    return figures


def read_render(out: str) -> list[Figure]:
    total = _find(r"complete email:\s+([\d.]+) ms\s+-> ([\d,]+) emails/s", out)
    compile_ = _find(r"one MJML compile of the template .*?: ([\d.]+) ms", out)
    if total is None:
        return []
    rate = _num(total.group(2))
    reference = f"one MJML compile {compile_.group(1)} ms" if compile_ else ""
    return [Figure("complete emails on one core", f"{rate:,.0f}/s", ">= 1,000/s", reference, rate >= 1000)]


def read_delivery(out: str) -> list[Figure]:
    raw = _find(r"raw aiosmtplib, one connection:\s+([\d,]+) msg/s", out)
    rate = _find(r"mailflow dispatcher:\s+([\d,]+) msg/s", out)
    share = _find(r"dispatcher / raw:\s+(\d+)%", out)
    if raw is None or rate is None or share is None:
        return []
    percent = int(share.group(1))
    return [
        Figure(
            "outbox dispatch to a local SMTP sink",
            f"{rate.group(1)} msg/s ({percent}% of raw)",
            ">= 60% of raw",
            f"raw aiosmtplib {raw.group(1)} msg/s",
            percent >= 60,
        )
    ]


def read_webhooks(out: str) -> list[Figure]:
    raw = _find(r"bare httpx loop, one client:\s+([\d,]+) req/s", out)
    rate = _find(r"mailflow webhook worker:\s+([\d,]+) req/s", out)
    share = _find(r"worker / bare loop:\s+(\d+)%", out)
    if raw is None or rate is None or share is None:
        return []
    percent = int(share.group(1))
    return [
        Figure(
            "webhook deliveries to a local receiver, one worker",
            f"{rate.group(1)} req/s ({percent}% of a bare httpx loop)",
            ">= 60% of the bare loop",
            f"bare httpx loop {raw.group(1)} req/s",
            percent >= 60,
        )
    ]


def read_web(out: str) -> list[Figure]:
    health = _find(r"^GET /healthz\s+\d+\s+\d+\s+[\d.]+\s+([\d.]+)\s+([\d.]+)\s+[\d.]+\s+\d+\s+([\d.]+)", out)
    reference = f"/healthz p50 {health.group(1)} ms, p99 {health.group(2)} ms" if health else ""
    figures = []
    pattern = r"^goal: (.+?) p99 < (\d+) ms at (\d+) req/s: (PASS|MISS) \((.+?)\)$"
    for match in re.finditer(pattern, out, re.M):
        what, limit, rate, verdict, measured = match.groups()
        figures.append(
            Figure(
                f"web: {what} at {rate} req/s", measured, f"p99 < {limit} ms", reference, verdict == "PASS"
            )
        )
    # Issue 20: the manage page costs the server at most twice what /healthz does.
    manage = _find(r"^GET /m/\{token\}\s+\d+\s+\d+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+\d+\s+([\d.]+)", out)
    if health and manage:
        page, bare = _num(manage.group(1)), _num(health.group(3))
        figures.append(
            Figure(
                "web: manage page, server CPU per request",
                f"{page:.2f} ms (x{page / bare:.2f} /healthz)",
                "<= 2x /healthz",
                f"/healthz {bare:.2f} ms",
                page <= 2 * bare,
            )
        )
    return figures


REPLIES_PER_SECOND, REPLIES_P99_MS, CPU_PER_REPLY_MS, ACCEPT_SHARE = 300.0, 250.0, 3.5, 0.30
"""Issue 20's goals for replies: end to end, each layout; server CPU per reply (split); SMTP accept."""


def read_inbound(out: str) -> list[Figure]:
    figures = []
    for section in re.split(r"^(?=--- )", out, flags=re.M)[1:]:
        layout = section.splitlines()[0].removeprefix("--- ").strip()
        sink = _find(r"raw sink \(aiosmtpd, 250 OK\):\s+\S+ accepted,\s+([\d.]+) msg/s", section)
        accept = _find(r"mailflow SMTP accept:\s+\S+ accepted,\s+([\d.]+) msg/s", section)
        done = _find(r"end to end \(250 -> done\):.*?([\d.]+) replies/s.*?p99 (\d+) ms", section)
        cpu = _find(r"server CPU \(all its processes\): [\d.]+ s, ([\d.]+) ms per reply", section)
        reference = f"do-nothing aiosmtpd sink {sink.group(1)} msg/s" if sink else ""
        if done:
            rate, p99 = _num(done.group(1)), _num(done.group(2))
            figures.append(
                Figure(
                    f"replies end to end, {layout}",
                    f"{rate:.1f}/s, p99 {p99:.0f} ms",
                    f">= {REPLIES_PER_SECOND:.0f}/s, p99 < {REPLIES_P99_MS:.0f} ms",
                    reference,
                    rate >= REPLIES_PER_SECOND and p99 < REPLIES_P99_MS,
                )
            )
        if cpu and layout.startswith("split"):
            per_reply = _num(cpu.group(1))
            figures.append(
                Figure(
                    f"server CPU per reply, {layout}",
                    f"{per_reply:.1f} ms",
                    f"<= {CPU_PER_REPLY_MS} ms",
                    "SMTP + pipeline + dispatch to memory://",
                    per_reply <= CPU_PER_REPLY_MS,
                )
            )
        if sink and accept:
            share = _num(accept.group(1)) / max(_num(sink.group(1)), 1e-9)
            figures.append(
                Figure(
                    f"inbound SMTP accept (stored before 250), {layout}",
                    f"{_num(accept.group(1)):.1f} msg/s ({share:.0%} of the sink)",
                    f">= {ACCEPT_SHARE:.0%} of the sink",
                    reference,
                    share >= ACCEPT_SHARE,
                )
            )
    return figures


SWEEP_PER_SECOND, TWO_WORKERS_GAIN = 1000.0, 1.6
"""Issue 20's goals for the reminder sweep at 1,000,000 bookings: one worker, and two against one."""


def read_scale(out: str) -> list[Figure]:
    figures = []
    pattern = (
        r"^scale (\w+) (\d+) worker\(s\): wall x([\d.]+), PostgreSQL CPU x([\d.]+) "
        r"\(([\d,]+) -> ([\d,]+) bookings\)"
    )
    large = ""
    for match in re.finditer(pattern, out, re.M):
        phase, workers, wall, db, small, large = match.groups()
        line = rf"^\s*{large} bookings\s+{phase}\s+{workers} workers?\s+"
        result = _find(line + r".*?([\d,]+) items/s\s+([\d.]+) ms/item wall", out)
        rate = f"{result.group(1)}/s, {result.group(2)} ms/item; " if result else ""
        what = "reminder sweep" if phase == "sweep" else "outbox dispatch (memory://)"
        figures.append(
            Figure(
                f"{what}, {workers} worker(s), {large} bookings",
                f"{rate}per item x{wall} wall, x{db} PostgreSQL CPU",
                "per item flat: wall <= x1.5 the cost at " + small,
                f"same run at {small} bookings",
                _num(wall) <= 1.5,
            )
        )
    rates = {}
    for workers in ("1", "2"):
        found = _find(rf"^\s*{large} bookings\s+sweep\s+{workers} workers?\s+.*?([\d,]+) items/s", out)
        if large and found:
            rates[workers] = _num(found.group(1))
    if "1" in rates:
        figures.append(
            Figure(
                f"reminder sweep, one worker, {large} bookings",
                f"{rates['1']:,.0f}/s",
                f">= {SWEEP_PER_SECOND:,.0f}/s",
                "",
                rates["1"] >= SWEEP_PER_SECOND,
            )
        )
    if "1" in rates and "2" in rates:
        gain = rates["2"] / max(rates["1"], 1e-9)
        figures.append(
            Figure(
                f"reminder sweep, two workers against one, {large} bookings",
                f"x{gain:.2f} ({rates['2']:,.0f}/s)",
                f">= x{TWO_WORKERS_GAIN}",
                f"one worker {rates['1']:,.0f}/s",
                gain >= TWO_WORKERS_GAIN,
            )
        )
    return figures


BENCHMARKS: dict[str, Reader] = {
    "slots": read_slots,
    "render": read_render,
    "delivery": read_delivery,
    "webhooks": read_webhooks,
    "web": read_web,
    "inbound": read_inbound,
}
# Long benchmarks run only when asked for (--scale): name -> (reader, arguments, timeout in seconds).
OPT_IN: dict[str, tuple[Reader, list[str], int]] = {
    "scale": (read_scale, ["--bookings", "1000000"], 3 * 3600),
}


def reader(name: str) -> Reader:
    return OPT_IN[name][0] if name in OPT_IN else BENCHMARKS[name]


def cpu_reference() -> float:
    """Seconds of CPU for ten million additions in a Python loop (about 0.4 s on a typical 2024 core)."""
    started = time.process_time()
    total = 0
    for number in range(10_000_000):
        total += number
    return time.process_time() - started


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    name = model or platform.processor() or platform.machine()
    return f"{cpus} CPUs ({name}), Python {platform.python_version()}"


def run(name: str) -> tuple[str, float, int, float]:
    speed = cpu_reference()  # the machine's speed can change from one benchmark to the next
    started = time.perf_counter()
    arguments, timeout = (OPT_IN[name][1], OPT_IN[name][2]) if name in OPT_IN else ([], TIMEOUT)
    try:
        done = subprocess.run(
            [sys.executable, str(ROOT / "bench" / f"{name}.py"), *arguments],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            check=False,
        )
        output, code = (
            done.stdout + (f"\n[stderr]\n{done.stderr[-3000:]}" if done.returncode else ""),
            done.returncode,
        )
    except subprocess.TimeoutExpired as exc:
        partial = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        output, code = f"{partial}\n[timed out after {timeout} s]", -1
    return output, time.perf_counter() - started, code, speed


def report(results: dict[str, tuple[str, float, int, float]], before: float, after: float) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Performance",
        "",
        f"Written by `python bench/run.py` on {when}: {machine()}.",
        f"CPU speed during the run: 10 M Python additions took {before:.2f} s of CPU before the",
        f"benchmarks and {after:.2f} s after (about 0.4 s on a typical core); figures scale with it.",
        "",
        "The last column is that loop's time measured just before each benchmark.",
        "",
        "| benchmark | figure | goal | in-run reference | met | CPU loop |",
        "|---|---|---|---|---|---|",
    ]
    for name, (output, _seconds, code, speed) in results.items():
        figures = reader(name)(output)
        if not figures:
            lines.append(f"| {name} | (no figure: exit {code}, see its output) | | | no | {speed:.2f} s |")
        for figure in figures:
            met = "—" if figure.met is None else ("yes" if figure.met else "**no**")
            cells = [figure.what, figure.value, figure.goal, figure.reference, met, f"{speed:.2f} s"]
            lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Reproduce one: `python bench/<name>.py` (its docstring says what it measures and how).",
        "",
    ]
    for name, (output, seconds, code, _speed) in results.items():
        lines += [f"## {name} ({seconds:.0f} s, exit {code})", "", "```", output.rstrip(), "```", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated: " + ",".join(BENCHMARKS))
    parser.add_argument(
        "--scale", action="store_true", help="also run bench/scale.py at 1,000,000 bookings (long)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "PERFORMANCE.md")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()] or list(BENCHMARKS)
    if args.scale and "scale" not in chosen:
        chosen.append("scale")
    known = [*BENCHMARKS, *OPT_IN]
    unknown = [name for name in chosen if name not in known]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(known)}")
    before = cpu_reference()
    results = {}
    for name in chosen:
        print(f"== {name}", flush=True)
        results[name] = run(name)
        print(results[name][0], flush=True)
    after = cpu_reference()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(results, before, after))
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
