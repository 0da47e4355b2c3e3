"""Reading the play log (recording plays is an ownership transition: see ownership.py)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from airtrack.db import Database, Row
from airtrack.errors import ReportRequestError, UnknownName


async def list_plays(
    db: Database, *, stream: str | None, since: datetime | None, limit: int
) -> list[Row]:
    """The newest plays first, of one stream or all, started at or after ``since``."""
    return await db.fetch("plays_list", {"stream": stream, "since": since, "limit": limit})


def encode_cursor(started_at: datetime, play_id: int) -> str:
    """An opaque keyset position: the last play of a page."""
    raw = json.dumps([started_at.isoformat(), play_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, play_id = json.loads(raw)
        return datetime.fromisoformat(at), int(play_id)
    except (binascii.Error, ValueError, TypeError):
        raise ReportRequestError("invalid cursor: pass next_cursor from the last page") from None


@dataclass(frozen=True)
class PlayQuery:
    stream: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    track_id: int | None = None
    isrc: str | None = None
    limit: int = 100
    cursor: str | None = None


async def page_plays(db: Database, q: PlayQuery) -> tuple[list[Row], str | None]:
    """One page of plays, newest first, and the cursor of the next page (None at the end).

    An unknown stream or track is an error naming it, not an empty page.
    """
    for value, what in ((q.since, "since"), (q.until, "until")):
        if value is not None and value.tzinfo is None:
            raise ReportRequestError(f"{what} must carry a time zone (e.g. 2026-01-01T00:00:00Z)")
    if q.since and q.until and q.until <= q.since:
        raise ReportRequestError("empty or reversed range: until is not after since")
    if q.stream is not None and not await db.fetchval("plays_stream_exists", {"name": q.stream}):
        raise UnknownName(f"unknown stream: {q.stream}")
    if q.track_id is not None and not await db.fetchval("plays_track_exists", {"id": q.track_id}):
        raise UnknownName(f"unknown track: #{q.track_id}")
    after_at, after_id = decode_cursor(q.cursor) if q.cursor else (None, None)
    rows = await db.fetch(
        "plays_page",
        {
            "stream": q.stream,
            "since": q.since,
            "until": q.until,
            "track_id": q.track_id,
            "isrc": q.isrc,
            "after_at": after_at,
            "after_id": after_id,
            "limit": q.limit + 1,
        },
    )
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    cursor = encode_cursor(rows[-1]["started_at"], rows[-1]["id"]) if more else None
    return rows, cursor
