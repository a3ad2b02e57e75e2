"""Staff sign-in on a real database: passwords, sessions, sign-out, expiry."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from mailflow import auth
from mailflow.booking.model import Actor, ActorKind
from mailflow.errors import InvalidInput, NotFound
from mailflow.services import accounts, sessions
from mailflow.store.engine import read_session, write_session

PASSWORD = "a long passphrase"
CLI = Actor(ActorKind.STAFF, "cli")


def test_hashes_are_salted_and_only_the_password_matches() -> None:
    """Two hashes of one password differ; each verifies it and nothing else, malformed ones never."""
    first, second = auth.hash_password(PASSWORD), auth.hash_password(PASSWORD)
    assert first != second and first.startswith("$argon2id$")
    assert auth.verify_password(PASSWORD, first) and auth.verify_password(PASSWORD, second)
    assert not auth.verify_password(PASSWORD + "x", first)
    broken_ones = ("", "scrypt$1$2", "bcrypt$x$y$z$a$b", first.replace("argon2id", "md5"), first[:-5], None)
    for broken in broken_ones:
        assert not auth.verify_password(PASSWORD, broken)


def test_sign_in_session_and_sign_out(demo_engine: Engine, now: datetime) -> None:
    """The right password opens a session that names the person; sign-out ends it."""
    user = accounts.create_user(
        demo_engine, "contoso", "bob@contoso.example", password=PASSWORD, actor=CLI, now=now
    )
    assert user.password is None and user.role == "staff"  # the demo's Bob keeps his role
    assert sessions.sign_in(demo_engine, "bob@contoso.example", "wrong password", now=now) is None
    assert sessions.sign_in(demo_engine, "nobody@contoso.example", PASSWORD, now=now) is None
    token = sessions.sign_in(demo_engine, " Bob@Contoso.example ", PASSWORD, now=now)
    assert token
    who = sessions.signed_in(demo_engine, token, now)
    assert who is not None and who.email == "bob@contoso.example" and not who.is_admin
    assert sessions.signed_in(demo_engine, token + "x", now) is None
    assert sessions.signed_in(demo_engine, token, now + auth.SESSION_LIFETIME) is None  # expired
    sessions.end_session(demo_engine, token)
    assert sessions.signed_in(demo_engine, token, now) is None


def test_a_new_password_ends_old_sessions_and_inactive_staff_are_out(
    demo_engine: Engine, now: datetime
) -> None:
    """--reset signs everyone out; a deactivated member's session stops working at once."""
    from mailflow.store.tables import Staff

    carla = "carla@contoso.example"
    accounts.create_user(demo_engine, "contoso", carla, password=PASSWORD, actor=CLI, now=now)
    token = sessions.sign_in(demo_engine, carla, PASSWORD, now=now)
    with pytest.raises(InvalidInput, match="--reset"):
        accounts.create_user(demo_engine, "contoso", carla, password="another passphrase", actor=CLI, now=now)
    accounts.create_user(
        demo_engine, "contoso", carla, password="another passphrase", reset=True, actor=CLI, now=now
    )
    assert sessions.signed_in(demo_engine, token, now) is None
    token = sessions.sign_in(demo_engine, carla, "another passphrase", now=now)
    with write_session(demo_engine) as session:
        row = session.exec(select(Staff).where(Staff.email == carla)).one()
        row.active = False
        session.add(row)
    assert sessions.signed_in(demo_engine, token, now + timedelta(seconds=1)) is None


def test_new_users_and_bad_input(demo_engine: Engine, now: datetime) -> None:
    """A new address becomes a staff member of the business; bad role, address or business are refused."""
    from mailflow.store.tables import Staff

    user = accounts.create_user(
        demo_engine, "contoso", "New@Contoso.example", role="admin", actor=CLI, now=now
    )
    with read_session(demo_engine) as session:
        staff = session.get_one(Staff, user.staff_id)
    assert (
        staff.email == "new@contoso.example" and staff.role == "admin" and staff.timezone == "Europe/Berlin"
    )
    assert user.password and auth.verify_password(user.password, staff.password_hash)
    with pytest.raises(InvalidInput, match="unknown role"):
        accounts.create_user(demo_engine, "contoso", "x@contoso.example", role="owner", actor=CLI, now=now)
    with pytest.raises(InvalidInput, match="not an email address"):
        accounts.create_user(demo_engine, "contoso", "no-at-sign", actor=CLI, now=now)
    with pytest.raises(InvalidInput, match="at least"):
        accounts.create_user(
            demo_engine, "contoso", "y@contoso.example", password="short", actor=CLI, now=now
        )
    with pytest.raises(NotFound):
        accounts.create_user(demo_engine, "nope", "z@contoso.example", actor=CLI, now=now)
