"""Reading the play log, and the bounds a reported play must keep.

Recording plays is an ownership transition (ownership.py); what may be recorded
is decided here, against the orchestrator's clock and the catalog, so a buggy
or hostile worker cannot write plays from year 1 or 9999, ten-year plays or
plays of tracks that do not exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from airtrack.db import Database, Row
from airtrack.errors import InputRefused, UnknownStream
from airtrack.protocol import PlayIn
from airtrack.settings import Settings


async def list_plays(
    db: Database, *, stream: str | None, since: datetime | None, limit: int
) -> list[Row]:
    """The newest plays first, of one stream or all, started at or after ``since``.

    Raises ``UnknownStream`` for a stream name that does not exist: an empty answer would
    read as "nothing aired".
    """
    if stream is not None and (
        "\x00" in stream or await db.fetchval("stream_id_by_name", {"name": stream}) is None
    ):
        raise UnknownStream(f"no stream named {stream!r}")
    return await db.fetch("plays_list", {"stream": stream, "since": since, "limit": limit})


def out_of_bounds(play: PlayIn, settings: Settings, now: datetime) -> str | None:
    """Why ``play`` breaks a time bound relative to ``now``, or None when it keeps them."""
    future = now + timedelta(seconds=settings.play_max_future_s)
    oldest = now - timedelta(seconds=settings.play_max_age_s)
    if play.started_at > future:
        return f"play {play.key}: started_at is in the future"
    if play.started_at < oldest:
        return f"play {play.key}: started_at is older than {settings.play_max_age_s:g} s"
    if play.ended_at is not None:
        if play.ended_at > future:
            return f"play {play.key}: ended_at is in the future"
        if (play.ended_at - play.started_at).total_seconds() > settings.play_max_duration_s:
            return f"play {play.key}: longer than {settings.play_max_duration_s:g} s"
    return None


async def check_plays(
    db: Database, settings: Settings, plays: Sequence[PlayIn], now: datetime
) -> None:
    """Raise :class:`InputRefused` naming the first play out of bounds or of an unknown track."""
    for p in plays:
        why = out_of_bounds(p, settings, now)
        if why is not None:
            raise InputRefused(why)
    wanted = sorted({p.track_id for p in plays})
    known = set(await db.fetchval("tracks_known", {"ids": wanted}))
    for p in plays:
        if p.track_id not in known:
            raise InputRefused(f"play {p.key}: no track {p.track_id} in the catalog")
