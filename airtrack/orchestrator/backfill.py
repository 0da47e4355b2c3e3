"""Back-fill: the past airings of tracks registered late, found in the fingerprint archive.

For a set of tracks, each stream's archived prints in a time range are replayed through
the same :class:`~airtrack.fingerprint.matcher.StreamingMatcher` the workers run (its
boundary rules: start, end), against an index of just those tracks
(:func:`airtrack.fingerprint.replay.replay_segments`). Each airing found becomes a play of
source ``backfill`` through ``airtrack_backfill_play`` (play_log.sql): never twice, never
over a play of the same track already in the log (a re-run, an airing the workers heard
after the track arrived). ``play.started``/``play.ended`` say ``"backfilled": true``.

Run by hand (``airtrack catalog backfill``) or by the leader for new tracks
(:func:`backfill_due`, once ``backfill_delay_s`` after they were added, at most
``backfill_tracks_per_pass`` tracks and ``backfill_segments_per_stream`` segments per
stream in one pass; progress is logged per stream).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from airtrack.catalog.store import ENGINE
from airtrack.db import Database
from airtrack.errors import ArchiveSegmentError
from airtrack.fingerprint.archive import ArchiveSegment, decode_segment
from airtrack.fingerprint.index import Index
from airtrack.fingerprint.replay import ReplayedPlay, replay_segments
from airtrack.logging import get_logger
from airtrack.metrics import BACKFILL_PLAYS
from airtrack.settings import Settings

log = get_logger(__name__)


@dataclass
class BackfillReport:
    """What one back-fill did: tracks asked, streams and segments read, plays found."""

    tracks: list[int] = field(default_factory=list)
    streams: int = 0
    segments: int = 0
    found: int = 0
    stored: int = 0
    duplicate: int = 0
    damaged: int = 0

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


async def backfill(
    db: Database,
    settings: Settings,
    track_ids: Sequence[int],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> BackfillReport:
    """Back-fill ``track_ids`` over the archive from ``since`` (default: all it keeps) to
    ``until`` (default: now)."""
    now = datetime.now(UTC)
    until = until or now
    since = since or now - timedelta(days=settings.archive_days + 1)
    report = BackfillReport(tracks=sorted(set(track_ids)))
    rows = await db.fetch("backfill_prints", {"engine": ENGINE, "ids": report.tracks})
    if not rows:
        return report
    index = Index.build((int(r["track_id"]), bytes(r["prints"])) for r in rows)
    span = {"since": since, "until": until}
    streams = [int(r["stream_id"]) for r in await db.fetch("archive_streams", span)]
    log.info("backfill.started", tracks=report.tracks, streams=len(streams), **_iso(span))
    for sid in streams:
        segs = await db.fetch(
            "archive_segments",
            {**span, "sid": sid, "limit": settings.backfill_segments_per_stream},
        )
        decoded: list[tuple[float, ArchiveSegment]] = []
        for r in segs:
            try:
                decoded.append((r["started_at"].timestamp(), decode_segment(bytes(r["data"]))))
            except ArchiveSegmentError:
                report.damaged += 1
        report.segments += len(segs)
        plays = await asyncio.to_thread(
            replay_segments,
            decoded,
            index,
            gap_s=settings.backfill_gap_s,
            threshold=settings.match_threshold,
            end_gap_s=settings.play_end_gap_s,
        )
        stored = 0
        for p in plays:
            status = await _record(db, settings, sid, p)
            BACKFILL_PLAYS.labels(status).inc()
            stored += status == "stored"
            report.duplicate += status != "stored"
        report.found += len(plays)
        report.stored += stored
        report.streams += 1
        log.info(
            "backfill.stream_done",
            stream_id=sid,
            segments=len(segs),
            found=len(plays),
            stored=stored,
            progress=f"{report.streams}/{len(streams)}",
        )
    log.info("backfill.finished", **report.as_dict())
    return report


async def _record(db: Database, settings: Settings, sid: int, p: ReplayedPlay) -> str:
    status = await db.fetchval(
        "backfill_play",
        {
            "sid": sid,
            "track": p.track_id,
            "started": datetime.fromtimestamp(p.start, UTC),
            "ended": datetime.fromtimestamp(max(p.end, p.start), UTC),
            "conf": float(min(1.0, max(0.0, p.confidence))),
            "origin": datetime.fromtimestamp(p.origin, UTC),
            "slack_s": settings.backfill_slack_s,
        },
    )
    return str(status)


async def backfill_due(db: Database, settings: Settings) -> BackfillReport | None:
    """The leader's pass: back-fill the tracks added ``backfill_delay_s`` ago or more whose
    back-fill has not run (at most ``backfill_tracks_per_pass``), then mark them done."""
    rows = await db.fetch(
        "backfill_due",
        {"delay_s": settings.backfill_delay_s, "limit": settings.backfill_tracks_per_pass},
    )
    ids = [int(r["id"]) for r in rows]
    if not ids:
        return None
    report = await backfill(db, settings, ids)
    await db.execute("backfill_searched", {"ids": ids})
    return report


async def tracks_added_since(db: Database, since: datetime) -> list[int]:
    return [int(r["id"]) for r in await db.fetch("backfill_tracks_added", {"since": since})]


def _iso(span: dict[str, datetime]) -> dict[str, str]:
    return {k: v.isoformat() for k, v in span.items()}
