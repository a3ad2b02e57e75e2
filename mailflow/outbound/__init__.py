"""Outbound adapters (filled in by later issues)."""
