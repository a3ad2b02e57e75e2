"""The few sentences mailflow writes into emails itself (the templates hold the rest).

The texts are in the gettext catalogs (mailflow/i18n.py); the names looked up under a
computed key are marked here with ``N_`` so ``pybabel extract`` finds them.
"""

from __future__ import annotations

from mailflow.i18n import N_, gettext

COMPUTED = (
    N_("reason.origin_staff_and_setting_off"),
    N_("reason.cancelled"),
    N_("reason.started"),
    N_("reason.past_cutoff"),
    N_("changed_by.customer_link"),
    N_("changed_by.customer_self_service"),
    N_("changed_by.customer_reply"),
    N_("changed_by.staff"),
    N_("changed_by.team"),
    N_("changed_by.system"),
)

_EMPTY = frozenset({"reason.allowed"})  # nothing to explain when the change is allowed


def message(locale: str, key: str, **values: str) -> str:
    """The sentence ``key`` in ``locale`` (English when missing), with ``values`` filled in."""
    if key in _EMPTY:
        return ""
    return gettext(locale, key, **values)
