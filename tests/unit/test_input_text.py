"""What text airtrack stores and accepts: titles lose control characters, names are refused."""

from __future__ import annotations

import pytest

from airtrack.catalog.metadata import parse_field
from airtrack.checks import clean_text
from airtrack.errors import CatalogError


def test_clean_text_drops_controls_and_keeps_direction_marks() -> None:
    assert clean_text("a\x1b[31mb\x01c\x7fd\x9be") == "a[31mbcde"
    assert clean_text(" One\tTwo\r\nThree\u2028 ") == "One Two Three"
    assert clean_text("\u202eevil\u2066x\u2069") == "evilx"
    assert clean_text("שיר\u200f - Artist") == "שיר\u200f - Artist"  # RLM stays
    assert clean_text("Motörhead – Ace of Spades") == "Motörhead – Ace of Spades"


def test_catalog_fields_are_stored_without_controls() -> None:
    assert parse_field("title", "Song\x1b]0;owned\x07 Two") == "Song]0;owned Two"
    assert parse_field("composers", "Ann\x01; \u202eBob") == ["Ann", "Bob"]
    with pytest.raises(CatalogError):
        parse_field("title", "a\x00b")
