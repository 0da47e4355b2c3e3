"""A track's descriptive fields: parse one field from text, apply changes (pure; no I/O).

The same rules serve ``catalog edit``, ``catalog import-metadata`` and the API, so a value
refused in one place is refused everywhere with the same words.  Every problem is a
:class:`~airtrack.errors.CatalogError` (or its ``InvalidIdentifier``) with one line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from airtrack.checks import clean_text
from airtrack.errors import CatalogError

from .identifiers import normalise_isrc, normalise_iswc

__all__ = [
    "EXTRA_PREFIX",
    "TRACK_FIELDS",
    "TRACK_TEXT_FIELDS",
    "apply_changes",
    "changed_fields",
    "parse_extra_key",
    "parse_field",
]

#: A track's text fields, as the catalog, its CLI and the reports name them.
TRACK_TEXT_FIELDS = ("title", "artist", "album", "label", "isrc", "iswc")
#: Fields a person may set; ``duration_s`` is measured but may be corrected.
TRACK_FIELDS = (*TRACK_TEXT_FIELDS, "composers", "release_year", "duration_s")
#: A column or option ``extra.KEY`` sets the free-form ``extra[KEY]``.
EXTRA_PREFIX = "extra."
_MAX_TEXT = 500


def _text(value: str, field: str) -> str:
    if "\x00" in value:
        raise CatalogError(f"{field} must not contain NUL characters")
    text = clean_text(value)  # control characters never reach a title (checks.clean_text)
    if len(text) > _MAX_TEXT:
        raise CatalogError(f"{field} is longer than {_MAX_TEXT} characters")
    return text


def parse_field(field: str, value: str) -> Any:
    """The stored value of ``field`` written as ``value``; empty text clears (None/[]).

    Composers are separated by ``;`` (names may hold commas: "Lennon, John").
    """
    if field not in TRACK_FIELDS:
        raise CatalogError(f"unknown field {field!r} (known: {', '.join(TRACK_FIELDS)}, extra.KEY)")
    text = _text(value, field)
    if field == "composers":
        return [c for c in (_text(p, field) for p in text.split(";")) if c]
    if not text:
        if field == "duration_s":
            raise CatalogError("duration_s cannot be cleared")
        return None
    if field == "isrc":
        return normalise_isrc(text)
    if field == "iswc":
        return normalise_iswc(text)
    if field == "release_year":
        if not (text.isascii() and text.isdigit() and len(text) == 4):
            raise CatalogError(f"invalid release year {value!r}: expected four digits")
        year = int(text)
        if year < 1000:
            raise CatalogError(f"invalid release year {value!r}")
        return year
    if field == "duration_s":
        try:
            seconds = float(text)
        except ValueError:
            raise CatalogError(f"invalid duration {value!r}: expected seconds") from None
        if not math.isfinite(seconds) or seconds <= 0 or seconds > 86_400:
            raise CatalogError(f"invalid duration {value!r}: expected 0 < seconds ≤ 86400")
        return seconds
    return text


def parse_extra_key(name: str) -> str | None:
    """``extra.KEY`` → ``KEY`` (None when ``name`` is not an extra column)."""
    if not name.startswith(EXTRA_PREFIX):
        return None
    key = name[len(EXTRA_PREFIX) :].strip()
    if not key or "\x00" in key or len(key) > 100:
        raise CatalogError(f"invalid extra key {name!r}")
    return key


def apply_changes(
    current: Mapping[str, Any], fields: Mapping[str, Any], extra: Mapping[str, str | None]
) -> dict[str, Any]:
    """``current`` with ``fields`` set and ``extra`` merged (a None value removes the key)."""
    new = dict(current)
    new.update(fields)
    merged = dict(current.get("extra") or {})
    for key, value in extra.items():
        if value is None or value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    new["extra"] = merged
    return new


def changed_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{field: (before, after)}`` for every field (and ``extra``) that differs."""
    out: dict[str, tuple[Any, Any]] = {}
    for name in (*TRACK_FIELDS, "extra"):
        before, after = old.get(name), new.get(name)
        if name == "composers":
            before, after = list(before or []), list(after or [])
        if name == "extra":
            before, after = dict(before or {}), dict(after or {})
        if before != after:
            out[name] = (before, after)
    return out
