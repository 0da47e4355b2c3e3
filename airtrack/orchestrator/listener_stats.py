"""A stream's listener count from its server's statistics page (pure: bytes in, int out).

Understood, told apart by their content (not by the URL, which servers let one change):

* Icecast ``/status-json.xsl``: ``{"icestats": {"source": [...]}}`` (one source is a
  bare object); each source has ``listenurl`` and ``listeners``. The source whose
  listen URL is the stream's (or one of its backups) counts: same host, port and
  path first, else the same mount path (Icecast writes its own configured hostname into
  ``listenurl``, which need not be the one the stream is reached by).
* SHOUTcast v2 JSON: ``/stats?sid=N&json=1`` (``{"currentlisteners": N, ...}``) or
  ``/statistics?json=1`` (``{"streams": [{"streampath": ..., "currentlisteners": ...}]}``).
* SHOUTcast XML (v1 ``/admin.cgi?mode=viewxml``, v2 ``/stats?sid=N``):
  ``<CURRENTLISTENERS>N</CURRENTLISTENERS>``; with several ``<STREAM>`` blocks the one
  whose ``<STREAMPATH>`` is the stream's path.
* SHOUTcast v1 ``/7.html``: ``<body>CURRENT,STATUS,PEAK,MAX,UNIQUE,BITRATE,SONG</body>``.

Anything else raises :class:`ListenerStatsError` (``kind="malformed"``) naming what was
wrong, so the operator's one log line says why.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from airtrack.errors import ListenerStatsError

__all__ = ["MAX_LISTENERS", "parse_listeners"]

#: A count above this is not a listener figure (a byte counter, a corrupt page).
MAX_LISTENERS = 100_000_000

_XML_COUNT = re.compile(rb"<CURRENTLISTENERS>\s*(\d+)\s*</CURRENTLISTENERS>", re.IGNORECASE)
_XML_STREAM = re.compile(rb"<STREAM\b[^>]*>(.*?)</STREAM>", re.IGNORECASE | re.DOTALL)
_XML_PATH = re.compile(rb"<STREAMPATH>\s*([^<]*?)\s*</STREAMPATH>", re.IGNORECASE)
_BODY = re.compile(rb"<body[^>]*>(.*?)</body>", re.IGNORECASE | re.DOTALL)


def _bad(why: str) -> ListenerStatsError:
    return ListenerStatsError("malformed", why)


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise _bad(f"{where} is not a number")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or not 0 <= value <= MAX_LISTENERS:
        raise _bad(f"{where} is not a listener count: {str(value)[:40]!r}")
    return value


def _place(url: str) -> tuple[str, int | None, str]:
    try:
        parts = urlsplit(url)
        return (parts.hostname or "", parts.port, parts.path.rstrip("/") or "/")
    except ValueError:
        return ("", None, "")


def _pick(found: Sequence[tuple[str, int]], urls: Sequence[str], what: str) -> int:
    """The count of the entry whose URL (or path) is one of ``urls``."""
    if not found:
        raise _bad(f"no {what} in the statistics")
    wanted = [_place(u) for u in urls]
    for url, count in found:
        if _place(url) in wanted:
            return count
    paths = {p for _, _, p in wanted}
    for url, count in found:
        if _place(url)[2] in paths:
            return count
    have = ", ".join(_place(u)[2] for u, _ in found[:10])
    raise _bad(f"no {what} for {', '.join(sorted(paths))} (the server has: {have})")


def _icecast(doc: dict[str, Any], urls: Sequence[str]) -> int:
    stats = doc.get("icestats")
    if not isinstance(stats, dict):
        raise _bad("icestats is not an object")
    sources = stats.get("source", [])
    if isinstance(sources, dict):
        sources = [sources]
    if not isinstance(sources, list):
        raise _bad("icestats.source is not a list")
    found = [
        (str(s.get("listenurl") or ""), _count(s.get("listeners"), "source listeners"))
        for s in sources
        if isinstance(s, dict)
    ]
    return _pick(found, urls, "Icecast source")


def _shoutcast_json(doc: dict[str, Any], urls: Sequence[str]) -> int:
    if "currentlisteners" in doc:
        return _count(doc["currentlisteners"], "currentlisteners")
    streams = doc.get("streams")
    if not isinstance(streams, list):
        raise _bad("neither icestats, currentlisteners nor streams in the JSON")
    found = [
        (str(s.get("streampath") or ""), _count(s.get("currentlisteners"), "currentlisteners"))
        for s in streams
        if isinstance(s, dict)
    ]
    if len(found) == 1:
        return found[0][1]
    return _pick(found, urls, "SHOUTcast stream")


def _shoutcast_xml(body: bytes, urls: Sequence[str]) -> int:
    blocks = _XML_STREAM.findall(body)
    if len(blocks) > 1:
        found = []
        for block in blocks:
            count, path = _XML_COUNT.search(block), _XML_PATH.search(block)
            if count is not None:
                where = path.group(1).decode("ascii", "replace") if path else ""
                found.append((where, _count(int(count.group(1)), "CURRENTLISTENERS")))
        return _pick(found, urls, "SHOUTcast stream")
    m = _XML_COUNT.search(body)
    assert m is not None
    return _count(int(m.group(1)), "CURRENTLISTENERS")


def _seven_html(body: bytes) -> int:
    m = _BODY.search(body)
    if m is None:
        raise _bad("not JSON, SHOUTcast XML or a SHOUTcast 7.html page")
    fields = m.group(1).decode("latin-1").strip().split(",")
    if len(fields) < 6 or not all(f.strip().isdigit() for f in fields[:6]):
        raise _bad("a 7.html body is CURRENT,STATUS,PEAK,MAX,UNIQUE,BITRATE,SONG")
    return _count(int(fields[0]), "7.html current listeners")


def parse_listeners(body: bytes, urls: Sequence[str]) -> int:
    """The listener count for the stream reached by ``urls`` (its URL, then its backups)."""
    text = body.lstrip()
    if text.startswith(b"{"):
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):
            raise _bad("invalid JSON") from None
        if not isinstance(doc, dict):
            raise _bad("the JSON is not an object")
        if "icestats" in doc:
            return _icecast(doc, urls)
        return _shoutcast_json(doc, urls)
    if _XML_COUNT.search(body):
        return _shoutcast_xml(body, urls)
    return _seven_html(body)
