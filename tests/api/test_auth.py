"""API keys: bearer only, stored hashed, per business, revocable; every failure is 401 with a challenge."""

from __future__ import annotations

import hashlib
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from mailflow.api.keys import LAST_USED_RESOLUTION, authenticate, revoke_api_key
from mailflow.booking.model import Actor, ActorKind
from mailflow.store.tables import ApiKey
from tests.api.conftest import Api, add_business, make_app

TEST = Actor(ActorKind.STAFF, "test")
ENDPOINTS = [
    ("get", "/business"),
    ("patch", "/business"),
    ("get", "/services"),
    ("get", "/services/haircut"),
    ("patch", "/services/haircut"),
    ("get", "/staff"),
    ("get", "/customers"),
    ("get", "/customers/ada@example.com"),
    ("post", "/customers/ada@example.com/clear-bouncing"),
    ("post", "/bookings"),
    ("get", "/bookings"),
    ("get", "/bookings/BK-AAAAAA"),
    ("patch", "/bookings/BK-AAAAAA"),
    ("post", "/bookings/BK-AAAAAA/reschedule"),
    ("post", "/bookings/BK-AAAAAA/cancel"),
    ("get", "/bookings/BK-AAAAAA/outbox"),
    ("get", "/bookings/BK-AAAAAA/inbound"),
    ("get", "/slots?service=haircut&date=2030-01-01"),
    ("get", "/templates"),
    ("get", "/templates/confirmation/en"),
    ("post", "/templates/confirmation/en/validate"),
    ("post", "/templates/confirmation/en/preview"),
    ("post", "/templates/confirmation/en/versions"),
    ("get", "/outbox"),
    ("get", "/inbound"),
]


def test_every_endpoint_needs_a_key(sqlite_api: Api) -> None:
    """Without a key, with a wrong one, or another scheme: 401 with WWW-Authenticate: Bearer, nothing done."""
    client = sqlite_api.client
    wrong = "mf_" + "x" * 43
    refused = [
        {},
        {"Authorization": f"Bearer {wrong}"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"Authorization": "Bearer "},
        {"Authorization": f"Bearer {sqlite_api.key}x"},
    ]
    for method, path in ENDPOINTS:
        for headers in refused:
            response = client.request(method, f"/api/v1{path}", headers=headers, json={})
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer"), (method, path)


def test_key_is_stored_as_its_hash_with_a_prefix(sqlite_api: Api) -> None:
    """The database holds the SHA-256 and a short prefix, never the key."""
    with Session(sqlite_api.app.engine) as session:
        rows = session.exec(select(ApiKey)).all()
    assert len(rows) == 1
    (row,) = rows
    assert row.key_hash == hashlib.sha256(sqlite_api.key.encode()).hexdigest()
    assert sqlite_api.key.startswith(row.prefix) and len(row.prefix) < len(sqlite_api.key) // 3
    assert all(sqlite_api.key not in str(value) for value in row.model_dump().values())


def test_revoked_key_is_refused(api: Api) -> None:
    """After revocation the same key gets 401; another key of the business still works."""
    other = api.new_key("contoso", "spare")
    assert api.get("/business").status_code == 200
    revoke_api_key(api.app.engine, "contoso", api.key[:11], actor=TEST, now=api.now)
    response = api.get("/business")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert api.get("/business", key=other).status_code == 200


def test_key_of_another_business_sees_only_its_own(api: Api) -> None:
    """A booking of contoso is 404 for fabrikam's key, in every form; lists show none of it."""
    add_business(api.app, "fabrikam", api.now)
    theirs = api.new_key("fabrikam")
    booked = api.book()
    ref = booked["ref"]
    assert api.get(f"/bookings/{ref}", key=theirs).status_code == 404
    assert api.get(f"/bookings/{ref}/outbox", key=theirs).status_code == 404
    assert api.get(f"/outbox?booking={ref}", key=theirs).status_code == 404
    moved = {"start": booked["start"].replace("T10:", "T11:")}
    assert api.post(f"/bookings/{ref}/reschedule", moved, key=theirs).status_code == 404
    assert api.post(f"/bookings/{ref}/cancel", {"reason": "x"}, key=theirs).status_code == 404
    assert api.get("/bookings", key=theirs).json() == []
    assert api.get("/outbox", key=theirs).json() == []
    assert api.get("/customers", key=theirs).json() == []
    assert api.get("/services/haircut", key=theirs).status_code == 404
    assert [s["slug"] for s in api.get("/services", key=theirs).json()] == ["massage"]
    assert api.get("/business", key=theirs).json()["slug"] == "fabrikam"
    # contoso's booking is untouched
    assert api.get(f"/bookings/{ref}").json()["status"] == "confirmed"
    assert api.get(f"/bookings/{ref}").json()["start"] == booked["start"]


def test_last_used_is_recorded_at_most_every_few_minutes(api: Api) -> None:
    """The first use stamps last_used_at; uses within the resolution write nothing; later ones do."""

    def last_used() -> object:
        with Session(api.app.engine) as session:
            return session.exec(select(ApiKey.last_used_at)).one()

    assert last_used() is None
    assert authenticate(api.app.engine, api.key, api.now) is not None
    assert last_used() == api.now
    assert authenticate(api.app.engine, api.key, api.now + timedelta(minutes=1)) is not None
    assert last_used() == api.now
    later = api.now + LAST_USED_RESOLUTION + timedelta(seconds=1)
    assert authenticate(api.app.engine, api.key, later) is not None
    assert last_used() == later


@pytest.mark.parametrize("which", ["id", "prefix"])
def test_revoke_names_the_key_by_id_or_prefix(sqlite_api: Api, which: str) -> None:
    """Revoking by id or prefix revokes that key only; an unknown one is NotFound."""
    from mailflow.errors import NotFound

    with Session(sqlite_api.app.engine) as session:
        row = session.exec(select(ApiKey)).one()
    spare = sqlite_api.new_key("contoso")
    engine = sqlite_api.app.engine
    revoke_api_key(
        engine, "contoso", str(row.id) if which == "id" else row.prefix, actor=TEST, now=sqlite_api.now
    )
    with pytest.raises(NotFound):
        revoke_api_key(engine, "contoso", "mf_nothere", actor=TEST, now=sqlite_api.now)
    assert sqlite_api.get("/business").status_code == 401
    assert sqlite_api.get("/business", key=spare).status_code == 200


@pytest.mark.parametrize("which", ["99999999999", "²"])
def test_revoke_with_an_id_beyond_any_row_is_not_found(api: Api, which: str) -> None:
    """An id too large for an INTEGER column, or a digit int() cannot read, names no key: NotFound."""
    from mailflow.errors import NotFound

    with pytest.raises(NotFound):
        revoke_api_key(api.app.engine, "contoso", which, actor=TEST, now=api.now)
    assert api.get("/business").status_code == 200


def test_two_apps_in_one_process_each_answer_from_their_own_database(
    sqlite_api: Api, sqlite_template: Path, tmp_path: Path
) -> None:
    """The API's routes are built once per process and shared by every web application made
    there: each still answers from its own database, and knows only its own keys."""
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other_url = f"sqlite:///{other_dir / 'mailflow.db'}"
    shutil.copyfile(sqlite_template, other_dir / "mailflow.db")
    other_app = make_app(other_url, other_dir, sqlite_api.now)
    try:
        other = Api(other_app, sqlite_api.now, sqlite_api.day)
        renamed = other.patch("/business", {"name": "Contoso Nord"})
        assert renamed.status_code == 200, renamed.text
        assert other.get("/business").json()["name"] == "Contoso Nord"
        assert sqlite_api.get("/business").json()["name"] != "Contoso Nord"
        booked = other.book(11)
        assert other.get(f"/bookings/{booked['ref']}").status_code == 200
        assert sqlite_api.get(f"/bookings/{booked['ref']}").status_code == 404
        # A key is one database's: the other application refuses it.
        assert other.get("/business", key=sqlite_api.key).status_code == 401
        assert sqlite_api.get("/business", key=other.key).status_code == 401
    finally:
        other_app.close()
