"""Rights metadata from a file's tags (mutagen): ID3, Vorbis comments, MP4 atoms.

Only what the tags hold is returned; a malformed identifier in a tag is dropped (and
logged), never a reason to refuse the song: the audio is still worth recognising, and the
identifier can be set later with ``catalog edit`` or ``catalog import-metadata``.
"""

from __future__ import annotations

import re
from typing import Any

import mutagen
from mutagen.id3 import ID3
from mutagen.mp4 import MP4Tags

from airtrack.errors import CatalogError
from airtrack.logging import get_logger

from .metadata import parse_field

__all__ = ["read_rights_tags"]

log = get_logger(__name__)

_ID3 = {"TIT2": "title", "TPE1": "artist", "TALB": "album", "TPUB": "label", "TSRC": "isrc"}
# Vorbis comment names (case-insensitive) in order of preference per field
_VORBIS = {
    "title": ("title",),
    "artist": ("artist", "albumartist"),
    "album": ("album",),
    "label": ("label", "organization", "publisher"),
    "isrc": ("isrc",),
    "iswc": ("iswc",),
    "date": ("date", "year", "originaldate"),
}
_MP4 = {
    "title": ("\xa9nam",),
    "artist": ("\xa9ART", "aART"),
    "album": ("\xa9alb",),
    "label": ("----:com.apple.iTunes:LABEL", "----:com.apple.iTunes:publisher"),
    "isrc": ("----:com.apple.iTunes:ISRC",),
    "iswc": ("----:com.apple.iTunes:ISWC",),
    "date": ("\xa9day",),
}
_YEAR = re.compile(r"^\s*(\d{4})")


def _str(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _first(values: Any) -> str | None:
    if values is None:
        return None
    if not isinstance(values, list):
        values = [values]
    for v in values:
        text = _str(v).strip()
        if text:
            return text
    return None


def _raw_id3(tags: ID3) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for frame, field in _ID3.items():
        if frame in tags:
            raw[field] = _first(list(tags[frame].text))
    if "TCOM" in tags:
        # ID3v2.4 keeps several composers as separate strings, v2.3 joins them with "/"
        names = [n for t in tags["TCOM"].text for n in re.split(r"[/;]", str(t))]
        raw["composers"] = names
    if "TDRC" in tags:
        raw["date"] = _first([str(t) for t in tags["TDRC"].text])
    for frame in tags.getall("TXXX"):  # type: ignore[no-untyped-call]
        if frame.desc.upper() == "ISWC":
            raw["iswc"] = _first(list(frame.text))
    return raw


def _raw_keyed(tags: Any, table: dict[str, tuple[str, ...]], composer: str) -> dict[str, Any]:
    keys = list(tags.keys())  # not iter(tags): a VComment iterates (key, value) pairs
    lower = {str(k).lower(): k for k in keys}
    raw: dict[str, Any] = {}
    for field, names in table.items():
        for name in names:
            key = lower.get(name.lower())
            if key is not None and (value := _first(tags[key])) is not None:
                raw[field] = value
                break
    key = lower.get(composer.lower())
    if key is not None:
        values = tags[key] if isinstance(tags[key], list) else [tags[key]]
        raw["composers"] = [n for v in values for n in _str(v).split(";")]
    return raw


def read_rights_tags(path: str) -> dict[str, Any]:
    """``{field: value}`` for the tagged fields among title, artist, album, label, isrc,
    iswc, composers and release_year; empty when the file has no (readable) tags."""
    try:
        audio = mutagen.File(path)
    except Exception as exc:  # mutagen raises many types on damaged headers
        log.info("catalog.tags.unreadable", path=path, error=type(exc).__name__)
        return {}
    if audio is None or audio.tags is None:
        return {}
    tags = audio.tags
    if isinstance(tags, ID3):
        raw = _raw_id3(tags)
    elif isinstance(tags, MP4Tags):
        raw = _raw_keyed(tags, _MP4, "\xa9wrt")
    else:  # Vorbis comments (Ogg, Opus, FLAC) and other key/value tags
        raw = _raw_keyed(tags, _VORBIS, "composer")
    return _parsed(raw, path)


def _parsed(raw: dict[str, Any], path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field, value in raw.items():
        if field == "date":
            m = _YEAR.match(value or "")
            if m and int(m.group(1)) >= 1000:
                out["release_year"] = int(m.group(1))
            continue
        if field == "composers":
            names = [n.strip() for n in value if n and n.strip()]
            if names:
                out["composers"] = names
            continue
        if value is None:
            continue
        try:
            parsed = parse_field(field, value)
        except CatalogError as exc:
            log.warning("catalog.tags.ignored", path=path, field=field, reason=str(exc))
            continue
        if parsed is not None:
            out[field] = parsed
    return out
