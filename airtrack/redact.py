"""Credentials in URLs, shown as ``***`` wherever a URL is shown (no dependencies: the
logging configuration uses it too).

Stream URLs and stats endpoints keep their credentials in the database and where they
are used (a worker's assignment, the leader's listener poll); everywhere they are shown
(API answers, CLI tables and JSON, the dashboard, diagnostics, logs, stream errors and
events) they pass here. A URL carries secrets in its user-info
(``http://admin:secret@host/``: user name and password both, since a lone user name is
often a token) or in its query (SHOUTcast's ``admin.cgi?pass=secret``).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

__all__ = ["MASK", "SECRET_PARAMS", "mask_credentials", "mask_fields", "redact_url"]

#: ``scheme://userinfo@``: the user name and password of a URL (up to the last "@" of
#: its authority), wherever it appears in a text.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/?#\s]*@")
#: What a secret is shown as.
MASK = "***"
#: Query parameters taken for secrets (compared case-insensitively).
SECRET_PARAMS = frozenset(
    {"pass", "password", "passwd", "pwd", "key", "apikey", "api_key", "token", "secret", "auth"}
)
#: A URL inside a text, up to white space or a quote.
_URL_IN_TEXT = re.compile(r"(?i)\b[a-z][a-z0-9+.\-]*://[^\s'\"]+")
#: ``?token=value`` / ``&pass=value`` in a URL: the value of a secret query parameter,
#: up to the next ``&`` or ``#``.
_SECRET_QUERY = re.compile(r"(?i)([?&](?:" + "|".join(sorted(SECRET_PARAMS)) + r")=)[^&#]*")


def mask_credentials(text: str) -> str:
    """``text`` with the user-info and the secret query values of every URL in it shown
    as ``***`` (``http://user:secret@host/`` → ``http://***@host/``,
    ``http://host/live?token=abc`` → ``http://host/live?token=***``)."""
    if "://" not in text:
        return text
    if "@" in text:
        text = _USERINFO.sub(rf"\1{MASK}@", text)
    if "=" in text:
        text = _URL_IN_TEXT.sub(lambda m: _SECRET_QUERY.sub(rf"\1{MASK}", m.group(0)), text)
    return text


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


def redact_url(url: str | None) -> str | None:
    """One URL as shown: user-info and the values of secret query parameters as ``***``;
    a URL that does not parse is shown as ``***`` whole."""
    if not url:
        return url
    try:
        urlsplit(url)
    except ValueError:
        return MASK  # unparsable: show nothing of it rather than a secret
    return mask_credentials(url)
