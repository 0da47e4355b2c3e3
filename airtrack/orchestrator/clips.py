"""Proof clips at the orchestrator: fenced uploads, clip requests, retention, reads.

The one caller of ``airtrack/db/clips.sql`` and ``queries_clips.sql``. Clips are a
fenced batch like plays: :func:`record_clips` goes through
:func:`airtrack.orchestrator.play_log.record_batch` (the fence of ownership.sql), so a
worker stores clips only of the streams it owns, at its epochs. Each stream stores at
most ``clips_per_stream_hour`` clips an hour (the rest come back ``limited``).

A clip is tied to what it proves by a key, not an id (docs/design.md#proof-clips): a
play's clip carries the play's idempotency key (the worker never learns play ids, and
the clip may arrive first); a requested clip carries its request's id.

:func:`request_clip` asks for a stretch of a stream that is not a play (an airing of a
recurring unknown); every replica keeps the pending requests in memory
(:class:`PendingClipRequests`, read every ``clip_requests_poll_s``) and hands each to its
stream's owner in heartbeat replies, which cuts it from its rolling buffer if it still
holds it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from airtrack.db import Database
from airtrack.errors import ClipTooLarge, InputRefused, first_line
from airtrack.logging import get_logger
from airtrack.metrics import CLIPS
from airtrack.orchestrator.archive import decode_base64
from airtrack.orchestrator.play_log import _Batch, record_batch
from airtrack.protocol import ClipIn, ClipWanted, PlayResult
from airtrack.settings import Settings

log = get_logger(__name__)

#: How far ahead of the orchestrator's clock a clip may start (clock skew).
_FUTURE_S = 120.0
#: Pending requests one replica keeps in memory (the oldest first).
_PENDING_MAX = 10_000
#: Clips (and requests) one retention pass deletes at most.
_DELETE_PER_PASS = 10_000


def decode_data(clip: ClipIn) -> bytes:
    return decode_base64(clip.data, f"clip {clip.key}")


def check_sizes(settings: Settings, clips: Sequence[ClipIn]) -> None:
    """Refuse (413) a clip larger than ``clip_max_bytes``, before anything is read."""
    for clip in clips:
        if len(clip.data) * 3 // 4 > settings.clip_max_bytes:
            raise ClipTooLarge(f"clip {clip.key}: larger than {settings.clip_max_bytes} B")


def check_clips(settings: Settings, clips: Sequence[ClipIn], now: datetime) -> None:
    """Refuse (422) what a worker may not upload: out of the kept days, not base64."""
    oldest = now - timedelta(days=settings.clip_days)
    for clip in clips:
        if clip.started_at < oldest or clip.started_at > now + timedelta(seconds=_FUTURE_S):
            raise InputRefused(f"clip {clip.key}: starts outside the clips' kept days")
        decode_data(clip)


async def record_clips(
    db: Database, settings: Settings, clips: Sequence[ClipIn], *, worker: str | None
) -> list[PlayResult]:
    """Store a batch of clips: each ``stored``, ``duplicate``, ``stale`` (the fence) or
    ``limited`` (the stream's hourly cap)."""
    params: dict[str, Any] = {
        "starts": [c.started_at for c in clips],
        "durations": [c.duration_s for c in clips],
        "play_keys": [c.play_key for c in clips],
        "request_ids": [c.request_id for c in clips],
        "media_types": [c.media_type for c in clips],
        "datas": [decode_data(c) for c in clips],
        "per_hour": settings.clips_per_stream_hour,
    }
    sids = [c.stream_id for c in clips]
    results = await record_batch(
        db, settings, _Batch("clip", "clips_record", clips, params, CLIPS, worker)
    )
    limited = sum(r.status == "limited" for r in results)
    if limited:
        log.warning("clips.limited", count=limited, streams=sorted(set(sids)), worker=worker)
    return results


async def request_clip(
    db: Database,
    stream_id: int,
    start: datetime,
    end: datetime,
    unknown_id: int | None = None,
) -> int:
    """Ask the stream's owner for a clip of ``start``..``end`` (wall time); the request's id.

    Asking again for the same stretch returns the same request. The owner cuts the clip
    from its rolling buffer (at most ``clip_request_max_s`` from ``start``) if it still
    holds it; the leader expires requests older than ``clip_buffer_s``. The clip, once
    stored, carries ``unknown_id``: :func:`clip_of_unknown` finds it.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise InputRefused("a clip request's times must carry a time zone")
    if end <= start:
        raise InputRefused(f"a clip request must end after it starts ({start} .. {end})")
    params = {"sid": stream_id, "start": start, "end": end, "unknown_id": unknown_id}
    request_id = int(await db.fetchval("clip_request_add", params))
    log.info(
        "clips.requested",
        request_id=request_id,
        stream_id=stream_id,
        start=start.isoformat(),
        end=end.isoformat(),
        unknown_id=unknown_id,
    )
    return request_id


async def clip_request(db: Database, request_id: int) -> dict[str, Any] | None:
    """One clip request as stored (its ``state``: pending, done or expired)."""
    rows = await db.fetch("clip_request_get", {"id": request_id})
    return dict(rows[0]) if rows else None


@dataclass(frozen=True)
class Clip:
    id: int
    stream_id: int
    started_at: datetime
    duration_s: float
    media_type: str
    data: bytes


def _clip(rows: Sequence[Any]) -> Clip | None:
    if not rows:
        return None
    r = rows[0]
    return Clip(
        int(r["id"]),
        int(r["stream_id"]),
        r["started_at"],
        float(r["duration_s"]),
        str(r["media_type"]),
        bytes(r["data"]),
    )


async def clip_of_play(db: Database, play_id: int) -> Clip | None:
    """The clip of a play (uploaded under one of its keys), or None."""
    return _clip(await db.fetch("clip_of_play", {"id": play_id}))


async def clip_of_unknown(db: Database, unknown_id: int) -> Clip | None:
    """The newest clip of a recurring unknown's airings, or None."""
    return _clip(await db.fetch("clip_of_unknown", {"id": unknown_id}))


async def maintain(db: Database, settings: Settings) -> dict[str, int]:
    """Expire requests past the workers' buffers; drop clips past ``clip_days``."""
    params = {
        "keep_days": settings.clip_days,
        "buffer_s": settings.clip_buffer_s,
        "limit": _DELETE_PER_PASS,
    }
    result = await db.fetchval("clips_maintain", params)
    done = {k: int(result[k]) for k in ("expired", "clips", "requests")}
    if any(done.values()):
        log.info("clips.maintained", **done)
    return done


async def stats(db: Database) -> dict[str, Any]:
    rows = await db.fetch("clips_stats")
    return dict(rows[0]) if rows else {}


class PendingClipRequests:
    """The pending clip requests, read by each replica every ``clip_requests_poll_s``:
    heartbeat replies pick their streams' requests from memory (no query per beat)."""

    def __init__(self) -> None:
        self._by_stream: dict[int, list[ClipWanted]] = {}

    async def refresh(self, db: Database) -> None:
        rows = await db.fetch("clip_requests_pending", {"limit": _PENDING_MAX})
        by_stream: dict[int, list[ClipWanted]] = {}
        for r in rows:
            wanted = ClipWanted(
                id=r["id"], stream_id=r["stream_id"], start=r["start"], end=r["end"]
            )
            by_stream.setdefault(wanted.stream_id, []).append(wanted)
        self._by_stream = by_stream

    def for_streams(self, stream_ids: Iterable[int]) -> list[ClipWanted]:
        return [w for sid in stream_ids for w in self._by_stream.get(sid, ())]

    async def watch(self, db: Database, every_s: float, stop: asyncio.Event) -> None:
        """Refresh until ``stop``; a failed read keeps the last list (tried again)."""
        while not stop.is_set():
            try:
                await self.refresh(db)
            except Exception as exc:  # the DB may be down: keep serving
                log.warning("clips.requests_read_failed", error=first_line(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)
