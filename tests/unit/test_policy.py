"""The manage policy of DESIGN §1, as a table."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from mailflow.booking import BookingStatus, ManageReason, Origin, manage_allowed
from mailflow.errors import manage_reason_text
from tests.unit.factories import START, booking, rules

SELF, STAFF = Origin.SELF_SERVICE, Origin.STAFF
OK, CANCELLED = BookingStatus.CONFIRMED, BookingStatus.CANCELLED
CUTOFF = timedelta(hours=2)
WELL_BEFORE = START - timedelta(days=1)
INSIDE_CUTOFF = START - timedelta(hours=1)
AT_CUTOFF = START - CUTOFF
AT_START = START
AFTER_START = START + timedelta(minutes=10)
R = ManageReason

# origin, setting, status, now -> allowed, reason
TABLE = [
    (SELF, False, OK, WELL_BEFORE, True, R.ALLOWED),
    (SELF, True, OK, WELL_BEFORE, True, R.ALLOWED),
    (STAFF, True, OK, WELL_BEFORE, True, R.ALLOWED),
    (STAFF, False, OK, WELL_BEFORE, False, R.ORIGIN_STAFF_AND_SETTING_OFF),
    (SELF, False, OK, AT_CUTOFF, True, R.ALLOWED),
    (SELF, False, OK, INSIDE_CUTOFF, False, R.PAST_CUTOFF),
    (STAFF, True, OK, INSIDE_CUTOFF, False, R.PAST_CUTOFF),
    (STAFF, False, OK, INSIDE_CUTOFF, False, R.ORIGIN_STAFF_AND_SETTING_OFF),
    (SELF, True, OK, AT_START, False, R.STARTED),
    (STAFF, True, OK, AFTER_START, False, R.STARTED),
    (STAFF, False, OK, AFTER_START, False, R.STARTED),
    (SELF, True, CANCELLED, WELL_BEFORE, False, R.CANCELLED),
    (STAFF, True, CANCELLED, WELL_BEFORE, False, R.CANCELLED),
    (STAFF, False, CANCELLED, AFTER_START, False, R.CANCELLED),
]


@pytest.mark.parametrize(("origin", "setting", "status", "now", "allowed", "reason"), TABLE)
def test_policy_table(
    origin: Origin, setting: bool, status: BookingStatus, now: datetime, allowed: bool, reason: ManageReason
) -> None:
    """Each combination of origin, setting, status and time gives its decision and reason."""
    decision = manage_allowed(
        booking(origin=origin, status=status),
        rules(customer_can_manage=setting, change_cutoff=CUTOFF),
        now,
    )
    assert decision.allowed is allowed
    assert decision.reason is reason
    assert bool(decision) is allowed


def test_every_reason_has_a_sentence_in_every_language() -> None:
    """The core gives a code; every code has its own readable sentence in the catalogs."""
    for locale in ("en", "de"):
        texts = {reason: manage_reason_text(reason, locale) for reason in ManageReason}
        assert all(len(text) > 10 and "." not in text[:-1] for text in texts.values()), texts
        assert len(set(texts.values())) == len(texts)
    decision = manage_allowed(booking(origin=STAFF), rules(), WELL_BEFORE)
    assert decision.reason is R.ORIGIN_STAFF_AND_SETTING_OFF
    assert (
        manage_reason_text(decision.reason)
        == "this booking was made by the business and can only be changed by them"
    )


def test_without_cutoff_customer_may_act_until_the_start() -> None:
    """With no cut-off a self-service booking can be managed up to its first minute."""
    assert manage_allowed(booking(), rules(), START - timedelta(seconds=1)).allowed
    assert not manage_allowed(booking(), rules(), START).allowed
