"""The docs that are generated from code must match it."""

from __future__ import annotations

from pathlib import Path

from airtrack.settings import settings_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_settings_doc_is_current() -> None:
    doc = (ROOT / "docs" / "settings.md").read_text()
    assert doc == settings_markdown(), (
        "docs/settings.md is stale: run `airtrack settings --markdown > docs/settings.md`"
    )


def test_readme_states_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
