"""One-time links of staff accounts: invitations and password resets, emailed and redeemed.

A link stores only the SHA-256 of its token and is spent by one conditional
UPDATE, so two clicks racing each other cannot both use it. Inviting someone and
choosing a password with a link are audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from mailflow import auth
from mailflow.booking.model import Actor, ActorKind
from mailflow.booking.tokens import hash_token, looks_like_token, new_token
from mailflow.errors import InvalidInput, NotFound
from mailflow.i18n import N_
from mailflow.kinds import EmailKind
from mailflow.outbound.compose import Address, Envelope, compose, new_message_id
from mailflow.outbound.message import OutgoingEmail
from mailflow.outbound.outbox import enqueue
from mailflow.outbound.render import RenderedEmail
from mailflow.services.common import audit, normalize_email
from mailflow.services.sessions import end_sessions
from mailflow.services.staff import new_staff
from mailflow.store.engine import read_session, write_session
from mailflow.store.tables import AdminLink, Business, Staff, pk

__all__ = [
    "INVITE_LIFETIME",
    "RESET_LIFETIME",
    "invite_staff",
    "link_holder",
    "queue_link_email",
    "redeem_link",
    "request_password_reset",
]


RESET_LIFETIME = timedelta(hours=1)


INVITE_LIFETIME = timedelta(days=7)


PURPOSES = ("reset", "invite")


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
        raise InvalidInput(N_("unknown role {role!r}: use admin or staff"), role=role, field="role")
    with write_session(engine) as session:
        staff = session.exec(
            select(Staff).where(Staff.business_id == business_id, Staff.email == address)
        ).first()
        if staff is not None and staff.password_hash:
            raise InvalidInput(
                N_("{address} can already sign in; they can use “Forgot your password?”."), address=address
            )
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
            raise NotFound(N_("link"), purpose)
        spent = session.execute(
            update(AdminLink)
            .where(col(AdminLink.id) == link.id, col(AdminLink.used_at).is_(None))
            .values(used_at=now)
        )
        if spent.rowcount != 1:  # type: ignore[attr-defined]  # another click used it just now
            raise NotFound(N_("link"), purpose)
        staff = session.get_one(Staff, link.staff_id)
        staff.password_hash = hashed
        session.add(staff)
        # Every other link of this person is void now, and so is every session.
        session.execute(
            update(AdminLink)
            .where(col(AdminLink.staff_id) == staff.id, col(AdminLink.used_at).is_(None))
            .values(used_at=now)
        )
        end_sessions(session, pk(staff))
        audit(
            session,
            business_id=staff.business_id,
            action="account.invitation_accepted" if purpose == "invite" else "account.password_reset",
            actor=Actor(ActorKind.STAFF, staff.email),
            at=now,
            after={"email": staff.email},
        )
        return staff.email
