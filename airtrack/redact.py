"""Credentials in URLs, shown as ``***`` wherever a URL is shown (no dependencies: the
logging configuration uses it too)."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MASK", "mask_credentials", "mask_fields"]

#: ``scheme://userinfo@``: the user name and password of a URL (up to the last "@" of
#: its authority), wherever it appears in a text.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/?#\s]*@")
#: What a URL's user name and password are shown as.
MASK = "***"


def mask_credentials(text: str) -> str:
    """``text`` with the user name and password of every URL in it shown as ``***``
    (``http://user:secret@host/`` → ``http://***@host/``).

    Stream URLs keep their credentials in the database and in a worker's assignment,
    which needs them to connect; everywhere they are shown (API answers, CLI tables and
    JSON, the dashboard, diagnostics, logs, stream errors and events) they pass here."""
    if "@" not in text or "://" not in text:
        return text
    return _USERINFO.sub(rf"\1{MASK}@", text)


def mask_fields(row: dict[str, Any], *names: str) -> dict[str, Any]:
    """``row`` with the text (or list of texts) in each of ``names`` masked."""
    out = dict(row)
    for name in names:
        value = out.get(name)
        if isinstance(value, str):
            out[name] = mask_credentials(value)
        elif isinstance(value, list):
            out[name] = [mask_credentials(v) if isinstance(v, str) else v for v in value]
    return out
