"""Error signatures (R4.4): the same failure, whatever its numbers, ids and addresses.

``"HTTP 404 for http://10.0.0.7:8000/live.mp3 after 3.2 s"`` and
``"HTTP 503 for http://radio.example/x after 10 s"`` both become
``"HTTP <n> for <url> after <n> s"``: one pattern, counted twice.
"""

from __future__ import annotations

import re

#: Longest signature kept (the sample keeps the original text).
MAX_SIGNATURE = 300

# Order matters: wider shapes first, so a URL's digits are not stripped piecemeal.
_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.IGNORECASE), "<url>"),
    (re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`"), "<str>"),
    (
        re.compile(
            r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE
        ),
        "<uuid>",
    ),
    (re.compile(r"\[[0-9a-f:.]+\](?::\d+)?", re.IGNORECASE), "<ip>"),
    (re.compile(r"\[?\b(?:[0-9a-f]{1,4}:){2,7}[0-9a-f]{1,4}\b\]?(?::\d+)?", re.IGNORECASE), "<ip>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"\b(?:localhost|[a-z0-9-]+(?:\.[a-z0-9-]+)+):\d+\b", re.IGNORECASE), "<host>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.IGNORECASE), "<hex>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b", re.IGNORECASE), "<hex>"),
    (re.compile(r"\b\d+(?:[.,]\d+)*(?:e[-+]?\d+)?", re.IGNORECASE), "<n>"),
]
_SPACES = re.compile(r"\s+")


def signature(message: str) -> str:
    """The message with numbers, ids, addresses, URLs and quoted text replaced by placeholders."""
    text = message.strip().splitlines()[0] if message.strip() else ""
    for pattern, placeholder in _RULES:
        text = pattern.sub(placeholder, text)
    text = _SPACES.sub(" ", text).strip()
    return text[:MAX_SIGNATURE] or "<empty>"
