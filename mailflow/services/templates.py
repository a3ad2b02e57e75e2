"""A business's email templates: save a version, roll back, reset, send a test; read what is in force.

Each change is one transaction, audited (``template.saved``, ``template.rolled_back``,
``template.reset``). The storage rules (validation, numbering, nothing ever deleted)
are in ``mailflow.outbound.template_store``; these functions give them a transaction
and an audit trail, so the CLI, the API and the editor behave alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from mailflow.booking.model import Actor
from mailflow.errors import MailflowError, NotFound
from mailflow.i18n import N_
from mailflow.outbound import template_store
from mailflow.outbound.compose import Address, Envelope, compose, new_message_id
from mailflow.outbound.fallbacks import FallbackNotice, fallback_notices
from mailflow.outbound.message import OutgoingEmail
from mailflow.outbound.outbox import enqueue
from mailflow.outbound.render import RenderedEmail
from mailflow.outbound.samples import KINDS
from mailflow.outbound.template_store import TemplateState, VersionInfo
from mailflow.outbound.templates import TemplateSource, default_locales
from mailflow.services.common import audit
from mailflow.store import queries
from mailflow.store.engine import read_session, write_session
from mailflow.store.tables import Business, pk

__all__ = [
    "CurrentTemplate",
    "TemplateConflict",
    "business_id_of",
    "current_template",
    "import_templates",
    "list_templates",
    "reset_template",
    "rollback_template",
    "save_template",
    "send_test_email",
    "template_fallbacks",
    "template_history",
    "template_states",
    "version_history",
]

TEST_PREFIX = "[Test] "


class TemplateConflict(MailflowError):
    """Another version came into force while a draft was edited; ``current`` is the one in force now."""

    exit_code = 5

    def __init__(self, current: TemplateSource) -> None:
        super().__init__(
            f"template {current.kind}/{current.locale} changed meanwhile (now the {current.origin}): "
            "look at the history, then save again"
        )
        self.current = current


@dataclass(frozen=True, slots=True)
class CurrentTemplate:
    """One ``(kind, locale)``: the text in force (a saved version or the default) and every saved version."""

    source: TemplateSource
    history: list[VersionInfo]


def _all_keys() -> list[tuple[str, str]]:
    return [(kind, locale) for locale in default_locales() for kind in KINDS]


# --- reads ---------------------------------------------------------------------------


def business_id_of(engine: Engine, business: str | None) -> int:
    """The id of business ``business`` (None: the only one); ``NotFound`` or ``InvalidInput`` otherwise."""
    with read_session(engine) as session:
        return pk(queries.business_by_slug(session, business))


def _current(session: Session, business_id: int, kind: str, locale: str) -> CurrentTemplate:
    return CurrentTemplate(
        template_store.effective_source(session, business_id, kind, locale),
        template_store.history(session, business_id, kind, locale),
    )


def current_template(engine: Engine, business_id: int, kind: str, locale: str) -> CurrentTemplate:
    """The template in force for ``(kind, locale)`` and its saved versions, oldest first.

    Raises ``InvalidInput`` for a kind or locale mailflow has no template for.
    """
    with read_session(engine) as session:
        return _current(session, business_id, kind, locale)


def list_templates(engine: Engine, business_id: int) -> list[CurrentTemplate]:
    """Every kind × locale (by locale, then kind) with what is in force and its saved versions."""
    with read_session(engine) as session:
        return [_current(session, business_id, kind, locale) for kind, locale in _all_keys()]


def template_states(engine: Engine, business_id: int) -> dict[tuple[str, str], TemplateState]:
    """The state of every ``(kind, locale)``: the default, or which saved version is in force."""
    with read_session(engine) as session:
        return template_store.states(session, business_id)


def template_fallbacks(engine: Engine, business_id: int) -> list[FallbackNotice]:
    """The edited versions in force that emails could not use (over a limit, or failing) since when:
    the default went out instead. Newest first; one per version however many emails it concerned."""
    with read_session(engine) as session:
        return fallback_notices(session, business_id)


def template_history(engine: Engine, business_id: int, kind: str, locale: str) -> list[VersionInfo]:
    """Every saved version of ``(kind, locale)``, oldest first, marking the current one."""
    with read_session(engine) as session:
        return template_store.history(session, business_id, kind, locale)


def version_history(
    engine: Engine, business_id: int, kind: str, locale: str
) -> list[tuple[VersionInfo, TemplateSource]]:
    """Every saved version of ``(kind, locale)`` with its text, oldest first."""
    with read_session(engine) as session:
        return [
            (info, template_store.version_source(session, business_id, kind, locale, info.version))
            for info in template_store.history(session, business_id, kind, locale)
        ]


# --- changes -------------------------------------------------------------------------


def _audit_version(
    session: Session,
    business_id: int,
    action: str,
    key: tuple[str, str],
    versions: tuple[int | None, int | None],
    actor: Actor,
    now: datetime,
) -> None:
    """Record that the version in force of ``key`` (kind, locale) went from ``versions[0]`` to ``[1]``."""
    kind, locale = key
    audit(
        session,
        business_id=business_id,
        action=action,
        actor=actor,
        at=now,
        before={"kind": kind, "locale": locale, "version": versions[0]},
        after={"kind": kind, "locale": locale, "version": versions[1]},
    )


def _save(
    session: Session,
    business_id: int,
    source: TemplateSource,
    current: TemplateSource,
    *,
    actor: Actor,
    now: datetime,
    note: str = "",
) -> TemplateSource:
    saved = template_store.save_version(
        session, business_id, source, author=actor.label, now=now, note=note, checked=True
    )
    key = (source.kind, source.locale)
    _audit_version(session, business_id, "template.saved", key, (current.version, saved.version), actor, now)
    return saved


def save_template(
    engine: Engine,
    business_id: int,
    source: TemplateSource,
    *,
    actor: Actor,
    now: datetime,
    note: str = "",
    based_on: str | None = None,
) -> TemplateSource:
    """Validate ``source`` and store it as the new version in force; returns it with its number.

    ``actor.label`` is kept as the version's author, with ``note`` (why, at most
    ``template_store.NOTE_MAX`` characters). With ``based_on`` (the digest of the
    text in force when editing began) nothing is saved when another text came
    into force since. Audited as ``template.saved``. Raises ``TemplateInvalid``
    (every problem), ``InvalidInput`` for an unknown kind or locale or a too long
    note, ``TemplateConflict`` when ``based_on`` is stale or another save took
    the version number at the same moment.
    """
    template_store.check_draft(source)  # the samples are rendered before the write lock is taken
    try:
        with write_session(engine) as session:
            current = template_store.effective_source(session, business_id, source.kind, source.locale)
            if based_on is not None and based_on != current.digest:
                raise TemplateConflict(current)
            return _save(session, business_id, source, current, actor=actor, now=now, note=note.strip())
    except IntegrityError:  # another admin saved this very moment: their version number is taken
        raise TemplateConflict(
            current_template(engine, business_id, source.kind, source.locale).source
        ) from None


def import_templates(
    engine: Engine, business_id: int, sources: Sequence[TemplateSource], *, actor: Actor, now: datetime
) -> list[TemplateSource]:
    """Save each of ``sources`` that differs from the text in force, all in one transaction.

    Returns the versions saved (unchanged ones are skipped); when one fails
    validation (``TemplateInvalid``) none is saved. Each is audited as ``template.saved``.
    """
    with read_session(engine) as session:
        changed = [
            source
            for source in sources
            if template_store.effective_source(session, business_id, source.kind, source.locale).digest
            != source.digest
        ]
    for source in changed:
        template_store.check_draft(source)  # before the write lock, as in ``save_template``
    saved = []
    with write_session(engine) as session:
        for source in sources:
            current = template_store.effective_source(session, business_id, source.kind, source.locale)
            if current.digest == source.digest:
                continue
            saved.append(_save(session, business_id, source, current, actor=actor, now=now))
    return saved


def rollback_template(
    engine: Engine, business_id: int, kind: str, locale: str, version: int, *, actor: Actor, now: datetime
) -> TemplateSource:
    """Put saved ``version`` of ``(kind, locale)`` in force again; returns its text.

    Audited as ``template.rolled_back``. Raises ``NotFound`` when there is no
    such version, ``TemplateInvalid`` when it no longer passes validation,
    ``InvalidInput`` for an unknown kind or locale.
    """
    with read_session(engine) as session:
        wanted = template_store.version_source(session, business_id, kind, locale, version)
    template_store.check_draft(wanted)  # it must still pass (limits may have changed); before the lock
    with write_session(engine) as session:
        before = template_store.effective_source(session, business_id, kind, locale).version
        source = template_store.rollback(session, business_id, kind, locale, version, checked=True)
        _audit_version(
            session, business_id, "template.rolled_back", (kind, locale), (before, version), actor, now
        )
        return source


def reset_template(
    engine: Engine, business_id: int, kind: str, locale: str, *, actor: Actor, now: datetime
) -> TemplateSource:
    """Put the shipped default of ``(kind, locale)`` in force again; saved versions stay for a rollback.

    Audited as ``template.reset``. Raises ``InvalidInput`` for an unknown kind or locale.
    """
    with write_session(engine) as session:
        before = template_store.effective_source(session, business_id, kind, locale).version
        source = template_store.reset(session, business_id, kind, locale)
        _audit_version(session, business_id, "template.reset", (kind, locale), (before, None), actor, now)
        return source


def send_test_email(
    engine: Engine,
    business_id: int,
    kind: str,
    email: RenderedEmail,
    *,
    to: Address,
    message_domain: str,
    now: datetime,
) -> None:
    """Queue ``email`` (a rendered draft) to ``to``, its subject marked ``[Test]``, bound to no booking.

    It goes through the outbox like every email (so it shows in ``/dev/mail``).
    Raises ``NotFound`` for an unknown business.
    """
    with write_session(engine) as session:
        business = session.get(Business, business_id)
        if business is None:
            raise NotFound(N_("business"), str(business_id))
        sender = Address(
            business.sender_email or business.email or to.email, business.sender_name or business.name
        )
        envelope = Envelope(
            sender=sender,
            to=to,
            message_id=new_message_id(message_domain),
            date=now,
            kind=kind,
            reply_to=Address(business.email, business.name) if business.email else None,
        )
        rendered = RenderedEmail(TEST_PREFIX + email.subject, email.html, email.text)
        data = compose(envelope, rendered)
        outgoing = OutgoingEmail(kind, to.email, envelope.message_id, rendered.subject, data)
        enqueue(
            session, outgoing, business_id=business_id, booking_id=None, envelope_from=sender.email, now=now
        )
