"""What the customer pages take from the wiring, as FastAPI dependencies.

``create_web_app`` puts one ``Wiring`` on ``app.state.wiring``, made from the
``WebParts`` it was given (``mailflow.parts``); the route
modules (``manage``, ``find``, ``book``) ask for it with ``Depends(wiring)``,
and for the time with ``Depends(clock)`` (tests set it through
``app.dependency_overrides[clock]``). The manage pages' own dependency,
``manage.managed_booking``, builds on these two. The admin and the API
(``mailflow.api``) read the time from the same ``clock``: one override sets it
for every route.

A dependency that refuses the request raises ``Answered`` with the page to
show; the handler ``create_web_app`` installs returns that page as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.responses import Response

from mailflow.parts import WithUseCases
from mailflow.web.security import RateLimiter

if TYPE_CHECKING:
    from mailflow.config import Settings
    from mailflow.parts import UseCases

__all__ = [
    "Answered",
    "Limits",
    "Wiring",
    "clock",
    "now",
    "wiring",
]


def now() -> datetime:
    """The current time (UTC): the one clock of every web module."""
    return datetime.now(UTC)


@dataclass
class Limits:
    """The abuse limits of the customer pages (per process)."""

    token_failures: RateLimiter
    bookings_per_ip: RateLimiter
    bookings_per_email: RateLimiter
    find_per_ip: RateLimiter
    find_per_email: RateLimiter
    messages_per_ip: RateLimiter

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            token_failures=RateLimiter(settings.token_failures_per_ip, 600),
            bookings_per_ip=RateLimiter(settings.bookings_per_ip_per_hour, 3600),
            bookings_per_email=RateLimiter(settings.bookings_per_email_per_day, 86400),
            find_per_ip=RateLimiter(settings.find_booking_per_ip_per_hour, 3600),
            find_per_email=RateLimiter(settings.find_booking_per_email_per_hour, 3600),
            # the contact form of the manage pages: as many as the bookings one address may make
            messages_per_ip=RateLimiter(settings.bookings_per_ip_per_hour, 3600),
        )


@dataclass(frozen=True)
class Wiring(WithUseCases):
    """What the customer pages and the admin use of the wired application."""

    use_cases: UseCases
    settings: Settings
    secret: str
    limits: Limits
    wake: Callable[[], None]
    """Tell the running worker (if any) that new mail was committed."""


class Answered(Exception):
    """A dependency's refusal: ``response`` (a 403, 404 or 429 page) is the answer."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def wiring(request: Request) -> Wiring:
    """The customer pages' wiring (set up by ``create_web_app``).

    ``async`` without awaiting anything, as ``clock``: FastAPI runs it inline
    instead of sending it to the thread pool (a hop per dependency on every request).
    """
    found: Wiring = request.app.state.wiring
    return found


async def clock() -> datetime:
    """The time a request happens at; tests override this dependency."""
    return now()
