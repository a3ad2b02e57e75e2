"""In-process rate limits (web pages, sign-in, inbound SMTP), on the ``limits`` package.

``RateLimiter`` is a moving window: at most ``limit`` events per ``window``
seconds for each key, counted and checked in one atomic step (``hit``).
``Throttle`` stacks several windows on one key, each longer and more generous
than the last, so the wait grows with the number of attempts (a minute, then a
quarter of an hour, …) instead of one fixed lockout.

Memory is bounded by time: a key's events expire with its window, and a key
with none left is forgotten (``forget_idle``, run now and then by ``hit``), so
keys made of what a visitor types (email addresses) cannot pile up. That pass
replaces the storage's own expiry timer (see ``_Storage``).

Enough for one process per host; behind several processes each counts its own.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

__all__ = ["RateLimiter", "Throttle"]

SWEEP_EVERY = 512  # hits between two passes that forget idle keys


class _Storage(MemoryStorage):
    """``limits``' in-memory storage without its expiry timer.

    ``MemoryStorage`` arms a ``threading.Timer`` on every hit that finds the last one run
    out (10 ms): under load a new thread every 10 ms, and each start blocks the caller (the
    event loop, at every SMTP ``MAIL FROM``) until the thread runs, 0.8 ms a hit in
    bench/inbound.py. The moving window does not need it (a hit compares with the entry
    ``limit`` back, a count looks at the times), and ``forget_idle`` drops what expired.
    """

    def _MemoryStorage__schedule_expiry(self) -> None:
        return None


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds for each key (a moving window)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._item = RateLimitItemPerSecond(limit, max(1, math.ceil(window)))
        self._storage = _Storage()
        self._strategy = MovingWindowRateLimiter(self._storage)
        self._hits = 0
        self._count_lock = threading.Lock()

    def blocked(self, key: str) -> bool:
        """Whether ``key`` has used up its events (without counting a new one)."""
        return not self._strategy.test(self._item, key)

    def hit(self, key: str) -> bool:
        """Count one event for ``key`` if the limit allows it (atomically); False when over the limit."""
        with self._count_lock:
            self._hits += 1
            sweep = self._hits % SWEEP_EVERY == 0
        if sweep:
            self.forget_idle()
        return self._strategy.hit(self._item, key)

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may have one more event (0 when it may now)."""
        stats = self._strategy.get_window_stats(self._item, key)
        return 0.0 if stats.remaining > 0 else max(0.0, stats.reset_time - time.time())

    def clear(self, key: str) -> None:
        """Forget every event of ``key`` (a success ends the count of failures)."""
        self._strategy.clear(self._item, key)

    def keys(self) -> int:
        """How many keys are held in memory (for tests and metrics)."""
        return len(self._storage.events)

    def forget_idle(self, now: float | None = None) -> int:
        """Drop the expired events of every key and the keys left without any; how many keys went."""
        at = time.time() if now is None else now
        gone = 0
        events = self._storage.events
        for key in list(events):
            with self._storage.locks[key]:
                kept = [entry for entry in events.get(key, []) if entry.expiry > at]
                if kept:
                    events[key] = kept
                    continue
                events.pop(key, None)
            self._storage.locks.pop(key, None)
            gone += 1
        return gone


class Throttle:
    """Growing waits for one kind of key: several moving windows, each checked and counted.

    ``tiers`` are ``(events, seconds)`` pairs, shortest first, e.g. ``[(5, 60), (10, 900)]``:
    five attempts a minute, ten a quarter of an hour. An attempt is counted before it is
    judged (``attempt``), so parallel attempts cannot slip through between a check and a count.
    """

    def __init__(self, tiers: Sequence[tuple[int, float]]) -> None:
        self.tiers = [RateLimiter(events, seconds) for events, seconds in tiers]

    def attempt(self, key: str) -> float:
        """Count an attempt for ``key``: 0 when it may go ahead, else the seconds to wait."""
        for tier in self.tiers:
            if not tier.hit(key):
                return max(1.0, tier.retry_after(key))
        return 0.0

    def clear(self, key: str) -> None:
        for tier in self.tiers:
            tier.clear(key)
