"""Scheduling adapters (filled in by later issues)."""
