"""Manage tokens and booking references."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from mailflow.booking.tokens import (
    hash_token,
    looks_like_token,
    new_ref,
    new_token,
    token_expiry,
    token_matches,
)


def test_tokens_carry_256_bits_and_are_url_safe() -> None:
    """A token is 43 URL-safe characters and never repeats."""
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", token) for token in tokens)
    assert all(looks_like_token(token) for token in tokens)


def test_only_the_hash_matches_and_a_changed_character_does_not() -> None:
    """The stored SHA-256 matches its token and nothing else."""
    token = new_token()
    stored = hash_token(token)
    assert len(stored) == 64 and token not in stored
    assert token_matches(token, stored)
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert not token_matches(tampered, stored)


def test_malformed_tokens_are_recognised_without_a_lookup() -> None:
    """Wrong length or alphabet is caught by the shape check."""
    assert not looks_like_token("short")
    assert not looks_like_token("ä" * 43)
    assert not looks_like_token(new_token() + "x")


def test_token_expires_a_day_after_the_booking_ends() -> None:
    """Links keep working for the day after the appointment, then stop."""
    end = datetime(2026, 3, 3, 10, tzinfo=UTC)
    assert token_expiry(end) == end + timedelta(days=1)


def test_refs_are_readable_and_unambiguous() -> None:
    """References look like BK-7Q2M9X and avoid 0/O and 1/I/L."""
    refs = [new_ref() for _ in range(500)]
    assert all(re.fullmatch(r"BK-[2-9A-HJKMNP-TV-Z]{6}", ref) for ref in refs)
    assert len(set(refs)) > 490
