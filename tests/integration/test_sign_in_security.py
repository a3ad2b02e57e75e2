"""Issue 16, item 7: sign-in as an attacker tried it, through HTTP on SQLite and PostgreSQL.

Attempts are counted before the password is checked (parallel guesses cannot slip past the
limit); no password is hashed while SQLite's write lock is held; strangers cannot lock an
owner out; old scrypt hashes verify and become Argon2; ``/admin/forgot`` does the same work
for every address; admin CSRF tokens are bound to the sign-in; invited admins hear nothing
before they accept; admin pages are never cached.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import update
from sqlmodel import select

from mailflow import auth
from mailflow.services import account_links
from mailflow.store.tables import Staff
from tests.integration.test_admin_pages import (
    ADMIN,
    BOB,
    CARLA,
    PASSWORD,
    Admin,
    csrf_of,
    invite,
    make_admin,
    site,
)

__all__ = ["make_admin", "site"]  # fixtures used here


def count_password_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every password check (the hash's work) made from now on."""
    seen: list[str] = []
    lock = threading.Lock()
    real = auth.verify_and_update

    def counted(password: str, stored: str | None) -> tuple[bool, str | None]:
        with lock:
            seen.append(password)
        return real(password, stored)

    monkeypatch.setattr(auth, "verify_and_update", counted)
    return seen


def test_parallel_guesses_check_no_more_passwords_than_the_limit(
    site: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forty guesses at once for one address from one client: at most five passwords are checked."""
    browsers = [site.browser("198.51.100.7") for _ in range(40)]
    tokens = [csrf_of(browser.get("/admin/sign-in")) for browser in browsers]
    checks = count_password_checks(monkeypatch)
    start = threading.Barrier(len(browsers))
    statuses: list[int] = []

    def guess(number: int) -> None:
        start.wait()
        form = {"csrf": tokens[number], "email": BOB, "password": f"guess {number}", "next": ""}
        statuses.append(browsers[number].post("/admin/sign-in", data=form).status_code)

    threads = [threading.Thread(target=guess, args=(number,)) for number in range(len(browsers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(checks) <= 5 and statuses.count(400) == len(checks)
    assert statuses.count(429) == len(browsers) - len(checks)


def test_strangers_cannot_lock_the_owner_out(site: Admin) -> None:
    """Guesses for Bob from many clients make them wait, not Bob's own browser that signed in before."""
    owner = site.sign_in(BOB, ip="192.0.2.1")  # Bob's browser: it has signed in to this address
    owner.post("/admin/sign-out", data={"csrf": csrf_of(owner.get("/admin/account"), "/admin/sign-out")})
    for client in range(8):  # 40 guesses from 8 clients: the address's shared limit (30) is spent
        stranger = site.browser(f"203.0.113.{client}")
        for _ in range(5):
            assert site.try_sign_in(stranger, BOB, "a wrong guess").status_code in (400, 429)
    assert site.try_sign_in(site.browser("203.0.113.99"), BOB, PASSWORD).status_code == 429
    assert site.try_sign_in(owner, BOB, PASSWORD).status_code == 303  # the owner is not kept out


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the write lock is SQLite's
def test_no_password_is_hashed_while_the_sqlite_write_lock_is_held(
    site: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every hash and check (sign-in, reset, new password) runs while another writer could write."""
    url = site.app.settings.database_url
    assert url.startswith("sqlite")
    path = url.removeprefix("sqlite:///")
    held: list[str] = []

    def check_lock(what: str) -> None:
        probe = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
        except sqlite3.OperationalError:
            held.append(what)
        finally:
            probe.close()

    def watched(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any) -> Any:
            check_lock(name)
            return real(*args)

        return wrapper

    monkeypatch.setattr(auth, "hash_password", watched("hash", auth.hash_password))
    monkeypatch.setattr(auth, "verify_and_update", watched("verify", auth.verify_and_update))
    site.execute(update(Staff).where(Staff.email == CARLA).values(password_hash=auth.scrypt_hash(PASSWORD)))
    site.sign_in(CARLA)  # verifies, then upgrades the scrypt hash
    site.try_sign_in(site.browser(), BOB, "wrong password")
    admin = site.sign_in(ADMIN)
    mark = site.mark()
    invite(site, admin, "dana@contoso.example")
    token = site.link_token(site.outbox_since(mark)[0], "welcome")
    page = site.browser()
    form = csrf_of(page.get(f"/admin/welcome/{token}"))
    new = "a new long passphrase"
    assert page.post(
        f"/admin/welcome/{token}", data={"csrf": form, "password": new, "confirm": new}
    ).is_redirect
    assert held == []


def test_an_old_scrypt_hash_signs_in_and_becomes_argon2(site: Admin) -> None:
    """A hash from before Argon2 still signs in over HTTP, and is replaced by an Argon2 one."""
    site.execute(update(Staff).where(Staff.email == BOB).values(password_hash=auth.scrypt_hash(PASSWORD)))
    assert site.try_sign_in(site.browser(), BOB, "not it at all").status_code == 400
    assert site.staff_row(BOB).password_hash.startswith("scrypt$")  # type: ignore[union-attr]
    site.sign_in(BOB)
    assert site.staff_row(BOB).password_hash.startswith("$argon2id$")  # type: ignore[union-attr]
    site.sign_in(BOB, ip="10.3.3.3")


async def post_and_watch(app: Any, path: str, form: dict[str, str], cookie: str, events: list[str]) -> None:
    """POST ``form`` to ``app`` as a raw ASGI call, noting in ``events`` when the answer is complete."""
    body = urlencode(form).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(body)).encode()),
            (b"cookie", f"mf_session={cookie}".encode()),
        ],
        "client": ("192.0.2.50", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    sent, answered = False, asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            events.append(f"status {message['status']}")
        if message["type"] == "http.response.body" and not message.get("more_body"):
            events.append("answered")
            answered.set()

    await app(scope, receive, send)


def test_forgot_does_the_same_work_for_known_and_unknown_addresses(
    site: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer is complete before the address is looked up, whether it exists or not."""
    events: list[str] = []
    real = account_links.request_password_reset

    def looked_up(*args: Any, **kwargs: Any) -> bool:
        events.append("lookup")
        return real(*args, **kwargs)

    monkeypatch.setattr(account_links, "request_password_reset", looked_up)
    mark = site.mark()
    for address in (BOB, "nobody@example.com"):
        browser = site.browser()
        token = csrf_of(browser.get("/admin/forgot"))
        events.clear()
        asyncio.run(
            post_and_watch(
                site.web,
                "/admin/forgot",
                {"csrf": token, "email": address},
                browser.cookies["mf_session"],
                events,
            )
        )
        assert events == ["status 200", "answered", "lookup"], address
    assert [row.recipient for row in site.outbox_since(mark)] == [BOB]


def test_a_planted_session_cookie_gives_the_planter_no_working_form_token(site: Admin) -> None:
    """Sign-in renews the browser session; a token made under the planter's sign-in is refused."""
    planter = site.sign_in(BOB)
    planted = planter.cookies["mf_session"]
    token = csrf_of(planter.get("/admin/account"), "/admin/account/notifications")
    domain = next(cookie.domain for cookie in planter.cookies.jar if cookie.name == "mf_session")
    victim = site.browser()
    victim.cookies.set("mf_session", planted, domain=domain)
    assert site.try_sign_in(victim, ADMIN, PASSWORD).status_code == 303
    assert victim.cookies["mf_session"] != planted  # renewed at sign-in
    victim.cookies.set("mf_session", planted, domain=domain)  # planted again, after the sign-in
    forged = victim.post("/admin/account/notifications", data={"csrf": token, "language": "de"})
    assert forged.status_code == 403
    own = csrf_of(victim.get("/admin/account"), "/admin/account/notifications")
    assert (
        victim.post("/admin/account/notifications", data={"csrf": own, "language": "de"}).status_code == 200
    )


def test_an_invited_admin_hears_nothing_before_accepting(site: Admin) -> None:
    """Booking news reaches an invited admin only once they chose a password."""
    admin = site.sign_in(ADMIN)
    mark = site.mark()
    invite(site, admin, "dana@contoso.example", role="admin")
    token = site.link_token(site.outbox_since(mark)[0], "welcome")
    mark = site.mark()
    site.book(10)
    assert "dana@contoso.example" not in {row.recipient for row in site.outbox_since(mark, "booking_created")}
    account_links.redeem_link(site.app.engine, token, "invite", "a long new passphrase", now=site.now)
    mark = site.mark()
    site.book(12)
    assert "dana@contoso.example" in {row.recipient for row in site.outbox_since(mark, "booking_created")}


def test_admin_pages_are_never_cached(site: Admin) -> None:
    """Every admin page, signed in or not, says Cache-Control: no-store."""
    admin = site.sign_in(ADMIN)
    for path in ("/admin/bookings", "/admin/account", "/admin/staff"):
        assert admin.get(path).headers["cache-control"] == "no-store", path
    for path in ("/admin/sign-in", "/admin/forgot"):
        assert site.browser().get(path).headers["cache-control"] == "no-store", path
    with site.db() as session:
        assert session.exec(select(Staff).where(Staff.email == ADMIN)).one().password_hash
