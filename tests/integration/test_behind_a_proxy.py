"""Issue 16, item 8: whose ``X-Forwarded-For`` counts (``MAILFLOW_TRUSTED_PROXIES``, default none),
through HTTP: rotating the header no longer escapes the per-client limits, and behind a trusted
proxy each real client is counted on its own."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from mailflow.runtime import web_server_config
from tests.integration.test_admin_pages import AdminFactory, make_admin

__all__ = ["make_admin"]  # the fixture used here

LIMITED = {"MAILFLOW_TOKEN_FAILURES_PER_IP": "3"}


def lookups(client: TestClient, forwarded: list[str]) -> list[int]:
    """GET an unknown manage link once per ``X-Forwarded-For`` value; the status codes."""
    return [
        client.get("/m/" + "x" * 43, headers={"x-forwarded-for": value}).status_code for value in forwarded
    ]


def test_forwarded_for_from_loopback_is_not_believed_by_default(make_admin: AdminFactory) -> None:
    """Without trusted proxies, a client on 127.0.0.1 rotating X-Forwarded-For is still one client."""
    site = make_admin(**LIMITED)
    rotating = [f"198.51.100.{number}" for number in range(6)]
    assert lookups(site.browser("127.0.0.1"), rotating) == [404, 404, 404, 429, 429, 429]
    assert lookups(site.browser("127.0.0.2"), ["198.51.100.1"]) == [404]  # another client is not blocked


def test_behind_a_trusted_proxy_each_client_counts_on_its_own(make_admin: AdminFactory) -> None:
    """The proxy's X-Forwarded-For names the client; a value the client put in front does not help."""
    site = make_admin(MAILFLOW_TRUSTED_PROXIES="10.0.0.0/8", **LIMITED)
    proxy = site.browser("10.0.0.5")
    assert lookups(proxy, [f"198.51.100.{number}" for number in range(6)]) == [404] * 6
    # One client, whatever it writes in the header itself: the proxy appends the address it saw.
    spoofing = [f"203.0.113.{number}, 192.0.2.77" for number in range(5)]
    assert lookups(proxy, spoofing) == [404, 404, 404, 429, 429]
    # Someone outside the trusted networks cannot pose as others either.
    assert lookups(site.browser("192.0.2.200"), [f"198.51.100.{n}" for n in range(4)]) == [404] * 3 + [429]


def test_forwarded_proto_counts_only_from_a_trusted_proxy(make_admin: AdminFactory) -> None:
    """X-Forwarded-Proto: https from the proxy marks the session cookie Secure; from others it does not."""
    site = make_admin(MAILFLOW_TRUSTED_PROXIES="10.0.0.5")
    https = {"x-forwarded-proto": "https", "x-forwarded-for": "198.51.100.9"}
    via_proxy = site.browser("10.0.0.5").get("/admin/sign-in", headers=https)
    assert "; secure" in via_proxy.headers["set-cookie"].lower()
    direct = site.browser("192.0.2.9").get("/admin/sign-in", headers=https)
    assert "; secure" not in direct.headers["set-cookie"].lower()


def test_uvicorn_does_not_apply_forwarded_headers_itself() -> None:
    """The web server's own proxy-header handling (which trusts 127.0.0.1) is off."""

    async def app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover - never called
        raise AssertionError

    config = web_server_config(app, "127.0.0.1:8000")
    config.load()
    assert config.proxy_headers is False
    assert type(config.loaded_app).__name__ != "ProxyHeadersMiddleware"
