"""API keys for ``/api/v1``: the bearer look-up and the key actions live in ``mailflow.services.api_keys``.

Re-exported here, where the API's routes (and scripts) have always found them.
"""

from __future__ import annotations

from mailflow.services.api_keys import (
    LAST_USED_RESOLUTION,
    ApiCaller,
    ApiKeyInfo,
    authenticate,
    create_api_key,
    display_prefix,
    list_api_keys,
    new_key,
    revoke_api_key,
)

__all__ = [
    "LAST_USED_RESOLUTION",
    "ApiCaller",
    "ApiKeyInfo",
    "authenticate",
    "create_api_key",
    "display_prefix",
    "list_api_keys",
    "new_key",
    "revoke_api_key",
]
