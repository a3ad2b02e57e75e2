"""Inbound adapters (filled in by later issues)."""
