"""Credentials in URLs, masked wherever a URL is shown (listings, edit diffs, logs).

A stats endpoint (and a stream URL) may carry its server's credentials: in the userinfo
(``http://admin:secret@host/admin/stats``) or in the query (SHOUTcast's
``admin.cgi?pass=secret``). The store keeps them, since the poll needs them; what is
shown keeps the user name and replaces each secret with ``***``.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

__all__ = ["MASK", "SECRET_PARAMS", "redact_url"]

MASK = "***"
#: Query parameters taken for secrets (compared case-insensitively).
SECRET_PARAMS = frozenset(
    {"pass", "password", "passwd", "pwd", "key", "apikey", "api_key", "token", "secret", "auth"}
)


def redact_url(url: str | None) -> str | None:
    """``url`` with its password and secret query values replaced by ``***``."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return MASK  # unparsable: show nothing of it rather than a secret
    netloc = parts.netloc
    if parts.username is not None or parts.password is not None:
        user = quote(parts.username or "", safe="")
        where = host or ""
        if ":" in where:
            where = f"[{where}]"
        if port is not None:
            where += f":{port}"
        cred = f"{user}:{MASK}" if parts.password is not None else user
        netloc = f"{cred}@{where}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() in SECRET_PARAMS for k, _ in pairs):
            query = urlencode(
                [(k, MASK if k.lower() in SECRET_PARAMS else v) for k, v in pairs], safe="*"
            )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
