"""Sign-in, sign-out, password reset, invitations, and each member's account page.

- ``/admin/sign-in``: email and password; failed attempts are limited per
  client address and per email address (in-process sliding windows);
  ``next`` is followed only to a local ``/admin`` path.
- ``/admin/forgot`` emails a one-time link (``AdminLink`` purpose ``reset``,
  one hour) and gives the same answer whether the address exists or not;
  ``/admin/reset/{token}`` sets a new password and ends every session.
- ``/admin/staff`` (admins): the team and an invitation form; an invitation
  (purpose ``invite``, seven days) lets the person set their password at
  ``/admin/welcome/{token}``.
- ``/admin/account``: notification preferences (the keys the notifier and the
  agenda job read from ``Staff.notification_prefs``), language, password.

Links store only the SHA-256 of their token and are spent by one conditional
UPDATE, so two clicks racing each other cannot both use one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from urllib.parse import unquote, urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from mailflow import auth
from mailflow.booking.tokens import hash_token, looks_like_token, new_token
from mailflow.errors import InvalidInput
from mailflow.outbound.compose import Address, Envelope, compose, new_message_id
from mailflow.outbound.message import OutgoingEmail
from mailflow.outbound.outbox import enqueue
from mailflow.outbound.render import RenderedEmail
from mailflow.ratelimit import RateLimiter
from mailflow.services import normalize_email
from mailflow.store.engine import read_session, write_session
from mailflow.store.tables import AdminLink, AdminSession, Business, Staff, pk
from mailflow.web.admin import ADMIN_COOKIE, Admin, NotSignedIn
from mailflow.web.security import client_ip

__all__ = [
    "INVITE_LIFETIME",
    "NOTIFICATION_CHOICES",
    "RESET_LIFETIME",
    "build_router",
    "safe_next",
]

LOGIN_WINDOW_SECONDS = 15 * 60
LOGIN_FAILURES_PER_IP = 20
LOGIN_FAILURES_PER_ADDRESS = 5
FORGOT_PER_IP = 10
FORGOT_PER_ADDRESS = 3
RESET_LIFETIME = timedelta(hours=1)
INVITE_LIFETIME = timedelta(days=7)
LANDING = "/admin/bookings"

# The keys the notifier (one per staff email kind) and the agenda job read; a missing key means on.
NOTIFICATION_CHOICES = (
    ("booking_created", "New bookings"),
    ("booking_rescheduled", "Rescheduled bookings"),
    ("booking_cancelled", "Cancelled bookings"),
    ("daily_agenda", "Daily agenda for the next day"),
)
LANGUAGE_NAMES = {"en": "English", "de": "Deutsch"}

TOO_MANY_FOR_ADDRESS = (
    "Too many failed sign-ins for this address. Wait 15 minutes, or reset your password "
    "with “Forgot your password?”."
)
TOO_MANY_FROM_HERE = "Too many failed sign-ins from your network. Wait 15 minutes and try again."


def _now() -> datetime:
    return datetime.now(UTC)


def safe_next(value: str | None) -> str:
    """``value`` when it is a local ``/admin`` path, else the landing page (no open redirect).

    >>> safe_next("/admin/services"), safe_next("//evil.example/admin"), safe_next("/admin/%2e%2e/book")
    ('/admin/services', '/admin/bookings', '/admin/bookings')
    """
    if not value or "\\" in value or any(ord(c) < 32 for c in value):
        return LANDING
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//"):
        return LANDING
    if parts.path != "/admin" and not parts.path.startswith("/admin/"):
        return LANDING
    if parts.path.startswith(("/admin/sign-in", "/admin/sign-out")):
        return LANDING
    if any(segment in (".", "..") for segment in unquote(parts.path).split("/")):
        return LANDING  # a browser would resolve /admin/../book to /book
    return value


@dataclass(frozen=True)
class LinkEmail:
    """The words of a reset or invitation email."""

    kind: str
    subject: str
    lines: tuple[str, ...]
    button: str


def link_email(staff: Staff, business: Business, purpose: str, url: str, by: str = "") -> LinkEmail:
    """The reset or invitation email for ``staff`` with the one-time ``url``."""
    if purpose == "invite":
        return LinkEmail(
            "admin_invitation",
            f"You're invited to {business.name} on mailflow",
            (
                f"Hello {staff.name or staff.email},",
                f"{by or 'An admin'} invited you to the bookings of {business.name}. "
                "Choose your password with this link (valid for 7 days, usable once):",
            ),
            "Choose your password",
        )
    return LinkEmail(
        "admin_password_reset",
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
    """Mint a one-time link of ``purpose`` for ``staff`` and queue its email; returns the token."""
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
    words = link_email(staff, business, purpose, url, by)
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


def usable_link(session: Session, token: str, purpose: str, now: datetime) -> AdminLink | None:
    """The unused, unexpired link of ``purpose`` behind ``token``, or None."""
    if not looks_like_token(token):
        return None
    row = session.exec(select(AdminLink).where(AdminLink.token_hash == hash_token(token))).first()
    if row is None or row.purpose != purpose or row.used_at is not None or row.expires_at <= now:
        return None
    return row


def check_new_password(password: str, confirm: str) -> str | None:
    """The problem with a new password, or None when it is acceptable."""
    if len(password) < auth.MIN_PASSWORD_LENGTH:
        return f"The password must have at least {auth.MIN_PASSWORD_LENGTH} characters."
    if password != confirm:
        return "The two passwords differ."
    return None


def build_router(admin: Admin) -> APIRouter:
    """Sign-in, sign-out, reset, invitations and the account page."""
    router = APIRouter()
    app = admin.app
    engine = app.engine
    secure_cookie = app.settings.public_url.startswith("https://")
    failures_per_ip = RateLimiter(LOGIN_FAILURES_PER_IP, LOGIN_WINDOW_SECONDS)
    failures_per_address = RateLimiter(LOGIN_FAILURES_PER_ADDRESS, LOGIN_WINDOW_SECONDS)
    forgot_per_ip = RateLimiter(FORGOT_PER_IP, 3600)
    forgot_per_address = RateLimiter(FORGOT_PER_ADDRESS, 3600)
    domain = app.notifier.builder.settings.message_domain

    def current(request: Request) -> auth.SignedIn | None:
        try:
            return admin.user(request)
        except NotSignedIn:
            return None

    # --- sign-in and sign-out ---------------------------------------------------------

    @router.get("/admin")
    def landing(who: auth.SignedIn = Depends(admin.user)) -> Response:
        return RedirectResponse(LANDING, status_code=303)

    def sign_in_page(
        request: Request, next_path: str, *, email: str = "", error: str | None = None, status: int = 200
    ) -> Response:
        notice = {
            "reset": "Your password is set. Sign in with it.",
            "signed-out": "You are signed out.",
        }.get(request.query_params.get("done", ""))
        return admin.render(
            request,
            "sign_in.html",
            status=status,
            csrf=admin.csrf(request, "sign-in"),
            next=next_path,
            email=email,
            error=error,
            notice=notice,
        )

    @router.get("/admin/sign-in")
    def sign_in_form(request: Request) -> Response:
        target = safe_next(request.query_params.get("next"))
        if current(request) is not None:
            return RedirectResponse(target, status_code=303)
        return sign_in_page(request, target)

    @router.post("/admin/sign-in")
    def sign_in_submit(
        request: Request,
        _: None = Depends(admin.csrf_guard("sign-in")),
        email: str = Form(""),
        password: str = Form(""),
        next: str = Form(""),
    ) -> Response:
        target = safe_next(next)
        address = email.strip().lower()
        ip = client_ip(request)
        if failures_per_ip.blocked(ip):
            return sign_in_page(request, target, email=email, error=TOO_MANY_FROM_HERE, status=429)
        if address and failures_per_address.blocked(address):
            return sign_in_page(request, target, email=email, error=TOO_MANY_FOR_ADDRESS, status=429)
        with write_session(engine) as session:
            token = auth.sign_in(session, None, address, password, _now()) if address and password else None
        if token is None:
            failures_per_ip.hit(ip)
            if address:
                failures_per_address.hit(address)
            return sign_in_page(
                request, target, email=email, error="Wrong email address or password.", status=400
            )
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            ADMIN_COOKIE,
            token,
            max_age=int(auth.SESSION_LIFETIME.total_seconds()),
            httponly=True,
            samesite="lax",
            secure=secure_cookie,
            path="/",
        )
        return response

    @router.post("/admin/sign-out")
    def sign_out(
        request: Request,
        _: None = Depends(admin.csrf_guard("sign-out")),
    ) -> Response:
        with write_session(engine) as session:
            auth.end_session(session, request.cookies.get(ADMIN_COOKIE))
        response = RedirectResponse("/admin/sign-in?done=signed-out", status_code=303)
        response.delete_cookie(ADMIN_COOKIE, path="/", httponly=True, samesite="lax", secure=secure_cookie)
        return response

    # --- password reset ------------------------------------------------------------------

    @router.get("/admin/forgot")
    def forgot_form(request: Request) -> Response:
        return admin.render(request, "forgot.html", csrf=admin.csrf(request, "forgot"), sent=False)

    @router.post("/admin/forgot")
    def forgot_submit(
        request: Request, _: None = Depends(admin.csrf_guard("forgot")), email: str = Form("")
    ) -> Response:
        address = email.strip().lower()
        # Over the limit the answer is the same as always; only the email is not sent.
        allowed = forgot_per_ip.hit(client_ip(request)) and forgot_per_address.hit(address)
        if allowed and address:
            now = _now()
            with write_session(engine) as session:
                staff = session.exec(
                    select(Staff)
                    .where(Staff.email == address, col(Staff.active).is_(True))
                    .order_by(col(Staff.id))
                ).first()
                if staff is not None:
                    queue_link_email(session, staff, "reset", app.settings.public_url, domain, now)
            app.wake()
        return admin.render(request, "forgot.html", csrf=admin.csrf(request, "forgot"), sent=True)

    def set_password_page(
        request: Request, token: str, purpose: str, *, error: str | None = None, status: int = 200
    ) -> Response:
        with read_session(engine) as session:
            link = usable_link(session, token, purpose, _now())
            staff = session.get(Staff, link.staff_id) if link is not None else None
        if link is None or staff is None:
            return admin.render(
                request,
                "notice.html",
                status=404,
                title="This link no longer works",
                lines=[
                    "It was used already, has expired, or was mistyped.",
                    "Ask for a new one below, or ask an admin to invite you again.",
                ],
                links=[{"href": "/admin/forgot", "text": "Send me a new link"}],
            )
        return admin.render(
            request,
            "set_password.html",
            status=status,
            csrf=admin.csrf(request, f"{purpose}:{token}"),
            invite=purpose == "invite",
            email=staff.email,
            min_length=auth.MIN_PASSWORD_LENGTH,
            action=request.url.path,
            error=error,
        )

    def set_password_submit(
        request: Request, token: str, purpose: str, password: str, confirm: str
    ) -> Response:
        problem = check_new_password(password, confirm)
        if problem is not None:
            return set_password_page(request, token, purpose, error=problem, status=400)
        now = _now()
        hashed = auth.hash_password(password)  # before the write lock: scrypt takes its time
        with write_session(engine) as session:
            link = usable_link(session, token, purpose, now)
            if link is None:
                return set_password_page(request, token, purpose)
            spent = session.execute(
                update(AdminLink)
                .where(col(AdminLink.id) == link.id, col(AdminLink.used_at).is_(None))
                .values(used_at=now)
            )
            if spent.rowcount != 1:  # type: ignore[attr-defined]  # another click used it just now
                return set_password_page(request, token, purpose)
            staff = session.get_one(Staff, link.staff_id)
            staff.password_hash = hashed
            session.add(staff)
            # Every other link of this person is void now, and so is every session.
            session.execute(
                update(AdminLink)
                .where(col(AdminLink.staff_id) == staff.id, col(AdminLink.used_at).is_(None))
                .values(used_at=now)
            )
            session.execute(delete(AdminSession).where(col(AdminSession.staff_id) == staff.id))
        return RedirectResponse("/admin/sign-in?done=reset", status_code=303)

    def add_link_pages(purpose: str, path: str) -> None:
        """GET and POST of ``/admin/<path>/{token}``: choose a password with a link of ``purpose``."""

        def form(request: Request, token: str) -> Response:
            return set_password_page(request, token, purpose)

        def submit(
            request: Request,
            token: str,
            _: None = Depends(admin.csrf_guard(purpose + ":{token}")),
            password: str = Form(""),
            confirm: str = Form(""),
        ) -> Response:
            return set_password_submit(request, token, purpose, password, confirm)

        router.add_api_route(f"/admin/{path}/{{token}}", form, methods=["GET"], name=f"{path}_form")
        router.add_api_route(f"/admin/{path}/{{token}}", submit, methods=["POST"], name=f"{path}_submit")

    add_link_pages("reset", "reset")
    add_link_pages("invite", "welcome")

    # --- the team and invitations (admins) ------------------------------------------

    def staff_page(
        request: Request,
        who: auth.SignedIn,
        *,
        values: dict[str, str] | None = None,
        error: str | None = None,
        notice: str | None = None,
        status: int = 200,
    ) -> Response:
        now = _now()
        with read_session(engine) as session:
            members = session.exec(
                select(Staff).where(Staff.business_id == who.business_id).order_by(col(Staff.id))
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
            team = [
                {
                    "name": m.name,
                    "email": m.email,
                    "role": m.role,
                    "active": m.active,
                    "can_sign_in": bool(m.password_hash),
                    "invited": m.id in pending,
                }
                for m in members
            ]
        return admin.render(
            request,
            "staff.html",
            status=status,
            team=team,
            values=values or {"email": "", "name": "", "role": "staff"},
            error=error,
            notice=notice,
            csrf=admin.csrf(request, "invite"),
        )

    @router.get("/admin/staff")
    def staff_list(request: Request, who: auth.SignedIn = Depends(admin.admin)) -> Response:
        return staff_page(request, who)

    @router.post("/admin/staff/invite")
    def invite(
        request: Request,
        _: None = Depends(admin.csrf_guard("invite")),
        who: auth.SignedIn = Depends(admin.admin),
        email: str = Form(""),
        name: str = Form(""),
        role: str = Form("staff"),
    ) -> Response:
        values = {"email": email, "name": name, "role": role}
        try:
            address = normalize_email(email)
        except InvalidInput:
            return staff_page(
                request, who, values=values, error=f"“{email}” is not an email address.", status=400
            )
        if role not in auth.ROLES:
            return staff_page(
                request, who, values=values, error="Choose the role admin or staff.", status=400
            )
        with read_session(engine) as session:
            existing = session.exec(
                select(Staff).where(Staff.business_id == who.business_id, Staff.email == address)
            ).first()
            if existing is not None and existing.password_hash:
                return staff_page(
                    request,
                    who,
                    values=values,
                    error=f"{address} can already sign in; they can use “Forgot your password?”.",
                    status=400,
                )
        now = _now()
        with write_session(engine) as session:
            staff = session.exec(
                select(Staff).where(Staff.business_id == who.business_id, Staff.email == address)
            ).first()
            if staff is None:
                business = session.get_one(Business, who.business_id)
                staff = Staff(
                    business_id=who.business_id,
                    email=address,
                    name=name.strip(),
                    role=role,
                    locale=business.default_locale,
                    timezone=business.timezone,
                )
                session.add(staff)
                session.flush()
            queue_link_email(
                session, staff, "invite", app.settings.public_url, domain, now, by=who.name or who.email
            )
        app.wake()
        return staff_page(request, who, notice=f"Invitation sent to {address}.")

    # --- the member's own account -----------------------------------------------------

    def account_page(
        request: Request,
        who: auth.SignedIn,
        *,
        notice: str | None = None,
        change_error: str | None = None,
        status: int = 200,
    ) -> Response:
        with read_session(engine) as session:
            staff = session.get_one(Staff, who.staff_id)
            business = session.get_one(Business, who.business_id)
            prefs = [
                {"key": key, "label": label, "on": staff.notification_prefs.get(key, True)}
                for key, label in NOTIFICATION_CHOICES
            ]
            languages = [(code, LANGUAGE_NAMES.get(code, code)) for code in business.locales]
            locale = staff.locale
        return admin.render(
            request,
            "account.html",
            status=status,
            prefs=prefs,
            languages=languages,
            locale=locale,
            notice=notice,
            change_error=change_error,
            min_length=auth.MIN_PASSWORD_LENGTH,
            prefs_csrf=admin.csrf(request, "account-prefs"),
            password_csrf=admin.csrf(request, "account-password"),
        )

    @router.get("/admin/account")
    def account(request: Request, who: auth.SignedIn = Depends(admin.user)) -> Response:
        return account_page(request, who)

    @router.post("/admin/account/notifications")
    def account_prefs(
        request: Request,
        _: None = Depends(admin.csrf_guard("account-prefs")),
        who: auth.SignedIn = Depends(admin.user),
        notify: list[str] = Form([]),
        language: str = Form(""),
    ) -> Response:
        with read_session(engine) as session:
            offered = session.get_one(Business, who.business_id).locales
        if language and language not in offered:
            return account_page(request, who, notice="Choose one of the offered languages.", status=400)
        with write_session(engine) as session:
            staff = session.get_one(Staff, who.staff_id)
            # A new dict: the JSON column notices only assignment, not mutation in place.
            staff.notification_prefs = {
                **staff.notification_prefs,
                **{key: key in notify for key, _label in NOTIFICATION_CHOICES},
            }
            staff.locale = language or staff.locale
            session.add(staff)
        return account_page(request, who, notice="Your preferences are saved.")

    @router.post("/admin/account/password")
    def account_password(
        request: Request,
        _: None = Depends(admin.csrf_guard("account-password")),
        who: auth.SignedIn = Depends(admin.user),
        current_password: str = Form(""),
        password: str = Form(""),
        confirm: str = Form(""),
    ) -> Response:
        with read_session(engine) as session:
            stored = session.get_one(Staff, who.staff_id).password_hash
        if not auth.verify_password(current_password, stored):
            return account_page(request, who, change_error="The current password is wrong.", status=400)
        problem = check_new_password(password, confirm)
        if problem is not None:
            return account_page(request, who, change_error=problem, status=400)
        keep = hash_token(request.cookies.get(ADMIN_COOKIE, ""))
        hashed = auth.hash_password(password)
        with write_session(engine) as session:
            staff = session.get_one(Staff, who.staff_id)
            staff.password_hash = hashed
            session.add(staff)
            # Other browsers are signed out; this one stays signed in.
            session.execute(
                delete(AdminSession).where(
                    col(AdminSession.staff_id) == who.staff_id, col(AdminSession.token_hash) != keep
                )
            )
        return account_page(request, who, notice="Your password is changed; other browsers are signed out.")

    return router
