"""Back-fill: the past airings of tracks registered late, found in the fingerprint archive.

For a set of tracks, each stream's archived prints in a time range are replayed through
the same :class:`~airtrack.fingerprint.matcher.StreamingMatcher` the workers run (its
boundary rules: start, end), against an index of just those tracks
(:func:`airtrack.fingerprint.replay.replay_segments`). Each airing found becomes a play of
source ``backfill`` through ``airtrack_backfill_play`` (play_log.sql): never twice, never
over a play of the same track already in the log (a re-run, an airing the workers heard
after the track arrived). ``play.started``/``play.ended`` say ``"backfilled": true``.

Run by hand (``airtrack catalog backfill``) or by the leader for new tracks
(:class:`BackfillJob`, once ``backfill_delay_s`` after they were added: at most
``backfill_tracks_per_pass`` tracks a run, ``backfill_streams_per_pass`` streams and
``backfill_segments_per_stream`` segments per stream a pass; progress is logged per
stream).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
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


async def backfill(
    db: Database,
    settings: Settings,
    track_ids: Sequence[int],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    streams: Sequence[int] | None = None,
) -> BackfillReport:
    """Back-fill ``track_ids`` over the archive from ``since`` (default: all it keeps) to
    ``until`` (default: now), every stream (or those of ``streams``) in one go (the
    hand-run command, a labelled unknown's airings)."""
    run = await BackfillRun.start(db, settings, track_ids, since=since, until=until, only=streams)
    if run is not None:
        while not await run.step(len(run.streams) or 1):
            pass
        return run.report
    return BackfillReport(tracks=sorted(set(track_ids)))


class BackfillRun:
    """One back-fill of a set of tracks, stream by stream (so the leader can spread it
    over passes): :meth:`step` does the next ``n`` streams."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        index: Index,
        streams: list[int],
        span: dict[str, datetime],
        report: BackfillReport,
    ) -> None:
        self.db, self.settings, self.index = db, settings, index
        self.streams, self.span, self.report = streams, span, report
        self.total = len(streams)

    @classmethod
    async def start(
        cls,
        db: Database,
        settings: Settings,
        track_ids: Sequence[int],
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        only: Sequence[int] | None = None,
    ) -> BackfillRun | None:
        now = datetime.now(UTC)
        span = {
            "since": since or now - timedelta(days=settings.archive_days + 1),
            "until": until or now,
        }
        report = BackfillReport(tracks=sorted(set(track_ids)))
        rows = await db.fetch("backfill_prints", {"engine": ENGINE, "ids": report.tracks})
        if not rows:
            return None
        index = Index.build((int(r["track_id"]), bytes(r["prints"])) for r in rows)
        streams = [int(r["stream_id"]) for r in await db.fetch("archive_streams", span)]
        if only is not None:
            streams = [sid for sid in streams if sid in set(only)]
        log.info("backfill.started", tracks=report.tracks, streams=len(streams), **_iso(span))
        return cls(db, settings, index, streams, span, report)

    async def step(self, n: int) -> bool:
        """Back-fill the next ``n`` streams; True when every stream is done."""
        for _ in range(max(1, n)):
            if not self.streams:
                break
            await self._stream(self.streams.pop(0))
        if self.streams:
            return False
        log.info("backfill.finished", **asdict(self.report))
        return True

    async def _stream(self, sid: int) -> None:
        db, settings, report = self.db, self.settings, self.report
        segs = await db.fetch(
            "archive_segments",
            {**self.span, "sid": sid, "limit": settings.backfill_segments_per_stream},
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
            self.index,
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
            progress=f"{report.streams}/{self.total}",
        )


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


class BackfillJob:
    """The leader's back-fill of new tracks, spread over passes: each :meth:`step` does
    at most ``backfill_streams_per_pass`` streams of the current run; a run takes the
    tracks added ``backfill_delay_s`` ago or more whose back-fill has not run (at most
    ``backfill_tracks_per_pass``) and marks them done when its last stream is. A new
    leader starts the run again (back-fill never logs an airing twice)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings
        self.run: BackfillRun | None = None
        self.ids: list[int] = []

    async def step(self) -> BackfillReport | None:
        """One bounded pass; the finished run's report when this pass finished one."""
        if self.run is None:
            rows = await self.db.fetch(
                "backfill_due",
                {
                    "delay_s": self.settings.backfill_delay_s,
                    "limit": self.settings.backfill_tracks_per_pass,
                },
            )
            self.ids = [int(r["id"]) for r in rows]
            if not self.ids:
                return None
            self.run = await BackfillRun.start(self.db, self.settings, self.ids)
        done = self.run is None or await self.run.step(self.settings.backfill_streams_per_pass)
        if not done:
            return None
        report = self.run.report if self.run is not None else BackfillReport(tracks=self.ids)
        await self.db.execute("backfill_searched", {"ids": self.ids})
        self.run, self.ids = None, []
        return report

    def forget(self) -> None:
        """Leadership lost: the next leader starts the run again."""
        self.run, self.ids = None, []


async def tracks_added_since(db: Database, since: datetime) -> list[int]:
    return [int(r["id"]) for r in await db.fetch("backfill_tracks_added", {"since": since})]


def _iso(span: dict[str, datetime]) -> dict[str, str]:
    return {k: v.isoformat() for k, v in span.items()}
