"""The business's profile: create, change, show; and the first run's one-time set-up link.

A business offers one or more languages (those mailflow has email templates
for); one is its default, the language of every text given without one. Texts a
customer reads (change instructions here, service names and descriptions in
``catalog``) are kept per language and shown in the reader's, falling back to
the default language.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from mailflow.booking.model import Actor
from mailflow.errors import InvalidInput, NotFound
from mailflow.i18n import N_, Nn_
from mailflow.outbound.context import business_change_instructions
from mailflow.outbound.templates import default_locales
from mailflow.services.common import (
    LIMITS,
    apply_changes,
    audit,
    check_slug,
    check_text,
    check_texts,
    check_timezone,
    normalize_email,
    unknown_fields,
)
from mailflow.store import queries
from mailflow.store.engine import read_session, write_session
from mailflow.store.tables import Business, Service, SetupLink, pk

PROFILE_FIELDS = ("name", "timezone", "phone", "email", "address", "sender_name", "sender_email")


@dataclass(frozen=True, slots=True)
class BusinessView:
    """A business as the CLI and the API show it."""

    slug: str
    name: str
    timezone: str
    default_locale: str
    locales: list[str]
    phone: str
    email: str
    address: str
    sender_name: str
    sender_email: str
    change_instructions: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "name": self.name,
            "timezone": self.timezone,
            "default_locale": self.default_locale,
            "locales": list(self.locales),
            "phone": self.phone,
            "email": self.email,
            "address": self.address,
            "sender_name": self.sender_name,
            "sender_email": self.sender_email,
            "change_instructions": dict(self.change_instructions),
        }


def business_view(business: Business) -> BusinessView:
    return BusinessView(
        slug=business.slug,
        name=business.name,
        timezone=business.timezone,
        default_locale=business.default_locale,
        locales=list(business.locales),
        phone=business.phone,
        email=business.email,
        address=business.address,
        sender_name=business.sender_name,
        sender_email=business.sender_email,
        change_instructions=dict(business.instructions),
    )


def check_languages(languages: list[str], default: str) -> list[str]:
    """The offered languages, the default first; each must be one mailflow has emails in."""
    available = default_locales()
    chosen = list(dict.fromkeys(part.strip() for part in [default, *languages] if part.strip()))
    for language in chosen:
        if language not in available:
            raise InvalidInput(
                N_("unknown language {language!r}: choose from {languages}"),
                language=language,
                languages=", ".join(available),
                field="locale" if language == default else "languages",
            )
    return chosen


def _profile(values: dict[str, Any]) -> dict[str, Any]:
    """The profile fields of ``values``, checked and trimmed (absent ones stay absent)."""
    checked: dict[str, Any] = {}
    for name in ("name", "phone", "address", "sender_name"):
        if name in values:
            checked[name] = check_text(values[name] or "", name, LIMITS[name], lines=name == "address")
    if "name" in checked and not checked["name"]:
        raise InvalidInput(N_("the business needs a name"), field="name")
    for name in ("email", "sender_email"):
        if name in values:
            given = (values[name] or "").strip()
            checked[name] = normalize_email(given, field=name) if given else ""
    if "timezone" in values:
        checked["timezone"] = check_timezone((values["timezone"] or "").strip(), field="timezone")
    return checked


def create_business(
    engine: Engine,
    *,
    slug: str,
    name: str,
    timezone: str,
    locale: str = "en",
    languages: list[str] | None = None,
    phone: str = "",
    email: str = "",
    address: str = "",
    sender_name: str = "",
    sender_email: str = "",
    change_instructions: dict[str, str] | None = None,
    actor: Actor,
    now: datetime,
) -> BusinessView:
    """Create a business (no staff, services or hours yet: see ``staff`` and ``catalog``).

    ``languages`` are the languages offered (default: only ``locale``, the default language).
    Raises ``InvalidInput`` naming the field: a slug in use or malformed, an unknown time
    zone or language, an address that is none, a text too long.
    """
    with write_session(engine) as session:
        business = _new_business(
            session,
            slug=slug,
            values={
                "name": name,
                "timezone": timezone,
                "phone": phone,
                "email": email,
                "address": address,
                "sender_name": sender_name,
                "sender_email": sender_email,
            },
            locale=locale,
            languages=languages or [],
            change_instructions=change_instructions or {},
            actor=actor,
            now=now,
        )
        return business_view(business)


def _new_business(
    session: Session,
    *,
    slug: str,
    values: dict[str, Any],
    locale: str,
    languages: list[str],
    change_instructions: dict[str, str],
    actor: Actor,
    now: datetime,
) -> Business:
    slug = check_slug(slug)
    profile = _profile(values)
    offered = check_languages(languages, locale.strip())
    instructions = check_texts(
        change_instructions, offered, "change_instructions", LIMITS["instructions"], lines=True
    )
    if session.exec(select(Business.id).where(Business.slug == slug)).first() is not None:
        raise InvalidInput(N_("the slug {slug!r} is in use: choose another"), slug=slug, field="slug")
    business = Business(
        slug=slug,
        default_locale=offered[0],
        locales=offered,
        instructions=instructions,
        change_instructions=instructions.get(offered[0]),
        created_at=now,
        **profile,
    )
    session.add(business)
    session.flush()
    audit(
        session,
        business_id=pk(business),
        action="business.created",
        actor=actor,
        at=now,
        after=business_view(business).to_json(),
    )
    return business


def update_business(
    engine: Engine,
    slug: str | None,
    changes: dict[str, Any],
    *,
    actor: Actor,
    now: datetime,
) -> BusinessView:
    """Change the profile: any of ``name``, ``timezone``, ``phone``, ``email``, ``address``,
    ``sender_name``, ``sender_email``, ``locale`` (the default language), ``languages`` (those
    offered), ``change_instructions`` (``{language: text}``: the languages given are replaced,
    an empty text removes one; None removes all). Absent keys stay as they are. Audited with
    before and after.

    Raises ``NotFound`` for an unknown business, ``InvalidInput`` naming the field.
    """
    unknown = set(changes) - {*PROFILE_FIELDS, "locale", "languages", "change_instructions"}
    if unknown:
        raise unknown_fields(unknown)
    with write_session(engine) as session:
        business = queries.business_by_slug(session, slug)
        update = _profile({name: value for name, value in changes.items() if name in PROFILE_FIELDS})
        if "locale" in changes or "languages" in changes:
            default = (changes.get("locale") or business.default_locale).strip()
            offered = changes.get("languages")
            if offered is None:
                offered = business.locales
            elif default not in offered and "locale" not in changes:
                default = offered[0] if offered else default
            languages = check_languages(list(offered), default)
            update["default_locale"], update["locales"] = languages[0], languages
        languages = update.get("locales", business.locales)
        if "change_instructions" in changes:
            # None clears every language; a map replaces the languages it gives.
            given = changes["change_instructions"]
            given = {lang: "" for lang in business.instructions} if given is None else dict(given)
            merged = {**business.instructions, **given}
            update["instructions"] = check_texts(
                {k: v for k, v in merged.items() if (v or "").strip()},
                languages,
                "change_instructions",
                LIMITS["instructions"],
                lines=True,
            )
        elif "locales" in update:
            update["instructions"] = {k: v for k, v in business.instructions.items() if k in languages}
        before, after = apply_changes(business, update)
        if after:
            business.change_instructions = business.instructions.get(business.default_locale)
            if "default_locale" in after:
                _resync_default_texts(session, business)
            session.add(business)
            session.flush()
            audit(
                session,
                business_id=pk(business),
                action="business.updated",
                actor=actor,
                at=now,
                before=before,
                after=after,
            )
        return business_view(business)


def _resync_default_texts(session: Session, business: Business) -> None:
    """After the default language changed: each service's single texts follow it."""
    locale = business.default_locale
    for service in session.exec(select(Service).where(Service.business_id == business.id)):
        service.name = service.names.get(locale) or service.name
        service.description = service.descriptions.get(locale, service.description)
        service.change_instructions = service.instructions.get(locale) or service.change_instructions
        session.add(service)


def get_business(engine: Engine, slug: str | None) -> BusinessView:
    """The named business, or the only one when ``slug`` is None; ``NotFound`` otherwise."""
    with read_session(engine) as session:
        return business_view(queries.business_by_slug(session, slug))


def instructions_without_service_text(engine: Engine, slug: str | None) -> dict[str, str]:
    """What customers read, in each of the business's languages, for a service without change
    instructions of its own: the business's (else a sentence with its phone and email)."""
    with read_session(engine) as session:
        business = queries.business_by_slug(session, slug)
        return {lang: business_change_instructions(business, lang) for lang in business.locales}


def list_businesses(engine: Engine) -> list[BusinessView]:
    with read_session(engine) as session:
        return [business_view(b) for b in session.exec(select(Business).order_by(col(Business.slug)))]


# --- the first run ------------------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def needs_setup(engine: Engine) -> bool:
    """Whether no business exists yet (the set-up page is then open to its one-time link)."""
    with read_session(engine) as session:
        return session.exec(select(Business.id).limit(1)).first() is None


def mint_setup_link(engine: Engine, *, now: datetime) -> str | None:
    """A fresh one-time set-up token while no business exists (None once one does)."""
    if not needs_setup(engine):  # every start of serve asks: no write lock once set up
        return None
    with write_session(engine) as session:
        if session.exec(select(Business.id).limit(1)).first() is not None:
            return None
        token = secrets.token_urlsafe(32)
        session.add(SetupLink(token_hash=_hash(token), created_at=now))
        return token


def setup_link_valid(engine: Engine, token: str) -> bool:
    """Whether ``token`` is an unused set-up link and still no business exists."""
    with read_session(engine) as session:
        return _usable_link(session, token) is not None


def _usable_link(session: Session, token: str) -> SetupLink | None:
    if not token or len(token) > 200:
        return None
    if session.exec(select(Business.id).limit(1)).first() is not None:
        return None
    link = session.exec(select(SetupLink).where(SetupLink.token_hash == _hash(token))).first()
    return link if link is not None and link.used_at is None else None


def complete_setup(
    engine: Engine,
    token: str,
    *,
    business: dict[str, Any],
    admin_email: str,
    admin_name: str,
    password: str,
    now: datetime,
) -> BusinessView:
    """Use the one-time link: create the business and its first admin (who signs in with
    ``password``), in one transaction; every set-up link is spent.

    ``business`` holds ``create_business``'s keyword values (``slug``, ``name``, ``timezone``,
    ``locale``, ``languages``, ``phone``, ``email``, …). Raises ``NotFound`` for a spent or
    unknown link, ``InvalidInput`` naming the field for bad values.
    """
    from mailflow.auth import MIN_PASSWORD_LENGTH, hash_password
    from mailflow.booking.model import ActorKind
    from mailflow.services.staff import new_staff

    actor = Actor(ActorKind.STAFF, normalize_email(admin_email, field="admin_email"))
    # Hashed before the write transaction (it takes its time; SQLite has one writer).
    hashed = hash_password(password) if len(password) >= MIN_PASSWORD_LENGTH else None
    with write_session(engine) as session:
        if _usable_link(session, token) is None:
            raise NotFound(N_("set-up link"), message=N_("the set-up link is spent or unknown"))
        values = dict(business)
        row = _new_business(
            session,
            slug=values.pop("slug", ""),
            values={name: values.pop(name, "") for name in PROFILE_FIELDS},
            locale=values.pop("locale", "en") or "en",
            languages=values.pop("languages", None) or [],
            change_instructions=values.pop("change_instructions", None) or {},
            actor=actor,
            now=now,
        )
        if values:
            raise unknown_fields(values)
        if hashed is None:
            raise InvalidInput(
                Nn_(
                    "the password must have at least {n} character",
                    "the password must have at least {n} characters",
                ),
                n=MIN_PASSWORD_LENGTH,
                field="password",
            )
        member = new_staff(
            session,
            row,
            email=admin_email,
            name=admin_name,
            role="admin",
            locale=None,
            timezone=None,
            actor=actor,
            now=now,
        )
        member.password_hash = hashed
        session.add(member)
        session.execute(update(SetupLink).where(col(SetupLink.used_at).is_(None)).values(used_at=now))
        return business_view(row)


def business_slug(engine: Engine, business_id: int) -> str:
    """The slug of the business with id ``business_id`` (the admin pages know the id of the
    signed-in member's business); ``NotFound`` when there is none."""
    with read_session(engine) as session:
        business = session.get(Business, business_id)
        if business is None:
            raise NotFound(N_("business"), str(business_id))
        return business.slug
