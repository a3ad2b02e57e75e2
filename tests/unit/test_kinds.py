"""EmailKind and InboundStatus: one place each, equal to the strings stored before."""

from __future__ import annotations

from pathlib import Path

import mailflow
from mailflow.kinds import (
    ACCOUNT_KINDS,
    CUSTOMER_KINDS,
    OPERATOR_KINDS,
    STAFF_KINDS,
    EmailKind,
    InboundStatus,
)
from mailflow.outbound.samples import KINDS
from mailflow.store.tables import INBOUND_WAITING

TEMPLATES = Path(mailflow.__file__).parent / "templates"


def test_every_email_kind_is_in_exactly_one_group() -> None:
    """Customer, staff, account and operator kinds together are every EmailKind, none twice."""
    groups = [*CUSTOMER_KINDS, *STAFF_KINDS, *ACCOUNT_KINDS, *OPERATOR_KINDS]
    assert sorted(groups) == sorted(EmailKind) and len(groups) == len(set(groups))


def test_every_template_kind_has_its_files_in_every_locale() -> None:
    """The kinds with templates are exactly those with a template folder entry in each locale."""
    assert KINDS == CUSTOMER_KINDS + STAFF_KINDS
    for locale in (p for p in TEMPLATES.iterdir() if p.is_dir()):
        on_disk = {f.name.split(".", 1)[0] for f in locale.iterdir() if f.is_file()}
        assert on_disk == set(KINDS), locale.name


def test_members_equal_their_stored_strings() -> None:
    """A StrEnum member is its string: stored values, JSON and dict keys are unchanged."""
    assert EmailKind.CUSTOMER_MESSAGE == "customer_message"
    assert {"customer_message": 1}[EmailKind.CUSTOMER_MESSAGE] == 1
    assert [s.value for s in InboundStatus] == ["received", "processing", "done", "error"]
    assert str(INBOUND_WAITING) == "status IN ('received', 'processing')"
