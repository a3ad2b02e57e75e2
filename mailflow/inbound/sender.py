"""Who sent a message, as far as its headers can tell: the From addresses and the DMARC verdict.

A reply acts only when exactly one address stands in From (``From:
r1@example.com, mallory@evil.example`` names two people, and none names
nobody), and no trusted server said ``dmarc=fail``. Authentication-Results
are read with ``authres`` (RFC 8601 with comments, so ``(dmarc=fail)`` inside a
comment is no verdict), and only those of a server in
``MAILFLOW_TRUSTED_AUTHSERV_IDS`` count: anybody can write the header.
"""

from __future__ import annotations

import authres

from mailflow.inbound.parse import ParsedMessage, extract_addresses

__all__ = ["dmarc_failure", "from_addresses"]


def from_addresses(parsed: ParsedMessage) -> list[str]:
    """Every address in every From header, lower case, each once (a mailbox group counts each member)."""
    found = (address.lower() for _, address in extract_addresses(parsed.headers.get("from", [])) if address)
    return list(dict.fromkeys(found))


def dmarc_failure(parsed: ParsedMessage, trusted: frozenset[str]) -> str | None:
    """Why a trusted server's Authentication-Results fail DMARC, or None when none does.

    A header of a trusted server that cannot be read holds the message too: our own MX
    writes well-formed ones, so an unreadable one was written by someone else.
    """
    if not trusted:
        return None
    for value in parsed.headers.get("authentication-results", []):
        authserv = _authserv_id(value)
        if authserv not in trusted:
            continue
        try:
            header = authres.AuthenticationResultsHeader.parse(f"Authentication-Results: {value}")
        except Exception:  # authres raises its own SyntaxError, and others on odd input
            return f"unreadable Authentication-Results of {authserv}: {value.strip()[:160]}"
        if str(header.authserv_id).lower() not in trusted:
            continue
        for result in header.results:
            if str(result.method).lower() == "dmarc" and str(result.result).lower() == "fail":
                return value.strip()[:200]
    return None


def _authserv_id(value: str) -> str:
    """The authserv-id a header claims (its first word), lower case: enough to skip foreign ones."""
    first = value.split(";", 1)[0].strip()
    return first.split()[0].lower() if first else ""
