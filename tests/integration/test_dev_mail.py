"""Issue 16, item 2: ``/dev/mail`` shows the maildir only when turned on, and beyond loopback
only to a signed-in admin (it holds password-reset links: reading one is taking the account)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mailflow.config import load_settings
from tests.integration.test_admin_pages import ADMIN, BOB, HTML, Admin, AdminFactory, ask_reset, make_admin

__all__ = ["make_admin"]  # the fixture used here

ROOT = Path(__file__).resolve().parents[2]


def maildir_site(make_admin: AdminFactory, tmp_path: Path, **env: str) -> Admin:
    return make_admin(MAILFLOW_OUTBOUND_URL=f"maildir://{tmp_path / 'outbox'}", **env)


def deliver_reset_of(site: Admin, address: str) -> str:
    """Ask for ``address``'s reset link as anyone could, deliver it to the maildir; the link's path."""
    ask_reset(site, address)
    assert asyncio.run(site.app.dispatcher.run_once(datetime.now(UTC))).sent == 1
    files = list((Path(site.app.settings.outbound_url.removeprefix("maildir://")) / "new").iterdir())
    found = re.search(rb"/admin/reset/[A-Za-z0-9_-]+", files[0].read_bytes().replace(b"=\r\n", b""))
    assert found is not None
    return found.group().decode()


def test_the_viewer_is_off_unless_turned_on(make_admin: AdminFactory, tmp_path: Path) -> None:
    """With the maildir transport (the default) but without MAILFLOW_DEV_MAIL there is no /dev/mail."""
    site = maildir_site(make_admin, tmp_path)
    assert load_settings({}).dev_mail is None  # off unless `serve --demo` turns it on
    for path in ("/dev/mail", "/dev/mail/anything", "/dev/mail/anything.eml"):
        assert site.browser().get(path).status_code == 404
    assert site.sign_in(ADMIN).get("/dev/mail").status_code == 404


def test_on_loopback_the_viewer_needs_no_sign_in(make_admin: AdminFactory, tmp_path: Path) -> None:
    """Turned on with the web bound to loopback (the embedded default), the viewer shows the mail."""
    site = maildir_site(make_admin, tmp_path, MAILFLOW_DEV_MAIL="1")
    deliver_reset_of(site, BOB)
    listing = site.browser().get("/dev/mail")
    assert listing.status_code == 200 and "admin_password_reset" in listing.text
    assert listing.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "exposure",
    [{"MAILFLOW_WEB_BIND": "0.0.0.0:8000"}, {"MAILFLOW_TRUSTED_PROXIES": "127.0.0.1"}],
    ids=["bound-to-all", "behind-a-proxy"],
)
def test_reachable_from_outside_only_a_signed_in_admin_reads_it(
    make_admin: AdminFactory, tmp_path: Path, exposure: dict[str, str]
) -> None:
    """The issue's attack fails: a stranger asks for the admin's reset link and cannot read it."""
    site = maildir_site(make_admin, tmp_path, MAILFLOW_DEV_MAIL="1", **exposure)
    link = deliver_reset_of(site, ADMIN)
    key = re.search(r"href='/dev/mail/([^']+)'", site.sign_in(ADMIN).get("/dev/mail").text)
    assert key is not None
    stranger = site.browser("203.0.113.9")
    for path in ("/dev/mail", f"/dev/mail/{key.group(1)}", f"/dev/mail/{key.group(1)}.eml"):
        answer = stranger.get(path)
        assert answer.status_code == 401 and link not in answer.text
        assert stranger.get(path, headers=HTML).headers["location"].startswith("/admin/sign-in")
        assert site.sign_in(BOB).get(path).status_code == 403  # staff, not an admin
        assert site.sign_in(ADMIN).get(path).status_code == 200
    assert link in site.sign_in(ADMIN).get(f"/dev/mail/{key.group(1)}.eml").text.replace("=\r\n", "")


def test_the_docker_image_keeps_the_viewer_off() -> None:
    """The image sets MAILFLOW_DEV_MAIL=0, so even `serve --demo` in a container does not turn it on."""
    assert re.search(r"^\s*MAILFLOW_DEV_MAIL=0\b", (ROOT / "Dockerfile").read_text(), re.M)
    assert "MAILFLOW_DEV_MAIL" not in (ROOT / "docker-compose.yml").read_text()


def test_serve_demo_turns_it_on_unless_told_otherwise(run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`serve --demo` builds the app with the viewer on, unless MAILFLOW_DEV_MAIL=0 says otherwise."""
    seen: list[bool | None] = []
    monkeypatch.setattr("mailflow.cli.serve.serve_app", lambda app, **_: seen.append(app.settings.dev_mail))
    run_cli("serve", "--demo", check=True)
    run_cli("serve", "--demo", env={"MAILFLOW_DEV_MAIL": "0"}, check=True)
    run_cli("serve", check=True)
    assert seen == [True, False, None]
