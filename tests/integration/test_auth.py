"""Staff sign-in on a real database: passwords, sessions, sign-out, expiry."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from mailflow import auth
from mailflow.errors import InvalidInput, NotFound
from mailflow.store.engine import read_session, write_session

PASSWORD = "a long passphrase"


def test_hashes_are_salted_and_only_the_password_matches() -> None:
    """Two hashes of one password differ; each verifies it and nothing else, malformed ones never."""
    first, second = auth.hash_password(PASSWORD), auth.hash_password(PASSWORD)
    assert first != second and first.startswith("scrypt$")
    assert auth.verify_password(PASSWORD, first) and auth.verify_password(PASSWORD, second)
    assert not auth.verify_password(PASSWORD + "x", first)
    for broken in ("", "scrypt$1$2", "bcrypt$x$y$z$a$b", first.replace("scrypt", "md5"), None):
        assert not auth.verify_password(PASSWORD, broken)


def test_sign_in_session_and_sign_out(demo_engine: Engine, now: datetime) -> None:
    """The right password opens a session that names the person; sign-out ends it."""
    with write_session(demo_engine) as session:
        staff, generated = auth.create_user(session, "contoso", "bob@contoso.example", password=PASSWORD)
        assert generated is None and staff.role == "staff"  # the demo's Bob keeps his role
    with write_session(demo_engine) as session:
        assert auth.sign_in(session, None, "bob@contoso.example", "wrong password", now) is None
        assert auth.sign_in(session, None, "nobody@contoso.example", PASSWORD, now) is None
        token = auth.sign_in(session, None, " Bob@Contoso.example ", PASSWORD, now)
    assert token
    with read_session(demo_engine) as session:
        who = auth.signed_in(session, token, now)
        assert who is not None and who.email == "bob@contoso.example" and not who.is_admin
        assert auth.signed_in(session, token + "x", now) is None
        assert auth.signed_in(session, token, now + auth.SESSION_LIFETIME) is None  # expired
    with write_session(demo_engine) as session:
        auth.end_session(session, token)
    with read_session(demo_engine) as session:
        assert auth.signed_in(session, token, now) is None


def test_a_new_password_ends_old_sessions_and_inactive_staff_are_out(
    demo_engine: Engine, now: datetime
) -> None:
    """--reset signs everyone out; a deactivated member's session stops working at once."""
    from mailflow.store.tables import Staff

    with write_session(demo_engine) as session:
        auth.create_user(session, "contoso", "carla@contoso.example", password=PASSWORD)
        token = auth.sign_in(session, None, "carla@contoso.example", PASSWORD, now)
    with write_session(demo_engine) as session, pytest.raises(InvalidInput, match="--reset"):
        auth.create_user(session, "contoso", "carla@contoso.example", password="another passphrase")
    with write_session(demo_engine) as session:
        auth.create_user(
            session, "contoso", "carla@contoso.example", password="another passphrase", reset=True
        )
    with read_session(demo_engine) as session:
        assert auth.signed_in(session, token, now) is None
    with write_session(demo_engine) as session:
        token = auth.sign_in(session, None, "carla@contoso.example", "another passphrase", now)
        carla = session.exec(select(Staff).where(Staff.email == "carla@contoso.example")).one()
        carla.active = False
        session.add(carla)
    with read_session(demo_engine) as session:
        assert auth.signed_in(session, token, now + timedelta(seconds=1)) is None


def test_new_users_and_bad_input(demo_engine: Engine) -> None:
    """A new address becomes a staff member of the business; bad role, address or business are refused."""
    with write_session(demo_engine) as session:
        staff, generated = auth.create_user(session, "contoso", "New@Contoso.example", role="admin")
        assert (
            staff.email == "new@contoso.example"
            and staff.role == "admin"
            and staff.timezone == "Europe/Berlin"
        )
        assert generated and auth.verify_password(generated, staff.password_hash)
        with pytest.raises(InvalidInput, match="unknown role"):
            auth.create_user(session, "contoso", "x@contoso.example", role="owner")
        with pytest.raises(InvalidInput, match="not an email address"):
            auth.create_user(session, "contoso", "no-at-sign")
        with pytest.raises(InvalidInput, match="at least"):
            auth.create_user(session, "contoso", "y@contoso.example", password="short")
        with pytest.raises(NotFound):
            auth.create_user(session, "nope", "z@contoso.example")
