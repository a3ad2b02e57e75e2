"""``mailflow admin api-key create|list|revoke``: the key is printed once, stored hashed, and works."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from mailflow.bootstrap import build
from mailflow.config import load_settings
from mailflow.store.tables import ApiKey
from mailflow.web.app import create_web_app


def test_api_key_create_prints_the_key_once_and_it_works(run_cli: Any, tmp_path: Path) -> None:
    """create prints {"key": …}; the database keeps its hash; list never shows it; revoke ends it."""
    run_cli("db", "upgrade", check=True)
    run_cli("demo", check=True)

    label = ("--label", "booking site")
    created = run_cli("admin", "api-key", "create", "--business", "contoso", *label, "--json", check=True)
    data = json.loads(created.stdout)
    key = data["key"]
    assert key.startswith("mf_") and data["label"] == "booking site" and key.startswith(data["prefix"])
    assert created.stderr == ""

    app = build(
        load_settings({"MAILFLOW_DATA_DIR": str(tmp_path / "data"), "MAILFLOW_OUTBOUND_URL": "memory://"})
    )
    try:
        with Session(app.engine) as session:
            (row,) = session.exec(select(ApiKey)).all()
        assert row.key_hash == hashlib.sha256(key.encode()).hexdigest() and row.created_by == "cli"
        assert key not in json.dumps(row.model_dump(mode="json"))

        listed = run_cli("admin", "api-key", "list", "--business", "contoso", "--json", check=True)
        assert key not in listed.stdout
        (entry,) = json.loads(listed.stdout)
        assert entry["prefix"] == data["prefix"] and entry["revoked_at"] is None

        client = TestClient(create_web_app(app.web))
        headers = {"Authorization": f"Bearer {key}"}
        assert client.get("/api/v1/business", headers=headers).json()["slug"] == "contoso"

        revoked = run_cli("admin", "api-key", "revoke", data["prefix"], "--business", "contoso", check=True)
        assert "revoked" in revoked.stdout
        assert client.get("/api/v1/business", headers=headers).status_code == 401
        human = run_cli("admin", "api-key", "list", "--business", "contoso", check=True).stdout
        assert data["prefix"] in human and "REVOKED" in human and "last used" in human
    finally:
        app.close()


def test_api_key_create_without_json_still_prints_the_key_and_warns(run_cli: Any) -> None:
    """Scripts read the key from stdout either way; the once-only reminder goes to stderr."""
    run_cli("db", "upgrade", check=True)
    run_cli("demo", check=True)
    created = run_cli("admin", "api-key", "create", "--business", "contoso", check=True)
    assert json.loads(created.stdout)["key"].startswith("mf_")
    assert "shown only once" in created.stderr


def test_api_key_create_for_an_unknown_business_fails_cleanly(run_cli: Any) -> None:
    """One line on stderr, exit code 4 (not found), no key, no traceback."""
    run_cli("db", "upgrade", check=True)
    failed = run_cli("admin", "api-key", "create", "--business", "nowhere", "--json")
    assert failed.returncode == 4 and failed.stdout == ""
    assert failed.stderr.strip() == "mailflow: error: business 'nowhere' not found"
