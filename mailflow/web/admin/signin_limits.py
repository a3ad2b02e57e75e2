"""The sign-in's limits: growing waits counted before the password is checked, and the reset limits.

``SignInLimits.attempt`` counts an attempt per address and client, per client and per address
(``mailflow.ratelimit.Throttle``, moving windows of the ``limits`` package) in one atomic step
each, before the password is checked, so parallel guesses cannot slip through between a check
and a count. There is no fixed lockout: the wait grows with the attempts, guesses from other
clients do not hold up the owner's client, and a browser that signed in to the address before
(the ``mf_known`` cookie, an HMAC of the address under the secret key) is not counted in the
shared per-address window.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from mailflow.ratelimit import RateLimiter, Throttle

__all__ = [
    "KNOWN_COOKIE",
    "KNOWN_COOKIE_SECONDS",
    "SignInLimits",
    "known_browser",
    "known_browser_token",
]

# Growing waits, counted before the password is checked: (attempts, seconds), shortest first.
# Per address from one client: 5 a minute, 10 a quarter of an hour, 20 an hour. Per client
# (all addresses): 20 a minute, 60 a quarter of an hour, 200 a day. Per address from anywhere
# (guessing spread over many clients): 30 a quarter of an hour, which a browser that signed in
# to that address before does not count against (the ``mf_known`` cookie), so strangers cannot
# keep its owner out.
SIGN_IN_PER_ADDRESS_AND_CLIENT = ((5, 60), (10, 15 * 60), (20, 3600))
SIGN_IN_PER_CLIENT = ((20, 60), (60, 15 * 60), (200, 86400))
SIGN_IN_PER_ADDRESS = ((30, 15 * 60),)
KNOWN_COOKIE = "mf_known"
KNOWN_COOKIE_SECONDS = 180 * 86400
FORGOT_PER_IP = 10
FORGOT_PER_ADDRESS = 3


@dataclass(frozen=True)
class SignInLimits:
    """The sign-in and reset limits of one web app (``create_web_app`` puts them on ``app.state``)."""

    per_address_and_client: Throttle
    per_client: Throttle
    per_address: Throttle
    forgot_per_ip: RateLimiter
    forgot_per_address: RateLimiter

    @classmethod
    def new(cls) -> SignInLimits:
        return cls(
            per_address_and_client=Throttle(SIGN_IN_PER_ADDRESS_AND_CLIENT),
            per_client=Throttle(SIGN_IN_PER_CLIENT),
            per_address=Throttle(SIGN_IN_PER_ADDRESS),
            forgot_per_ip=RateLimiter(FORGOT_PER_IP, 3600),
            forgot_per_address=RateLimiter(FORGOT_PER_ADDRESS, 3600),
        )

    def attempt(self, address: str, client: str, *, known_browser: bool) -> float:
        """Count a sign-in attempt before its password is checked: 0 when it may be checked, else the
        seconds to wait. Counting first is atomic, so parallel attempts cannot all pass a check."""
        waits = [self.per_client.attempt(client)]
        if address:
            waits.append(self.per_address_and_client.attempt(f"{address}\x00{client}"))
            if not known_browser:
                waits.append(self.per_address.attempt(address))
        return max(waits)

    def succeeded(self, address: str, client: str) -> None:
        """The right password: the address's counts start again (the client's stay)."""
        self.per_address_and_client.clear(f"{address}\x00{client}")
        self.per_address.clear(address)


def known_browser_token(secret: str, address: str) -> str:
    """The ``mf_known`` cookie of a browser that signed in to ``address``: an HMAC under the secret key."""
    return hmac.new(secret.encode(), f"known-browser\x00{address}".encode(), hashlib.sha256).hexdigest()


def known_browser(secret: str, cookie: str, address: str) -> bool:
    """Whether ``cookie`` shows that this browser signed in to ``address`` before."""
    if not address or not cookie:
        return False
    return hmac.compare_digest(
        known_browser_token(secret, address).encode(), cookie.encode("utf-8", "replace")
    )
