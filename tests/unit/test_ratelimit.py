"""The rate limits (``limits`` moving windows): atomic counts, growing waits, bounded memory."""

from __future__ import annotations

import threading
import time

from mailflow.ratelimit import RateLimiter, Throttle


def test_parallel_hits_never_pass_the_limit() -> None:
    """Forty threads hitting one key at once: exactly the limit's number get through."""
    limiter = RateLimiter(5, 600)
    passed: list[bool] = []
    start = threading.Barrier(40)

    def one() -> None:
        start.wait()
        passed.append(limiter.hit("admin@example.com"))

    threads = [threading.Thread(target=one) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert passed.count(True) == 5 and limiter.blocked("admin@example.com")


def test_keys_typed_by_visitors_are_forgotten_once_their_window_is_over() -> None:
    """A key per made-up address no longer stays in memory forever: idle keys are dropped."""
    limiter = RateLimiter(3, 3600)
    for number in range(2000):
        limiter.hit(f"made-up-{number}@example.com")
    assert limiter.keys() == 2000
    assert limiter.forget_idle(time.time() + 1800) == 0  # still inside their window: kept
    assert limiter.forget_idle(time.time() + 3601) == 2000 and limiter.keys() == 0


def test_a_throttle_makes_the_wait_grow_and_a_success_clears_it() -> None:
    """Past the first tier the wait is about its window; the next tier's is longer; clear resets."""
    throttle = Throttle([(2, 60), (3, 900)])
    assert [throttle.attempt("k") for _ in range(2)] == [0.0, 0.0]
    assert 1 <= throttle.attempt("k") <= 60
    throttle.tiers[0].clear("k")  # as if the minute had passed
    assert throttle.attempt("k") == 0.0
    throttle.tiers[0].clear("k")
    assert 60 < throttle.attempt("k") <= 900  # the quarter-hour tier now decides
    throttle.clear("k")
    assert throttle.attempt("k") == 0.0


def _timers() -> int:
    return sum(isinstance(thread, threading.Timer) for thread in threading.enumerate())


def test_hits_start_no_thread() -> None:
    """limits' memory storage armed a timer thread at every hit that found the last one run out
    (each start blocking the event loop); the window works without it."""
    limiter = RateLimiter(1000, 60)
    time.sleep(0.05)  # the storage's one timer, armed when it is made, has run out
    baseline = _timers()
    for number in range(30):
        assert limiter.hit("127.0.0.1")
        if number % 10 == 0:
            time.sleep(0.02)  # longer than the storage's 10 ms timer
        assert _timers() == baseline
    assert [len(events) for events in limiter._storage.events.values()] == [30]


def test_a_window_frees_its_events_without_the_timer_and_forget_idle_trims_them() -> None:
    limiter = RateLimiter(2, 1)
    assert limiter.hit("k") and limiter.hit("k") and not limiter.hit("k")
    time.sleep(1.1)
    assert limiter.hit("k")  # the first two are older than the window
    limiter.forget_idle()
    assert [len(events) for events in limiter._storage.events.values()] == [1]  # the two expired ones went
