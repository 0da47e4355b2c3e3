"""Test helpers that are real components (fault proxy for chaos tests)."""
