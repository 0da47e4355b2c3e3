"""Discovery: audio that matched nothing and airs again, grouped into unknowns.

The leader runs one pass every ``unknown_job_s`` (:class:`DiscoveryJob`, a task beside the
archive jobs). A pass is incremental and bounded:

1. it reads the archive segments received since the last pass (a watermark in
   ``discovery_state``; at most ``unknown_segments_per_pass``, only those of the last
   ``unknown_window_h`` hours);
2. drops what a play of the stream covers (``unknown_slack_s`` around it) and keeps a
   consistent sample of the rest (:func:`airtrack.fingerprint.recurrence.sample_points`),
   stored in ``unknown_prints`` so a new leader starts with the same window;
3. looks the sample up in the window of past unmatched prints (in memory, at most
   ``unknown_window_max_prints``) for aligned recurrences of ``unknown_min_s`` or longer
   (:func:`~airtrack.fingerprint.recurrence.find_links`);
4. hands each connected group of stretches to ``airtrack_unknown_absorb`` (unknowns.sql):
   they join the unknowns they overlap, or make a new one — but only if the new stretch
   does not match the current catalog (replayed through the same matcher as live audio)
   and fewer than ``unknown_per_day`` unknowns were made in the last day.

A catalog song never becomes an unknown: its airings are covered by plays, and a stretch
the catalog matches (a song added since) is refused before a new unknown is made.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from airtrack.catalog.snapshot import ensure_snapshot
from airtrack.db import Database
from airtrack.errors import AirtrackError, ArchiveSegmentError, DatabaseError
from airtrack.fingerprint import params as P
from airtrack.fingerprint.archive import ArchiveSegment, decode_segment, select_pairs
from airtrack.fingerprint.index import Index
from airtrack.fingerprint.recurrence import (
    JOIN_AIRING,
    SAME_AIRING,
    Points,
    PrintWindow,
    Stretch,
    components,
    find_links,
    sample_points,
)
from airtrack.fingerprint.replay import replay_segments
from airtrack.logging import get_logger
from airtrack.orchestrator.clips import request_clip
from airtrack.settings import Settings

log = get_logger(__name__)

_FPS = P.FRAMES_PER_S
#: Window prints read per query when a new leader reloads them.
_RELOAD_BATCH = 5000


@dataclass
class PassReport:
    """What one discovery pass did."""

    segments: int = 0
    points: int = 0
    links: int = 0
    created: int = 0
    joined: int = 0
    catalog: int = 0
    capped: int = 0
    damaged: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class _Segment:
    stream: int
    start: float
    segment: ArchiveSegment


class DiscoveryJob:
    """The leader's discovery passes; the window lives in memory while this replica leads."""

    def __init__(
        self, db: Database, settings: Settings, leads: Callable[[], bool] = lambda: True
    ) -> None:
        self.db, self.settings, self.leads = db, settings, leads
        self.window: PrintWindow | None = None
        self._catalog: tuple[str, Index] | None = None
        #: each stream's points of its last ``unknown_lookback_s`` (see _with_context)
        self._tails: dict[int, Points] = {}
        self.passes = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self.leads():
                try:
                    await self.step()
                except DatabaseError as exc:
                    log.warning("unknown.job_failed", error=str(exc))
                except Exception:
                    log.exception("unknown.job_crashed")
            else:
                self.window = None  # a new leader reloads it from unknown_prints
                self._tails = {}
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.settings.unknown_job_s)

    async def step(self) -> PassReport:
        """One pass over the segments received since the last one."""
        t0 = time.perf_counter()
        st, db = self.settings, self.db
        report = PassReport()
        oldest = datetime.now(UTC) - timedelta(hours=st.unknown_window_h)
        if self.window is None:
            self.window = await self._load_window(oldest)
        mark = await db.fetchone("discovery_watermark")
        assert mark is not None, "discovery_state has its one row (migration 0020)"
        rows = await db.fetch(
            "discovery_new_segments",
            {**dict(mark), "oldest": oldest, "limit": st.unknown_segments_per_pass},
        )
        if rows:
            try:
                await self._pass(rows, report)
            except BaseException:
                # the watermark stays: the next pass reads these segments again, so the
                # window is reloaded from unknown_prints rather than given them twice
                self.window, self._tails = None, {}
                raise
            last = rows[-1]
            keys = ("received_at", "stream_id", "started_at", "key")
            await db.execute("discovery_advance", {k: last[k] for k in keys})
        await db.execute("discovery_forget_prints", {"oldest": oldest})
        self.passes += 1
        report.seconds = round(time.perf_counter() - t0, 3)
        if rows:
            log.info("unknown.pass", **asdict(report))
        return report

    async def _pass(self, rows: Sequence[Any], report: PassReport) -> None:
        st, db = self.settings, self.db
        assert self.window is not None
        sids = sorted({int(r["stream_id"]) for r in rows})
        since = min(r["started_at"] for r in rows) - timedelta(seconds=st.unknown_slack_s)
        until = max(r["started_at"] + timedelta(seconds=float(r["duration_s"])) for r in rows)
        covered = await db.fetch(
            "discovery_covered", {"sids": sids, "since": since, "until": until}
        )
        segs, pts, per_seg = await asyncio.to_thread(self._sample, rows, covered, report)
        report.segments, report.points = len(rows), len(pts)
        if per_seg:
            await db.execute(
                "discovery_put_prints",
                {
                    "sids": [s for s, _, _ in per_seg],
                    "starts": [t for _, t, _ in per_seg],
                    "datas": [d for _, _, d in per_seg],
                },
            )
        window = self.window

        def look() -> list[list[Stretch]]:
            window.add(pts)
            links = find_links(
                self._with_context(pts),
                window,
                min_hits=st.unknown_min_hits,
                min_s=st.unknown_min_s,
                repeat_gap_s=st.unknown_repeat_gap_s,
            )
            report.links = len(links)
            return components(links)

        groups = await asyncio.to_thread(look)
        budget: int | None = None
        touched: set[int] = set()
        for group in groups:
            uid = await self._absorb(group, create=False)
            if uid is not None:
                report.joined += 1
                touched.add(uid)
                continue
            if budget is None:
                made = int(await db.fetchval("discovery_created_today") or 0)
                budget = st.unknown_per_day - made
            if budget <= 0:
                report.capped += 1
                continue
            if await self._in_catalog(group, segs):
                report.catalog += 1
                continue
            uid = await self._absorb(group, create=True)
            budget -= 1
            report.created += 1
            log.info("unknown.created", unknown_id=uid, airings=len(group))
            if uid is not None:
                touched.add(uid)
        # once the pass has widened every airing it linked: an unknown's newest airing whole
        for uid in sorted(touched):
            await self._ask_clip(uid)

    async def _ask_clip(self, uid: int) -> None:
        """An unknown aired at least twice asks the owner of its newest airing's stream
        for a proof clip of that airing (cut from the worker's rolling buffer while it
        still holds it; an expired request is asked again at the next airing)."""
        rows = await self.db.fetch("unknown_clip_due", {"id": uid})
        if not rows:
            return
        due = rows[0]
        sid = int(due["stream_id"])
        rid = await request_clip(self.db, sid, due["started_at"], due["ended_at"], unknown_id=uid)
        log.info("unknown.clip_requested", unknown_id=uid, stream_id=sid, request=rid)

    def _with_context(self, pts: Points) -> Points:
        """``pts`` and, per stream, the points of the ``unknown_lookback_s`` before them.

        Segments cut airings: a song arrives in pieces over several passes. With the
        stretch just before, each pass links the airing so far, which overlaps the piece
        linked before and so widens the same airing instead of starting a new unknown."""
        back = self.settings.unknown_lookback_s
        parts = [pts]
        for sid in np.unique(pts.streams).tolist():
            mine = pts.select(pts.streams == sid)
            lo, hi = float(mine.times.min()), float(mine.times.max())
            tail = self._tails.get(sid, Points.empty())
            parts.append(tail.select((tail.times >= lo - back) & (tail.times < lo)))
            kept = Points.concat([tail, mine])
            self._tails[sid] = kept.select(kept.times >= max(hi, tail_end(tail)) - back)
        return Points.concat(parts)

    def _sample(
        self, rows: Sequence[Any], covered: Sequence[Any], report: PassReport
    ) -> tuple[list[_Segment], Points, list[tuple[int, datetime, bytes]]]:
        st = self.settings
        spans: dict[int, list[tuple[float, float]]] = {}
        for c in covered:
            spans.setdefault(int(c["stream_id"]), []).append(
                (c["started_at"].timestamp() - st.unknown_slack_s,
                 c["ended_at"].timestamp() + st.unknown_slack_s)
            )  # fmt: skip
        segs: list[_Segment] = []
        parts: list[Points] = []
        stored: list[tuple[int, datetime, bytes]] = []
        for r in rows:
            try:
                seg = decode_segment(bytes(r["data"]))
            except ArchiveSegmentError:
                report.damaged += 1
                continue
            sid, start = int(r["stream_id"]), r["started_at"].timestamp()
            at = start + seg.pairs.t / _FPS
            keep = np.ones(len(seg.pairs), np.bool_)
            for lo, hi in spans.get(sid, ()):
                keep &= (at < lo) | (at >= hi)
            pts = sample_points(seg.pairs, start, sid, sample=st.unknown_sample, keep=keep)
            segs.append(_Segment(sid, start, seg))
            if len(pts):
                parts.append(pts)
                stored.append((sid, r["started_at"], pack_points(pts, start)))
        return segs, Points.concat(parts), stored

    async def _absorb(self, group: list[Stretch], *, create: bool) -> int | None:
        def at(t: float) -> datetime:
            return datetime.fromtimestamp(t, UTC)

        uid = await self.db.fetchval(
            "unknown_absorb",
            {
                "sids": [s.stream for s in group],
                "starts": [at(s.start) for s in group],
                "ends": [at(s.end) for s in group],
                "join": JOIN_AIRING,
                "share": SAME_AIRING,
                "create": create,
            },
        )
        return None if uid is None else int(uid)

    async def _in_catalog(self, group: list[Stretch], segs: list[_Segment]) -> bool:
        """Whether the catalog matches any stretch of ``group`` this pass read (a song
        added to the catalog, not yet covered by plays): never an unknown then."""
        try:
            index = await self._catalog_index()
        except AirtrackError as exc:  # cannot tell: do not make an unknown this pass
            log.warning("unknown.catalog_unavailable", error=str(exc))
            return True
        if index.n_tracks == 0:
            return False
        for s in group:
            cuts = [_cut(g, s) for g in segs if g.stream == s.stream]
            parts = [p for p in cuts if p is not None and len(p[1].pairs)]
            if not parts:
                continue
            threshold = self.settings.match_threshold
            plays = await asyncio.to_thread(_replay, parts, index, threshold)
            if plays:
                log.info("unknown.catalog_song", stream_id=s.stream, start=s.start)
                return True
        return False

    async def _catalog_index(self) -> Index:
        snap = await ensure_snapshot(self.db, self.settings)
        if self._catalog is None or self._catalog[0] != snap.version:
            self._catalog = (snap.version, await asyncio.to_thread(Index.load, snap.path))
        return self._catalog[1]

    async def _load_window(self, oldest: datetime) -> PrintWindow:
        st = self.settings
        window = PrintWindow(st.unknown_window_h * 3600.0, st.unknown_window_max_prints)
        after, after_sid = oldest, -1
        loaded = 0
        while True:
            rows = await self.db.fetch(
                "discovery_window_prints",
                {"oldest": oldest, "after": after, "after_sid": after_sid, "limit": _RELOAD_BATCH},
            )
            parts = [
                unpack_points(bytes(r["data"]), r["started_at"].timestamp(), int(r["stream_id"]))
                for r in rows
            ]
            window.add(Points.concat(parts))
            loaded += sum(len(p) for p in parts)
            if len(rows) < _RELOAD_BATCH:
                break
            after, after_sid = rows[-1]["started_at"], int(rows[-1]["stream_id"])
        if loaded:
            log.info("unknown.window_loaded", prints=loaded)
        return window


def tail_end(pts: Points) -> float:
    return float(pts.times.max()) if len(pts) else float("-inf")


def _replay(parts: list[tuple[float, ArchiveSegment]], index: Index, threshold: float) -> int:
    return len(replay_segments(parts, index, threshold=threshold))


def _cut(seg: _Segment, s: Stretch) -> tuple[float, ArchiveSegment] | None:
    """The part of a segment inside a stretch, as a segment of its own."""
    lo = int(np.floor((s.start - seg.start) * _FPS))
    hi = int(np.ceil((s.end - seg.start) * _FPS))
    lo, hi = max(lo, 0), min(hi, seg.segment.frames)
    if hi <= lo:
        return None
    pairs = seg.segment.pairs
    mask = (pairs.t >= lo) & (pairs.t < hi)
    part = select_pairs(pairs, mask)
    part = type(part)(part.t - lo, part.lnf1, part.df, part.dt, part.fdf, part.fdt)
    return seg.start + lo / _FPS, ArchiveSegment(hi - lo, part)


def pack_points(pts: Points, start: float) -> bytes:
    """One segment's sampled prints as stored in ``unknown_prints``: hashes (uint32),
    then seconds from the segment's start (float32)."""
    return pts.hashes.astype("<u4").tobytes() + (pts.times - start).astype("<f4").tobytes()


def unpack_points(data: bytes, start: float, stream: int) -> Points:
    n = len(data) // 8
    hashes = np.frombuffer(data, "<u4", n).astype(np.uint32)
    times = start + np.frombuffer(data, "<f4", n, 4 * n).astype(np.float64)
    return Points(hashes, times, np.full(n, stream, np.int64))
