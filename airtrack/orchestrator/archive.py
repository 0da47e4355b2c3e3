"""The fingerprint archive at the orchestrator: segments in, day partitions kept.

The one caller of the write and retention parts of ``airtrack/db/archive.sql``.
Segments are a fenced batch like plays and titles: :func:`record_archive` goes through
:func:`airtrack.orchestrator.play_log.record_batch` (the fence of ownership.sql). The
archive never holds the play log back: when the store cannot take a batch (disk full,
partition trouble) the segments come back ``unarchived`` (the worker drops them), an
error is logged and ``airtrack_archive_segments_total{status="unarchived"}`` counts them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from airtrack.db import Database
from airtrack.errors import DatabaseError, DatabaseUnavailable, InputRefused
from airtrack.logging import get_logger
from airtrack.metrics import ARCHIVE
from airtrack.orchestrator.play_log import _Batch, record_batch
from airtrack.protocol import ArchiveIn, PlayResult
from airtrack.settings import Settings

log = get_logger(__name__)

#: How far ahead of the orchestrator's clock a segment may start (clock skew).
_FUTURE_S = 120.0


def decode_base64(data: str, what: str) -> bytes:
    """The bytes a worker sent as base64 (an archive segment, a clip); 422 if not."""
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InputRefused(f"{what}: data is not base64") from None


def decode_data(seg: ArchiveIn) -> bytes:
    return decode_base64(seg.data, f"archive segment {seg.key}")


def check_segments(settings: Settings, segments: Sequence[ArchiveIn], now: datetime) -> None:
    """Refuse (422) what a worker may not archive: oversized or out of the kept days."""
    oldest = now - timedelta(days=settings.archive_days)
    for seg in segments:
        if len(seg.data) * 3 // 4 > settings.archive_segment_max_bytes:
            raise InputRefused(
                f"archive segment {seg.key}: larger than {settings.archive_segment_max_bytes} B"
            )
        if seg.started_at < oldest or seg.started_at > now + timedelta(seconds=_FUTURE_S):
            raise InputRefused(f"archive segment {seg.key}: starts outside the archive's days")


async def record_archive(
    db: Database, settings: Settings, segments: Sequence[ArchiveIn], *, worker: str | None
) -> list[PlayResult]:
    """Store a batch of segments: each ``stored``, ``duplicate``, ``stale`` (the fence)
    or ``unarchived`` (the store failed: the archive degrades, the batch is answered)."""
    params: dict[str, Any] = {
        "starts": [s.started_at for s in segments],
        "durations": [s.duration_s for s in segments],
        "pairs": [s.pairs for s in segments],
        "datas": [decode_data(s) for s in segments],
    }
    batch = _Batch("archive", "archive_record", segments, params, ARCHIVE, worker)
    keys = batch.keys
    try:
        return await record_batch(db, settings, batch)
    except DatabaseUnavailable:
        raise  # the orchestrator is down for plays too: the worker keeps them queued
    except DatabaseError as exc:
        ARCHIVE.labels("unarchived").inc(len(keys))
        log.error("archive.unavailable", segments=len(keys), worker=worker, error=str(exc))
        return [PlayResult(key=k, status="unarchived") for k in keys]


async def maintain(db: Database, settings: Settings) -> dict[str, list[str]]:
    """Today's and tomorrow's partitions; drop those older than ``archive_days``."""
    result = await db.fetchval("archive_maintain", {"keep_days": settings.archive_days})
    done = {"created": list(result["created"]), "dropped": list(result["dropped"])}
    if done["created"] or done["dropped"]:
        log.info("archive.partitions", **done)
    return done


async def stats(db: Database) -> dict[str, Any]:
    rows = await db.fetch("archive_stats")
    return dict(rows[0]) if rows else {}
