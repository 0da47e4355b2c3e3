"""Reading the play log (recording plays is an ownership transition: see ownership.py)."""

from __future__ import annotations

from datetime import datetime

from airtrack.db import Database, Row
from airtrack.errors import UnknownStream


async def list_plays(
    db: Database,
    *,
    stream: str | None,
    since: datetime | None,
    limit: int,
    with_metadata: bool = False,
) -> list[Row]:
    """The newest plays first, of one stream or all, started at or after ``since``.

    Heard (fingerprint) plays only; ``with_metadata`` adds the songs only the stations'
    titles named (``play_source`` 'metadata').

    Raises ``UnknownStream`` for a stream name that does not exist: an empty answer would
    read as "nothing aired".
    """
    if stream is not None and (
        "\x00" in stream or await db.fetchval("stream_id_by_name", {"name": stream}) is None
    ):
        raise UnknownStream(f"no stream named {stream!r}")
    return await db.fetch(
        "plays_list",
        {"stream": stream, "since": since, "limit": limit, "with_metadata": with_metadata},
    )
