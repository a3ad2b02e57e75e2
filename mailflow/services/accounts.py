"""Staff accounts: sign-in passwords, invitations, password resets, sign-in sessions, preferences.

One function per action, each one transaction. A change of who can sign in
(a password set, an invitation, a link used, every session ended) is audited;
opening and closing one browser's session is not (it changes no one's access).

Sessions and one-time links store only the SHA-256 of their token: a leaked
database signs nobody in. A link is spent by one conditional UPDATE, so two
clicks racing each other cannot both use it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import TYPE_CHECKING

from sqlalchemy import Engine, delete, update
from sqlmodel import Session, col, select

from mailflow import auth
from mailflow.booking.model import Actor, ActorKind
from mailflow.booking.tokens import hash_token, looks_like_token, new_token
from mailflow.errors import InvalidInput, NotFound
from mailflow.kinds import EmailKind
from mailflow.outbound.compose import Address, Envelope, compose, new_message_id
from mailflow.outbound.message import OutgoingEmail
from mailflow.outbound.outbox import enqueue
from mailflow.outbound.render import RenderedEmail
from mailflow.services.common import audit, normalize_email
from mailflow.services.staff import new_staff
from mailflow.store.engine import read_session, write_session
from mailflow.store.tables import AdminLink, AdminSession, Business, Staff, pk

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "INVITE_LIFETIME",
    "RESET_LIFETIME",
    "AccountView",
    "BusinessInfo",
    "NewUser",
    "TeamMember",
    "account_of",
    "change_password",
    "create_user",
    "end_session",
    "invite_staff",
    "link_holder",
    "member_business",
    "password_matches",
    "queue_link_email",
    "redeem_link",
    "request_password_reset",
    "set_preferences",
    "sign_in",
    "sign_out_everywhere",
    "signed_in",
    "team",
]

RESET_LIFETIME = timedelta(hours=1)
INVITE_LIFETIME = timedelta(days=7)
PURPOSES = ("reset", "invite")


# --- reads ---------------------------------------------------------------------------


def _staff(session: Session, staff_id: int) -> Staff:
    staff = session.get(Staff, staff_id)
    if staff is None:
        raise NotFound("staff member", str(staff_id))
    return staff


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
            raise NotFound("business", str(business_id))
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
        staff = _staff(session, staff_id)
        business = session.get_one(Business, staff.business_id)
        return AccountView(dict(staff.notification_prefs), staff.locale, list(business.locales))


def password_matches(engine: Engine, staff_id: int, password: str) -> bool:
    """Whether ``password`` is the current password of staff member ``staff_id``."""
    with read_session(engine) as session:
        staff = session.get(Staff, staff_id)
        stored = staff.password_hash if staff is not None else None
    return auth.verify_password(password, stored)


# --- sessions ------------------------------------------------------------------------


def sign_in(
    engine: Engine, email: str, password: str, *, now: datetime, business_id: int | None = None
) -> str | None:
    """A new session token when ``email`` and ``password`` match an active staff member, else None.

    The password is checked (and costs its time) even when the address is
    unknown, so the answer's timing does not tell which addresses exist. The
    session lasts ``auth.SESSION_LIFETIME``.
    """
    with read_session(engine) as session:
        query = select(Staff).where(Staff.email == email.strip().lower(), col(Staff.active).is_(True))
        if business_id is not None:
            query = query.where(Staff.business_id == business_id)
        staff = session.exec(query.order_by(col(Staff.id))).first()
        staff_id = staff.id if staff is not None else None
        stored = staff.password_hash if staff is not None else None
    # scrypt outside any transaction: it takes its time, and SQLite has one writer.
    matches = auth.verify_password(password, stored or auth.dummy_hash())
    if staff_id is None or stored is None or not matches:
        return None
    token = secrets.token_urlsafe(32)
    with write_session(engine) as session:
        session.add(
            AdminSession(
                token_hash=auth.token_hash(token),
                staff_id=staff_id,
                created_at=now,
                expires_at=now + auth.SESSION_LIFETIME,
            )
        )
    return token


def signed_in(engine: Engine, token: str | None, now: datetime) -> auth.SignedIn | None:
    """The staff member behind session ``token`` if it is valid, unexpired and they are active."""
    if not token or len(token) > 128:
        return None
    with read_session(engine) as session:
        row = session.exec(
            select(AdminSession).where(AdminSession.token_hash == auth.token_hash(token))
        ).first()
        if row is None or row.expires_at <= now:
            return None
        staff = session.get(Staff, row.staff_id)
        if staff is None or not staff.active or not staff.password_hash:
            return None
        return auth.SignedIn(pk(staff), staff.business_id, staff.email, staff.name or staff.email, staff.role)


def end_session(engine: Engine, token: str | None) -> None:
    """Sign out: the session of ``token`` is deleted, the token is worthless from now on."""
    if token:
        with write_session(engine) as session:
            session.execute(
                delete(AdminSession).where(col(AdminSession.token_hash) == auth.token_hash(token))
            )


def _end_sessions(session: Session, staff_id: int, keep: str | None = None) -> int:
    statement = delete(AdminSession).where(col(AdminSession.staff_id) == staff_id)
    if keep is not None:
        statement = statement.where(col(AdminSession.token_hash) != auth.token_hash(keep))
    result = session.execute(statement)
    return int(result.rowcount)  # type: ignore[attr-defined]  # a DELETE's result has one


def sign_out_everywhere(
    engine: Engine, staff_id: int, *, actor: Actor, now: datetime, keep: str | None = None
) -> int:
    """End every session of staff member ``staff_id`` (but the one of token ``keep``); how many ended.

    Audited as ``account.signed_out_everywhere``. Raises ``NotFound`` for an unknown staff member.
    """
    with write_session(engine) as session:
        staff = _staff(session, staff_id)
        ended = _end_sessions(session, staff_id, keep)
        audit(
            session,
            business_id=staff.business_id,
            action="account.signed_out_everywhere",
            actor=actor,
            at=now,
            after={"email": staff.email, "sessions_ended": ended},
        )
        return ended


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
    business: str,
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
    """Give ``email`` a sign-in for ``business`` (a new staff member, or an existing one).

    A staff member who exists gets a password (their role and details stay);
    one who already has a password keeps it unless ``reset``. Without
    ``password`` a random one is generated and returned (shown once, never
    stored in clear). A new password ends every session the old one opened.
    Audited as ``account.password_set``. Raises ``NotFound`` for an unknown
    business and ``InvalidInput`` for a bad role, address or password, or a
    member who can sign in already (without ``reset``).
    """
    if role not in auth.ROLES:
        raise InvalidInput(f"unknown role {role!r}: use admin or staff", field="role")
    address = normalize_email(email, field="email")
    generated = None
    if password is None:
        password = generated = secrets.token_urlsafe(12)
    auth.check_password(password)
    hashed = auth.hash_password(password)  # before the write lock: scrypt takes its time
    with write_session(engine) as session:
        owner = session.exec(select(Business).where(Business.slug == business)).first()
        if owner is None:
            raise NotFound("business", business)
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
            raise InvalidInput(f"{address} can already sign in; pass --reset to give them a new password")
        staff.password_hash = hashed
        session.add(staff)
        session.flush()
        _end_sessions(session, pk(staff))
        audit(
            session,
            business_id=pk(owner),
            action="account.password_set",
            actor=actor,
            at=now,
            after={"email": address, "role": staff.role, "new_member": created},
        )
        return NewUser(pk(staff), staff.email, staff.role, business, generated)


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
        raise InvalidInput("the current password is wrong", field="current_password")
    hashed = auth.hash_password(new_password)
    with write_session(engine) as session:
        staff = _staff(session, staff_id)
        staff.password_hash = hashed
        session.add(staff)
        ended = _end_sessions(session, staff_id, keep)
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
        staff = _staff(session, staff_id)
        offered = session.get_one(Business, staff.business_id).locales
        if language and language not in offered:
            raise InvalidInput(
                f"the language {language!r} is not offered: use one of {', '.join(offered)}", field="language"
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


@dataclass(frozen=True)
class LinkEmail:
    """The words of a reset or invitation email."""

    kind: str
    subject: str
    lines: tuple[str, ...]
    button: str


def link_email(staff: Staff, business: Business, purpose: str, by: str = "") -> LinkEmail:
    """The words of the reset or invitation email to ``staff``."""
    if purpose == "invite":
        return LinkEmail(
            EmailKind.ADMIN_INVITATION,
            f"You're invited to {business.name} on mailflow",
            (
                f"Hello {staff.name or staff.email},",
                f"{by or 'An admin'} invited you to the bookings of {business.name}. "
                "Choose your password with this link (valid for 7 days, usable once):",
            ),
            "Choose your password",
        )
    return LinkEmail(
        EmailKind.ADMIN_PASSWORD_RESET,
        f"Reset your {business.name} password",
        (
            f"Hello {staff.name or staff.email},",
            "Someone (hopefully you) asked to reset your password. Choose a new one with this link "
            "(valid for 1 hour, usable once). If it wasn't you, ignore this email: nothing changes.",
        ),
        "Choose a new password",
    )


def queue_link_email(
    session: Session, staff: Staff, purpose: str, public_url: str, domain: str, now: datetime, by: str = ""
) -> str:
    """Mint a one-time link of ``purpose`` for ``staff`` and queue its email, in the caller's
    transaction; returns the token (``reset``: one hour, ``invite``: seven days)."""
    lifetime = INVITE_LIFETIME if purpose == "invite" else RESET_LIFETIME
    token = new_token()
    session.add(
        AdminLink(
            token_hash=hash_token(token),
            staff_id=pk(staff),
            purpose=purpose,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    business = session.get_one(Business, staff.business_id)
    path = "welcome" if purpose == "invite" else "reset"
    url = f"{public_url}/admin/{path}/{token}"
    words = link_email(staff, business, purpose, by)
    text = "\n\n".join([*words.lines, url, f"— {business.name}"]) + "\n"
    paragraphs = "".join(f"<p>{escape(line)}</p>" for line in words.lines)
    html = (
        f'<!doctype html><html><body style="font-family:sans-serif">{paragraphs}'
        f'<p><a href="{escape(url)}" style="display:inline-block;padding:10px 16px;background:#1f5f8b;'
        f'color:#ffffff;text-decoration:none;border-radius:4px">{escape(words.button)}</a></p>'
        f"<p>{escape(url)}</p><p>— {escape(business.name)}</p></body></html>"
    )
    sender = Address(
        business.sender_email or business.email or f"mailflow@{domain}", business.sender_name or business.name
    )
    envelope = Envelope(
        sender=sender,
        to=Address(staff.email, staff.name),
        message_id=new_message_id(domain),
        date=now,
        kind=words.kind,
    )
    data = compose(envelope, RenderedEmail(words.subject, html, text))
    enqueue(
        session,
        OutgoingEmail(words.kind, staff.email, envelope.message_id, words.subject, data),
        business_id=staff.business_id,
        booking_id=None,
        envelope_from=sender.email,
        now=now,
    )
    return token


def request_password_reset(
    engine: Engine, email: str, *, public_url: str, message_domain: str, now: datetime
) -> bool:
    """Email a one-hour reset link to the active staff member with ``email``; whether one was sent.

    Nothing happens for an unknown address (the caller answers the same either way).
    """
    address = email.strip().lower()
    if not address:
        return False
    with write_session(engine) as session:
        staff = session.exec(
            select(Staff).where(Staff.email == address, col(Staff.active).is_(True)).order_by(col(Staff.id))
        ).first()
        if staff is None:
            return False
        queue_link_email(session, staff, "reset", public_url, message_domain, now)
        return True


def invite_staff(
    engine: Engine,
    business_id: int,
    email: str,
    *,
    name: str = "",
    role: str = "staff",
    inviter: str = "",
    public_url: str,
    message_domain: str,
    actor: Actor,
    now: datetime,
) -> str:
    """Invite ``email`` to ``business_id`` (a new staff member, or one who cannot sign in yet).

    Queues an email with a seven-day link to choose a password, naming
    ``inviter`` (default: ``actor.label``); returns the normalised address.
    Audited as ``account.invited``. Raises ``InvalidInput`` for a bad address
    (field ``email``) or role (field ``role``), or when the person can sign
    in already.
    """
    address = normalize_email(email, field="email")
    if role not in auth.ROLES:
        raise InvalidInput(f"unknown role {role!r}: use admin or staff", field="role")
    with write_session(engine) as session:
        staff = session.exec(
            select(Staff).where(Staff.business_id == business_id, Staff.email == address)
        ).first()
        if staff is not None and staff.password_hash:
            raise InvalidInput(f"{address} can already sign in; they can use “Forgot your password?”.")
        if staff is None:  # one door for a new staff member: the staff use case's
            business = session.get_one(Business, business_id)
            staff = new_staff(
                session,
                business,
                email=address,
                name=name,
                role=role,
                locale=None,
                timezone=None,
                actor=actor,
                now=now,
            )
        queue_link_email(session, staff, "invite", public_url, message_domain, now, by=inviter or actor.label)
        audit(
            session,
            business_id=business_id,
            action="account.invited",
            actor=actor,
            at=now,
            after={"email": address, "role": staff.role},
        )
        return address


def _usable_link(session: Session, token: str, purpose: str, now: datetime) -> AdminLink | None:
    if not looks_like_token(token):
        return None
    row = session.exec(select(AdminLink).where(AdminLink.token_hash == hash_token(token))).first()
    if row is None or row.purpose != purpose or row.used_at is not None or row.expires_at <= now:
        return None
    return row


def link_holder(engine: Engine, token: str, purpose: str, now: datetime) -> str | None:
    """The email address of whom the unused, unexpired link of ``purpose`` behind ``token`` is for."""
    with read_session(engine) as session:
        link = _usable_link(session, token, purpose, now)
        staff = session.get(Staff, link.staff_id) if link is not None else None
        return staff.email if staff is not None else None


def redeem_link(engine: Engine, token: str, purpose: str, password: str, *, now: datetime) -> str:
    """Choose a password with a reset or invitation link; returns the holder's email address.

    The link is spent, every other unused link of the person is void, and every
    session of theirs ends. Audited as ``account.password_reset`` or
    ``account.invitation_accepted``. Raises ``NotFound`` when the link is
    unknown, used (also by a click racing this one) or expired, ``InvalidInput``
    for a too short password.
    """
    auth.check_password(password)
    hashed = auth.hash_password(password)  # before the write lock: scrypt takes its time
    with write_session(engine) as session:
        link = _usable_link(session, token, purpose, now)
        if link is None:
            raise NotFound("link", purpose)
        spent = session.execute(
            update(AdminLink)
            .where(col(AdminLink.id) == link.id, col(AdminLink.used_at).is_(None))
            .values(used_at=now)
        )
        if spent.rowcount != 1:  # type: ignore[attr-defined]  # another click used it just now
            raise NotFound("link", purpose)
        staff = session.get_one(Staff, link.staff_id)
        staff.password_hash = hashed
        session.add(staff)
        # Every other link of this person is void now, and so is every session.
        session.execute(
            update(AdminLink)
            .where(col(AdminLink.staff_id) == staff.id, col(AdminLink.used_at).is_(None))
            .values(used_at=now)
        )
        _end_sessions(session, pk(staff))
        audit(
            session,
            business_id=staff.business_id,
            action="account.invitation_accepted" if purpose == "invite" else "account.password_reset",
            actor=Actor(ActorKind.STAFF, staff.email),
            at=now,
            after={"email": staff.email},
        )
        return staff.email
