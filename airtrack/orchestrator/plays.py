"""Reading the play log, and the bounds a reported play must keep.

Recording plays is an ownership transition (ownership.py); what may be recorded
is decided here, against the orchestrator's clock and the catalog, so a buggy
or hostile worker cannot write plays from year 1 or 9999, ten-year plays or
plays of tracks that do not exist.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from airtrack.db import Database, Row
from airtrack.errors import InputRefused, ReportRequestError, UnknownStream, UnknownTrack
from airtrack.protocol import PlayIn, TitleIn
from airtrack.settings import Settings


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


def check_title_times(settings: Settings, titles: Sequence[TitleIn], now: datetime) -> None:
    """Raise :class:`InputRefused` for a title dated outside the bounds plays keep."""
    future = now + timedelta(seconds=settings.play_max_future_s)
    oldest = now - timedelta(seconds=settings.play_max_age_s)
    for t in titles:
        if not oldest <= t.at <= future:
            raise InputRefused(f"title {t.key}: at is outside the time bounds of plays")


async def check_plays(
    db: Database, settings: Settings, plays: Sequence[PlayIn], now: datetime
) -> None:
    """Raise :class:`InputRefused` naming the first play out of bounds or of an unknown track.

    A play of a track removed from the catalog is taken when its airing began before the
    removal (its start, or its song origin when earlier: a handoff's continuation starts
    late in the song): it aired while the track was in the catalog, and its report was on
    its way (held in a worker's outbox, or heard before the worker's catalog lost the
    track).  It is logged with the removed track's title, artist and source, as the
    track's earlier plays keep them.  An airing that began after the removal is refused:
    the worker's catalog was stale.
    """
    for p in plays:
        why = out_of_bounds(p, settings, now)
        if why is not None:
            raise InputRefused(why)
    wanted = sorted({p.track_id for p in plays})
    known = set(await db.fetchval("tracks_known", {"ids": wanted}))
    missing = sorted(set(wanted) - known)
    removed: dict[int, datetime] = {}
    if missing:
        rows = await db.fetch("tracks_removed_at", {"ids": missing})
        removed = {int(r["id"]): r["removed_at"] for r in rows}
    for p in plays:
        if p.track_id in known:
            continue
        gone = removed.get(p.track_id)
        if gone is None:
            raise InputRefused(f"play {p.key}: no track {p.track_id} in the catalog")
        began = min(p.started_at, p.song_origin or p.started_at)
        if began >= gone:
            raise InputRefused(
                f"play {p.key}: track {p.track_id} was removed from the catalog at "
                f"{gone.isoformat()}, before this airing began"
            )


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
    #: heard plays only unless asked: True adds the songs only station titles named
    with_metadata: bool = False


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
        raise UnknownStream(f"no stream named {q.stream!r}")
    if q.track_id is not None and not await db.fetchval("plays_track_exists", {"id": q.track_id}):
        raise UnknownTrack(f"no track #{q.track_id} in the catalog")
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
            "with_metadata": q.with_metadata,
        },
    )
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    cursor = encode_cursor(rows[-1]["started_at"], rows[-1]["id"]) if more else None
    return rows, cursor
