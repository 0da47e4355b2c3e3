"""The play log: fenced batches of plays and stream titles, and the review of refused ones.

The one caller of ``airtrack/db/play_log.sql`` (read its header for the merge, close
and emit rules). Every batch a worker sends goes through one path,
:func:`record_batch`: the database fences it (``airtrack_fence`` in ownership.sql),
logs what the fence lets through and keeps what it refuses in ``refused_plays``,
whatever the kind. Here live what the database does not do: metrics, logs and
turning rows into protocol objects.

=========================  ====================================================
function                   what
=========================  ====================================================
:func:`record_plays`       a batch of plays (each ``stored``, ``duplicate`` or
                           ``stale``)
:func:`record_titles`      a batch of stream titles, the same way
(archive.py)               fingerprint-archive segments, the same way
:func:`refused`            what the fence refused, waiting for review
:func:`accept_refused`     log refused items as their worker sent them; the
                           stream's owner does not change
:func:`discard_refused`    drop refused items (a copy stays in the audit log)
=========================  ====================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter

from airtrack.db import Database, Row
from airtrack.logging import get_logger
from airtrack.metrics import PLAYS, TITLES
from airtrack.protocol import FencedItem, FencedKind, PlayIn, PlayResult, PlayStatus, TitleIn
from airtrack.settings import Settings

log = get_logger("airtrack.orchestrator.play_log")


@dataclass(frozen=True)
class _Batch:
    """What differs between the kinds of fenced batch: the query, its items, its metric."""

    kind: FencedKind
    query: str
    #: what the fence reads of every item: its key, stream and epoch
    items: Sequence[FencedItem]
    #: the kind's own columns, one list each, in the items' order
    params: dict[str, Any]
    metric: Counter
    #: when given, the writer every item must have (its stream's owner at its epoch)
    worker: str | None

    @property
    def keys(self) -> list[str]:
        return [i.key for i in self.items]


async def record_batch(db: Database, settings: Settings, batch: _Batch) -> list[PlayResult]:
    """Fence and record one batch of any kind; one status per item, in order."""
    if not batch.items:
        return []
    sids = [i.stream_id for i in batch.items]
    params = {
        **batch.params,
        "keys": batch.keys,
        "sids": sids,
        "epochs": [i.epoch for i in batch.items],
        "worker": batch.worker,
        "refused_max": settings.refused_plays_max,
    }
    result = await db.fetchval(batch.query, params)
    statuses: list[PlayStatus] = result["statuses"]
    results = [PlayResult(key=k, status=s) for k, s in zip(batch.keys, statuses, strict=True)]
    for r in results:
        batch.metric.labels(r.status).inc()
    stale = sum(r.status == "stale" for r in results)
    if stale:
        kept = int(result["kept"])
        streams = sorted({sid for sid, r in zip(sids, results, strict=True) if r.status == "stale"})
        log.warning(
            f"{batch.kind}s.stale_refused",
            count=stale,
            kept_for_review=kept,
            streams=streams,
            worker=batch.worker,
        )
        if kept < stale and batch.kind in ("play", "title"):  # late prints, clips: not kept
            log.error(
                f"{batch.kind}s.refused_not_kept",
                count=stale - kept,
                refused_plays_max=settings.refused_plays_max,
                streams=streams,
            )
    return results


async def record_plays(
    db: Database, settings: Settings, plays: Sequence[PlayIn], *, worker: str | None = None
) -> list[PlayResult]:
    """Store a batch of plays in one call; each item is ``stored``, ``duplicate`` or ``stale``.

    ``worker``, when given, must be the writer of every play (its owner at that epoch).
    """
    params = {
        "tracks": [p.track_id for p in plays],
        "starts": [p.started_at for p in plays],
        "ends": [p.ended_at for p in plays],
        "confidences": [p.confidence for p in plays],
        "origins": [p.song_origin for p in plays],
        **_play_rules(settings),
    }
    return await record_batch(
        db, settings, _Batch("play", "play_log_record_plays", plays, params, PLAYS, worker)
    )


async def record_titles(
    db: Database, settings: Settings, titles: Sequence[TitleIn], *, worker: str | None = None
) -> list[PlayResult]:
    """Store a batch of in-band titles, fenced like plays; each item as for plays.

    A title naming a song ("Artist - Title") also opens a play of source 'metadata'.
    """
    from airtrack.metadata.match import split_artist_title

    songs = [split_artist_title(t.title or "") for t in titles]
    params = {
        "ats": [t.at for t in titles],
        "titles": [t.title for t in titles],
        "urls": [t.url for t in titles],
        "encodings": [t.encoding for t in titles],
        "artists": [s[0] if s else None for s in songs],
        "songs": [s[1] if s else None for s in songs],
        "max_s": settings.metadata_max_span_s,
    }
    return await record_batch(
        db, settings, _Batch("title", "play_log_record_titles", titles, params, TITLES, worker)
    )


def _play_rules(settings: Settings) -> dict[str, float]:
    return {
        "gap_s": settings.play_continuation_gap_s,
        "overlap_s": settings.play_overlap_max_s,
        "align_s": settings.play_alignment_tolerance_s,
    }


# -- review of what the fence refused ----------------------------------------------------


async def refused(db: Database, *, stream: str | None = None, limit: int = 1000) -> list[Row]:
    """Refused plays and titles waiting for review (of the stream named), by stream and
    time."""
    return await db.fetch("play_log_refused", {"stream": stream, "limit": limit})


async def refused_count(db: Database) -> int:
    return int(await db.fetchval("play_log_refused_count") or 0)


async def accept_refused(db: Database, settings: Settings, ids: Sequence[int]) -> dict[int, str]:
    """Log refused items as their worker sent them; outcome per id.

    ``stored`` or ``duplicate`` (logged, gone from the list), ``unknown_stream`` (the
    stream was removed: kept) or ``missing`` (no such refused item).
    """
    params = {"ids": sorted(set(ids)), **_play_rules(settings)}
    params["max_s"] = settings.metadata_max_span_s
    rows = await db.fetch("play_log_accept_refused", params)
    outcomes = {int(r["id"]): str(r["outcome"]) for r in rows}
    log.info("refused.accepted", outcomes=outcomes)
    return outcomes


async def discard_refused(db: Database, ids: Sequence[int]) -> list[int]:
    """Drop refused items (each copied into the audit log); returns the ids dropped."""
    done = [int(i) for i in await db.fetchval("play_log_discard_refused", {"ids": list(ids)})]
    log.info("refused.discarded", ids=done)
    return done
