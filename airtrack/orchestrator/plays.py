"""Reading the play log (recording plays is an ownership transition: see ownership.py)."""

from __future__ import annotations

from datetime import datetime

from airtrack.db import Database, Row


async def list_plays(
    db: Database, *, stream: str | None, since: datetime | None, limit: int
) -> list[Row]:
    """The newest plays first, of one stream or all, started at or after ``since``."""
    return await db.fetch("plays_list", {"stream": stream, "since": since, "limit": limit})
