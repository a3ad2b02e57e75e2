"""The API documentation (/docs) in a real browser on a network without internet.

Every request to a host other than the live server is refused, as on a
business network cut off from the internet: Swagger UI must still render the
API's operations from the files mailflow serves, under its strict CSP.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from playwright.sync_api import Page, Route, expect

from tests.e2e.conftest import LiveServer


def test_docs_render_the_operations_with_no_internet(page: Page, live_server: LiveServer) -> None:
    """With every foreign host blocked, /docs shows the API's operations and the console has no CSP error."""
    local = urlsplit(live_server.base_url).netloc
    foreign: list[str] = []
    console: list[str] = []

    def only_local(route: Route) -> None:
        if urlsplit(route.request.url).netloc == local:
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort("internetdisconnected")

    page.route("**/*", only_local)
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))

    document = httpx.get(f"{live_server.base_url}/openapi.json", timeout=10).json()
    summary = document["paths"]["/api/v1/bookings/{ref}/cancel"]["post"]["summary"]

    page.goto("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text(document["info"]["title"])
    operation = page.locator(".opblock-post").filter(has_text="/api/v1/bookings/{ref}/cancel")
    expect(operation).to_be_visible()
    expect(operation.locator(".opblock-summary-description")).to_have_text(summary)
    operation.locator(".opblock-summary-control").click()  # open it: the parameters render too
    expect(operation.locator(".parameters-container")).to_contain_text("ref")

    assert foreign == []
    problems = [line for line in console if "Content Security Policy" in line or line.startswith("pageerror")]
    assert problems == [], console


def test_docs_ask_only_this_server_for_their_files(page: Page, live_server: LiveServer) -> None:
    """The page asks only this server for its script, styles and document (no CDN even tried)."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto("/docs")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    assert requested and all(url.startswith(f"{live_server.base_url}/") for url in requested), requested
    assert f"{live_server.base_url}/docs/assets/swagger-ui-bundle.js" in requested
    assert f"{live_server.base_url}/openapi.json" in requested


def test_docs_try_it_out_calls_this_server_with_a_key(page: Page, live_server: LiveServer) -> None:
    """The Authorize dialog takes an API key; "Try it out" gets the business from this server."""
    key = live_server.cli("admin", "api-key", "create", "--business", "contoso", "--label", "docs")["key"]
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))

    page.goto("/docs")
    page.locator(".swagger-ui .auth-wrapper .authorize").click()
    page.locator(".swagger-ui .modal-ux input:not([type=checkbox])").first.fill(key)
    page.locator(".swagger-ui .modal-ux .auth-btn-wrapper button.authorize").click()
    page.locator(".swagger-ui .modal-ux .close-modal").click()

    operation = page.locator(".opblock-get").filter(has_text="/api/v1/business").first
    operation.locator(".opblock-summary-control").click()
    operation.locator(".try-out__btn").click()
    operation.locator(".execute").click()
    expect(operation.locator(".live-responses-table tbody .response-col_status").first).to_have_text("200")
    expect(operation.locator(".live-responses-table .microlight").first).to_contain_text("contoso")
    assert [line for line in console if "Content Security Policy" in line] == []
