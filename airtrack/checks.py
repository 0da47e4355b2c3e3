"""Checks of what a stream or a catalog entry may hold, shared by the models and the imports.

Each returns the value (normalised) or raises ``ValueError`` with one line that a
caller shows as is (pydantic turns it into a 422; the imports list it by line).
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AnyUrl

#: Longest stream URL accepted (longer ones are not real stream addresses).
STREAM_URL_MAX = 2048

#: Bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069): they
#: reorder the text shown after them ("Trojan Source"), so a name or title can display as
#: something it is not. The marks U+200E, U+200F and U+061C change no order and stay.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: Line breaks and tabs inside a title: one space each (titles are one line).
_BLANKS = re.compile(r"[\t\n\r\v\f\x85\u2028\u2029]+")
#: Every other C0 control, DEL, C1 control and the bidirectional controls.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f" + "".join(sorted(BIDI_CONTROLS)) + "]")


def clean_text(value: str) -> str:
    """A title, artist or other display text as airtrack stores it: tabs and line breaks
    become one space, every other control character (C0, DEL, C1: ESC, ``\\x01``, …) and
    the bidirectional embeddings, overrides and isolates are removed, blanks trimmed.

    Titles come from files' tags, import files and stations' in-band titles (anyone
    running a monitored station writes those): they end up in terminals, logs, the
    dashboard and spreadsheets, where a control character is an escape or a disguise."""
    return _CONTROLS.sub("", _BLANKS.sub(" ", value)).strip()


def has_bidi_control(value: str) -> bool:
    return any(c in BIDI_CONTROLS for c in value)


def check_stream_name(v: str) -> str:
    """``v`` if it can name a stream."""
    # Names end up in logs, terminals, the dashboard and URL paths: no control
    # characters (C0, DEL, C1), no "/" (a path segment), no surrounding blanks.
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in v):
        raise ValueError("name must not contain control characters")
    if has_bidi_control(v):
        raise ValueError(
            "name must not contain bidirectional controls (U+202A-U+202E, U+2066-U+2069)"
        )
    if "/" in v:
        raise ValueError('name must not contain "/"')
    if v in (".", ".."):
        # a path segment "." or ".." is normalised away by HTTP clients: such a stream
        # could not be named in /streams/{name}
        raise ValueError('a stream name cannot be "." or ".."')
    if v != v.strip():
        raise ValueError("name must not start or end with white space")
    return v


def check_stream_url(value: str) -> str:
    """``value`` if it is an http(s) URL; raises ``ValueError`` with one line."""
    text = str(value).strip()
    if "\x00" in text:
        raise ValueError("a URL must not contain NUL characters")
    try:
        url = AnyUrl(text)
    except ValueError:
        raise ValueError(f"invalid URL {text[:200]!r}") from None
    if url.scheme not in ("http", "https"):
        raise ValueError(f"stream URL must be http:// or https://, got {text[:200]!r}")
    if not url.host:
        raise ValueError(f"stream URL names no host: {text[:200]!r}")
    if len(text) > STREAM_URL_MAX:
        raise ValueError(f"stream URL longer than {STREAM_URL_MAX} characters")
    return text


#: Most free-form ``extra`` keys a stream or a track holds, and the longest key: an
#: import file's ``extra.*`` columns, the API's ``extra`` and the merged result alike.
EXTRA_MAX_KEYS = 100
EXTRA_KEY_MAX = 100


def check_extra_count(count: int) -> None:
    """Raise ``ValueError`` when ``count`` extra keys are more than one record may hold."""
    if count > EXTRA_MAX_KEYS:
        raise ValueError(f"{count} extra keys; at most {EXTRA_MAX_KEYS} are kept per record")


def check_extra(extra: dict[str, Any]) -> dict[str, Any]:
    """Free-form ``extra`` keys and values: PostgreSQL's jsonb cannot hold NUL."""
    check_extra_count(len(extra))
    for key, value in extra.items():
        if "\x00" in key or (isinstance(value, str) and "\x00" in value):
            raise ValueError("extra keys and values must not contain NUL characters")
    return extra


#: Names in the system's zone folder that are files, not IANA zones.
_NOT_IANA = frozenset({"localtime", "posixrules", "Factory"})


def check_timezone(value: str) -> str:
    """``value`` if it is an IANA time zone (``Europe/Lisbon``); raises ``ValueError``."""
    text = str(value).strip()
    try:
        if not text or "\x00" in text or text.startswith(("/", ".")) or ".." in text:
            raise ValueError
        # zone files the system has but PostgreSQL does not: not IANA names
        if text in _NOT_IANA or text.startswith(("posix/", "right/")):
            raise ValueError
        ZoneInfo(text)
    except (ValueError, ZoneInfoNotFoundError, OSError):
        raise ValueError(
            f"unknown time zone {text[:64]!r}: use an IANA name such as Europe/Lisbon or UTC"
        ) from None
    return text
