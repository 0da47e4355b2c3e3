"""Reading the play log (recording plays is an ownership transition: see ownership.py)."""

from __future__ import annotations

from datetime import datetime

from airtrack.db import Database, Row
from airtrack.errors import UnknownStream


async def list_plays(
    db: Database, *, stream: str | None, since: datetime | None, limit: int
) -> list[Row]:
    """Plays newest first; an unknown ``stream`` name raises :class:`UnknownStream`.

    An empty answer for a misspelt name would read as "nothing aired", so every caller
    (CLI, API) refuses it here, in one place.
    """
    if stream is not None and not await db.fetchval("stream_exists", {"name": stream}):
        raise UnknownStream(f"no stream named {stream!r}")
    return await db.fetch("plays_list", {"stream": stream, "since": since, "limit": limit})
