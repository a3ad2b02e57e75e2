"""In-process sliding-window rate limits (web pages, inbound SMTP).

Enough for one process per host; behind several processes each counts its own.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds for each key."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._events: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _trim(self, key: str, now: float) -> deque[float]:
        events = self._events[key]
        while events and events[0] <= now - self.window:
            events.popleft()
        return events

    def blocked(self, key: str) -> bool:
        """Whether ``key`` has used up its events (without counting a new one)."""
        with self._lock:
            events = self._trim(key, time.monotonic())
            if not events:
                self._events.pop(key, None)
            return len(events) >= self.limit

    def hit(self, key: str) -> bool:
        """Count one event; False when it exceeds the limit."""
        with self._lock:
            events = self._trim(key, time.monotonic())
            if len(events) >= self.limit:
                return False
            events.append(time.monotonic())
            return True
