"""The account, API-key and template use cases on a real SQLite database: audited, one transaction each."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from mailflow.booking.model import Actor, ActorKind
from mailflow.demo import seed_demo
from mailflow.errors import InvalidInput, NotFound
from mailflow.outbound.templates import TemplateSource, default_source
from mailflow.services import account_links, accounts, api_keys, sessions, templates
from mailflow.store.engine import read_session
from mailflow.store.tables import AuditEvent, OutboxMessage

ADMIN = Actor(ActorKind.STAFF, "admin@contoso.example")
PASSWORD = "a long passphrase"
BOB = "bob@contoso.example"
PUBLIC_URL = "http://testserver"
WELCOME_LINK = re.compile(r"http://testserver/admin/welcome/([A-Za-z0-9_-]+)")


@pytest.fixture
def demo(sqlite_engine: Engine, now: datetime) -> Engine:
    """A SQLite database holding the demo business."""
    seed_demo(sqlite_engine, now)
    return sqlite_engine


def contoso(engine: Engine) -> int:
    """The demo business's id."""
    return templates.business_id_of(engine, "contoso")


def audited(engine: Engine) -> list[tuple[str, str]]:
    """Every audit event as (action, actor label), oldest first."""
    with read_session(engine) as session:
        rows = session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all()
        return [(row.action, row.actor_label) for row in rows]


def invitation_token(engine: Engine) -> str:
    """The token in the link of the last invitation email in the outbox."""
    with read_session(engine) as session:
        row = session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.kind == "admin_invitation")
            .order_by(col(OutboxMessage.id))
        ).all()[-1]
        assert row.payload is not None
    message = email.message_from_bytes(row.payload, policy=email.policy.default)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    found = WELCOME_LINK.search(text)
    assert found is not None, text
    return found.group(1)


def test_revoking_a_key_is_audited_and_the_key_stops_working(demo: Engine, now: datetime) -> None:
    """A revoked key opens nothing any more, and both its creation and revocation are in the audit trail."""
    info, key = api_keys.create_api_key(demo, "contoso", label="shop", actor=ADMIN, now=now)
    assert api_keys.authenticate(demo, key, now) is not None
    api_keys.revoke_api_key(demo, "contoso", str(info.id), actor=ADMIN, now=now)
    assert api_keys.authenticate(demo, key, now) is None
    assert audited(demo)[-2:] == [("api_key.created", ADMIN.label), ("api_key.revoked", ADMIN.label)]


def test_revoking_a_key_twice_records_one_revocation(demo: Engine, now: datetime) -> None:
    """The second revocation changes nothing and audits nothing."""
    info, _key = api_keys.create_api_key(demo, "contoso", actor=ADMIN, now=now)
    first = api_keys.revoke_api_key(demo, "contoso", info.prefix, actor=ADMIN, now=now)
    again = api_keys.revoke_api_key(demo, "contoso", info.prefix, actor=ADMIN, now=now)
    assert first.revoked_at == again.revoked_at == now
    assert [action for action, _ in audited(demo)].count("api_key.revoked") == 1


def test_a_label_over_200_characters_creates_no_key(demo: Engine, now: datetime) -> None:
    """A too long label is InvalidInput naming the field, and no key is stored."""
    with pytest.raises(InvalidInput) as raised:
        api_keys.create_api_key(demo, "contoso", label="x" * 201, actor=ADMIN, now=now)
    assert raised.value.field == "label"
    assert api_keys.list_api_keys(demo, "contoso") == []


def test_an_invitation_link_works_once(demo: Engine, now: datetime) -> None:
    """The invited person chooses a password with the link; a second use of it is NotFound."""
    address = account_links.invite_staff(
        demo,
        contoso(demo),
        "New@Contoso.example",
        public_url=PUBLIC_URL,
        message_domain="testserver",
        actor=ADMIN,
        now=now,
    )
    token = invitation_token(demo)
    assert account_links.link_holder(demo, token, "invite", now) == address == "new@contoso.example"
    assert account_links.redeem_link(demo, token, "invite", PASSWORD, now=now) == address
    with pytest.raises(NotFound):
        account_links.redeem_link(demo, token, "invite", "another passphrase", now=now)
    assert sessions.sign_in(demo, address, PASSWORD, now=now) is not None
    assert ("account.invited", ADMIN.label) in audited(demo)
    assert ("account.invitation_accepted", address) in audited(demo)


def test_an_invitation_link_is_no_reset_link(demo: Engine, now: datetime) -> None:
    """A link is redeemed only for its own purpose."""
    account_links.invite_staff(
        demo, contoso(demo), BOB, public_url=PUBLIC_URL, message_domain="testserver", actor=ADMIN, now=now
    )
    token = invitation_token(demo)
    with pytest.raises(NotFound):
        account_links.redeem_link(demo, token, "reset", PASSWORD, now=now)
    assert account_links.link_holder(demo, token, "invite", now) == BOB


def test_someone_who_can_sign_in_is_not_invited(demo: Engine, now: datetime) -> None:
    """Inviting a member with a password is InvalidInput that points at “Forgot your password?”."""
    accounts.create_user(demo, "contoso", BOB, password=PASSWORD, actor=ADMIN, now=now)
    with pytest.raises(InvalidInput, match="Forgot your password"):
        account_links.invite_staff(
            demo, contoso(demo), BOB, public_url=PUBLIC_URL, message_domain="testserver", actor=ADMIN, now=now
        )


def test_creating_a_user_is_audited(demo: Engine, now: datetime) -> None:
    """Giving someone a password records who did it."""
    accounts.create_user(demo, "contoso", BOB, password=PASSWORD, actor=ADMIN, now=now)
    assert audited(demo)[-1] == ("account.password_set", ADMIN.label)


def test_signing_out_everywhere_keeps_only_the_given_session(demo: Engine, now: datetime) -> None:
    """Every other session of the person ends; the kept one still names them."""
    accounts.create_user(demo, "contoso", BOB, password=PASSWORD, actor=ADMIN, now=now)
    here = sessions.sign_in(demo, BOB, PASSWORD, now=now)
    elsewhere = sessions.sign_in(demo, BOB, PASSWORD, now=now)
    who = sessions.signed_in(demo, here, now)
    assert who is not None
    ended = sessions.sign_out_everywhere(demo, who.staff_id, actor=ADMIN, now=now, keep=here)
    assert ended == 1
    assert sessions.signed_in(demo, elsewhere, now) is None
    assert sessions.signed_in(demo, here, now) is not None
    assert audited(demo)[-1] == ("account.signed_out_everywhere", ADMIN.label)


def test_changing_a_password_needs_the_current_one(demo: Engine, now: datetime) -> None:
    """A wrong current password changes nothing."""
    user = accounts.create_user(demo, "contoso", BOB, password=PASSWORD, actor=ADMIN, now=now)
    with pytest.raises(InvalidInput) as raised:
        accounts.change_password(
            demo, user.staff_id, "wrong", "a new passphrase", keep=None, actor=ADMIN, now=now
        )
    assert raised.value.field == "current_password"
    assert accounts.password_matches(demo, user.staff_id, PASSWORD)


def test_saving_a_template_is_audited(demo: Engine, now: datetime) -> None:
    """A saved version is in force at once and recorded with its author."""
    business_id = templates.business_id_of(demo, "contoso")
    draft = default_source("confirmation", "en")
    changed = TemplateSource(draft.kind, draft.locale, draft.subject + " (edited)", draft.mjml, draft.text)
    saved = templates.save_template(demo, business_id, changed, actor=ADMIN, now=now)
    assert saved.version == 1
    assert templates.current_template(demo, business_id, "confirmation", "en").source.version == 1
    assert audited(demo)[-1] == ("template.saved", ADMIN.label)


def test_a_stale_draft_is_a_conflict_and_saves_nothing(demo: Engine, now: datetime) -> None:
    """Saving on top of a text that is no longer in force raises TemplateConflict naming the current one."""
    business_id = templates.business_id_of(demo, "contoso")
    default = default_source("confirmation", "en")
    first = TemplateSource(default.kind, default.locale, default.subject + " 1", default.mjml, default.text)
    second = TemplateSource(default.kind, default.locale, default.subject + " 2", default.mjml, default.text)
    templates.save_template(demo, business_id, first, actor=ADMIN, now=now)
    with pytest.raises(templates.TemplateConflict) as raised:
        templates.save_template(demo, business_id, second, actor=ADMIN, now=now, based_on=default.digest)
    assert raised.value.current.version == 1
    assert len(templates.template_history(demo, business_id, "confirmation", "en")) == 1


def test_reset_and_rollback_are_audited(demo: Engine, now: datetime) -> None:
    """Putting the default back and then the saved version again are both recorded."""
    business_id = templates.business_id_of(demo, "contoso")
    default = default_source("reminder", "de")
    edited = TemplateSource(default.kind, default.locale, default.subject + "!", default.mjml, default.text)
    templates.save_template(demo, business_id, edited, actor=ADMIN, now=now)
    templates.reset_template(demo, business_id, "reminder", "de", actor=ADMIN, now=now)
    assert templates.current_template(demo, business_id, "reminder", "de").source.version is None
    templates.rollback_template(demo, business_id, "reminder", "de", 1, actor=ADMIN, now=now)
    assert templates.current_template(demo, business_id, "reminder", "de").source.version == 1
    assert [action for action, _ in audited(demo)][-2:] == ["template.reset", "template.rolled_back"]
