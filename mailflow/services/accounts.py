"""Staff accounts: the team, sign-in passwords and a member's preferences.

One function per action, each one transaction. A change of who can sign in (a
password set or changed, which ends the sessions the old one opened) is
audited. Sign-in sessions are ``mailflow.services.sessions``; invitations and
password resets (one-time links) ``mailflow.services.account_links``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlmodel import col, select

from mailflow import auth
from mailflow.booking.model import Actor
from mailflow.errors import InvalidInput, NotFound
from mailflow.i18n import N_
from mailflow.services.common import audit, normalize_email
from mailflow.services.sessions import end_sessions
from mailflow.services.staff import new_staff
from mailflow.store import queries
from mailflow.store.engine import read_session, write_session
from mailflow.store.tables import AdminLink, Business, Staff, pk

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "AccountView",
    "BusinessInfo",
    "NewUser",
    "TeamMember",
    "account_of",
    "change_password",
    "create_user",
    "member_business",
    "password_matches",
    "set_preferences",
    "team",
]


# --- reads ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BusinessInfo:
    """What the admin pages show of a member's business."""

    id: int
    slug: str
    name: str
    timezone: str
    locales: list[str]


def member_business(engine: Engine, business_id: int) -> BusinessInfo:
    """The business ``business_id`` (a signed-in member's); ``NotFound`` when it is gone."""
    with read_session(engine) as session:
        row = session.get(Business, business_id)
        if row is None:
            raise NotFound(N_("business"), str(business_id))
        return BusinessInfo(pk(row), row.slug, row.name, row.timezone, list(row.locales))


@dataclass(frozen=True, slots=True)
class TeamMember:
    """One staff member as the team page lists them."""

    name: str
    email: str
    role: str
    active: bool
    can_sign_in: bool
    invited: bool


def team(engine: Engine, business_id: int, now: datetime) -> list[TeamMember]:
    """The business's staff in the order they were added; ``invited``: an invitation waits unused."""
    with read_session(engine) as session:
        members = session.exec(
            select(Staff).where(Staff.business_id == business_id).order_by(col(Staff.id))
        ).all()
        pending = {
            link.staff_id
            for link in session.exec(
                select(AdminLink).where(
                    AdminLink.purpose == "invite",
                    col(AdminLink.used_at).is_(None),
                    col(AdminLink.expires_at) > now,
                )
            )
        }
        return [
            TeamMember(m.name, m.email, m.role, m.active, bool(m.password_hash), m.id in pending)
            for m in members
        ]


@dataclass(frozen=True, slots=True)
class AccountView:
    """A member's own settings: notification choices (a missing key means on) and language."""

    notification_prefs: dict[str, bool]
    locale: str
    business_locales: list[str]


def account_of(engine: Engine, staff_id: int) -> AccountView:
    """The settings of staff member ``staff_id``; ``NotFound`` when they are gone."""
    with read_session(engine) as session:
        staff = queries.staff_by_id(session, staff_id)
        business = session.get_one(Business, staff.business_id)
        return AccountView(dict(staff.notification_prefs), staff.locale, list(business.locales))


def password_matches(engine: Engine, staff_id: int, password: str) -> bool:
    """Whether ``password`` is the current password of staff member ``staff_id``."""
    with read_session(engine) as session:
        staff = session.get(Staff, staff_id)
        stored = staff.password_hash if staff is not None else None
    return auth.verify_password(password, stored)


# --- sessions ------------------------------------------------------------------------


# --- passwords -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewUser:
    """Who can sign in now; ``password`` is the generated one (show it once), None when given."""

    staff_id: int
    email: str
    role: str
    business: str
    password: str | None


def create_user(
    engine: Engine,
    business: str | None,
    email: str,
    *,
    role: str = "staff",
    name: str = "",
    timezone: str | None = None,
    password: str | None = None,
    reset: bool = False,
    actor: Actor,
    now: datetime,
) -> NewUser:
    """Give ``email`` a sign-in for ``business`` (a new staff member, or an existing one);
    ``business`` None means the only business there is.

    A staff member who exists gets a password (their role and details stay);
    one who already has a password keeps it unless ``reset``. Without
    ``password`` a random one is generated and returned (shown once, never
    stored in clear). A new password ends every session the old one opened.
    Audited as ``account.password_set``. Raises ``NotFound`` for an unknown
    business (or None while there is not exactly one) and ``InvalidInput`` for a
    bad role, address or password, or a member who can sign in already (without
    ``reset``).
    """
    if role not in auth.ROLES:
        raise InvalidInput(N_("unknown role {role!r}: use admin or staff"), role=role, field="role")
    address = normalize_email(email, field="email")
    generated = None
    if password is None:
        password = generated = secrets.token_urlsafe(12)
    auth.check_password(password)
    hashed = auth.hash_password(password)  # before the write lock: scrypt takes its time
    with write_session(engine) as session:
        owner = queries.business_by_slug(session, business)
        staff = session.exec(
            select(Staff).where(Staff.business_id == owner.id, Staff.email == address)
        ).first()
        created = staff is None
        if staff is None:  # one door for a new staff member: the staff use case's
            staff = new_staff(
                session,
                owner,
                email=address,
                name=name,
                role=role,
                locale=None,
                timezone=timezone,
                actor=actor,
                now=now,
            )
        elif staff.password_hash and not reset:
            raise InvalidInput(
                N_("{address} can already sign in; pass --reset to give them a new password"), address=address
            )
        staff.password_hash = hashed
        session.add(staff)
        session.flush()
        end_sessions(session, pk(staff))
        audit(
            session,
            business_id=pk(owner),
            action="account.password_set",
            actor=actor,
            at=now,
            after={"email": address, "role": staff.role, "new_member": created},
        )
        return NewUser(pk(staff), staff.email, staff.role, owner.slug, generated)


def change_password(
    engine: Engine,
    staff_id: int,
    current_password: str,
    new_password: str,
    *,
    keep: str | None,
    actor: Actor,
    now: datetime,
) -> None:
    """A member changes their own password; every session but the one of token ``keep`` ends.

    Audited as ``account.password_changed``. Raises ``InvalidInput`` (field
    ``current_password``) when ``current_password`` is wrong, ``InvalidInput``
    for a too short new password, ``NotFound`` for an unknown staff member.
    """
    auth.check_password(new_password)
    if not password_matches(engine, staff_id, current_password):
        raise InvalidInput(N_("the current password is wrong"), field="current_password")
    hashed = auth.hash_password(new_password)
    with write_session(engine) as session:
        staff = queries.staff_by_id(session, staff_id)
        staff.password_hash = hashed
        session.add(staff)
        ended = end_sessions(session, staff_id, keep)
        audit(
            session,
            business_id=staff.business_id,
            action="account.password_changed",
            actor=actor,
            at=now,
            after={"email": staff.email, "sessions_ended": ended},
        )


def set_preferences(
    engine: Engine,
    staff_id: int,
    *,
    notifications: Mapping[str, bool],
    language: str | None,
    actor: Actor,
    now: datetime,
) -> None:
    """Set a member's notification choices (other keys stay) and, when given, their language.

    Audited as ``account.preferences_changed`` when something changed. Raises
    ``InvalidInput`` (field ``language``) for a language the business does not
    offer, ``NotFound`` for an unknown staff member.
    """
    with write_session(engine) as session:
        staff = queries.staff_by_id(session, staff_id)
        offered = session.get_one(Business, staff.business_id).locales
        if language and language not in offered:
            raise InvalidInput(
                N_("the language {language!r} is not offered: use one of {languages}"),
                language=language,
                languages=", ".join(offered),
                field="language",
            )
        before = {"notification_prefs": staff.notification_prefs, "locale": staff.locale}
        # A new dict: the JSON column notices only assignment, not mutation in place.
        staff.notification_prefs = {**staff.notification_prefs, **notifications}
        staff.locale = language or staff.locale
        after = {"notification_prefs": staff.notification_prefs, "locale": staff.locale}
        session.add(staff)
        if before != after:
            audit(
                session,
                business_id=staff.business_id,
                action="account.preferences_changed",
                actor=actor,
                at=now,
                before=before,
                after=after,
            )


# --- one-time links: password resets and invitations --------------------------------
