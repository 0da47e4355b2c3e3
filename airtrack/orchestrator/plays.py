"""Plays: fenced by epoch (R3.3), idempotent by key, one row per airing (§5.6)."""

from __future__ import annotations

from datetime import datetime

from airtrack.db import Database, Row, Tx
from airtrack.errors import UnknownStream
from airtrack.logging import get_logger
from airtrack.metrics import PLAYS
from airtrack.protocol import PlayIn, PlayResult, PlayStatus

log = get_logger("airtrack.orchestrator.plays")

#: Two reports of one track on one stream this close together are one airing.
CONTINUATION_GAP_S = 10.0


async def record_plays(db: Database, plays: list[PlayIn]) -> list[PlayResult]:
    """Store a batch; each item is ``stored``, ``duplicate`` or ``stale``."""
    sids = sorted({p.stream_id for p in plays})

    async def fn(tx: Tx) -> list[PlayResult]:
        fence = {r["stream_id"]: r for r in await tx.fetch("plays_fence", {"sids": sids})}
        results = []
        for play in sorted(plays, key=lambda p: (p.stream_id, p.started_at)):
            status = await _record_one(tx, play, fence.get(play.stream_id))
            results.append(PlayResult(key=play.key, status=status))
        order = {p.key: i for i, p in enumerate(plays)}
        results.sort(key=lambda r: order[r.key])
        return results

    results = await db.run("plays_record", fn)
    for r in results:
        PLAYS.labels(r.status).inc()
    stale = [r.key for r in results if r.status == "stale"]
    if stale:
        log.warning("plays.stale_refused", count=len(stale), streams=sids)
    return results


async def _record_one(tx: Tx, play: PlayIn, owner: Row | None) -> PlayStatus:
    if owner is None:
        return "stale"
    writer = owner["worker_id"]
    if owner["epoch"] != play.epoch or owner["state"] not in ("assigned", "revoking"):
        # An older epoch is stale only if another worker has owned the stream since:
        # a worker that kept its stream through an orchestrator outage (lease expired,
        # nobody else took it) still delivers the plays it queued meanwhile.
        writer = await tx.fetchval(
            "play_epoch_still_owned", {"sid": play.stream_id, "epoch": play.epoch}
        )
        if writer is None:
            return "stale"
    existing = await tx.fetchone("play_by_key", {"key": play.key})
    if existing is not None:
        if play.ended_at is not None and existing["ended_at"] != play.ended_at:
            await tx.execute("play_set_end", {"id": existing["id"], "ended_at": play.ended_at})
            return "stored"
        return "duplicate"
    end_or_start: datetime = play.ended_at or play.started_at
    same = await tx.fetchone(
        "play_continuation",
        {
            "sid": play.stream_id,
            "track": play.track_id,
            "start": play.started_at,
            "end": end_or_start,
            "gap_s": CONTINUATION_GAP_S,
        },
    )
    if same is not None:
        await tx.execute(
            "play_merge",
            {
                "id": same["id"],
                "start": play.started_at,
                "end": play.ended_at,
                "confidence": play.confidence,
            },
        )
        await tx.execute("play_key_alias", {"key": play.key, "id": same["id"]})
        return "stored"
    row = await tx.fetchone(
        "play_insert",
        {
            "key": play.key,
            "sid": play.stream_id,
            "track": play.track_id,
            "start": play.started_at,
            "end": play.ended_at,
            "confidence": play.confidence,
            "worker": writer,
            "epoch": play.epoch,
        },
    )
    if row is None:
        return "duplicate"
    await tx.execute(
        "plays_close_previous", {"sid": play.stream_id, "start": play.started_at, "id": row["id"]}
    )
    return "stored"


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
