"""The worker's side of the fingerprint archive: what the matcher heard, in segments.

The pipeline's matcher tells each step's query prints (``StreamingMatcher.on_pairs``).
An :class:`ArchiveRecorder` per stream connection gathers them and, every
``archive_segment_s`` of stream time, hands one segment to the sink (the durable outbox,
its own lane: archive segments never hold plays back). A segment covers the frames up to
the matcher's decision point, so every later pair falls into the next one. Beyond
``archive_max_bytes_per_s`` the prints are thinned evenly and the pairs dropped are
counted (``thinned_pairs``, reported in heartbeats).
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

import numpy as np

from airtrack.fingerprint import params as P
from airtrack.fingerprint.archive import (
    MAX_FRAMES,
    concat_pairs,
    encode_segment,
    select_pairs,
    shift_pairs,
    thin_pairs,
)
from airtrack.fingerprint.landmarks import Pairs
from airtrack.logging import get_logger
from airtrack.protocol import ArchiveIn

log = get_logger(__name__)

_FPS = P.FRAMES_PER_S
#: Pairs are all known this many frames behind the frames fed (the matcher's decision lag).
_LAG = P.PEAK_DT + P.DT_MAX


@runtime_checkable
class ArchiveSink(Protocol):
    """Where a pipeline's archive segments go (the supervisor: the durable outbox)."""

    def put_archive(self, segment: ArchiveIn) -> None: ...


class ArchiveStats:
    """Counters of a worker's archive (thread-safe): segments queued, pairs thinned."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.segments = 0
        self.thinned_pairs = 0

    def add(self, segments: int = 0, thinned: int = 0) -> None:
        with self._lock:
            self.segments += segments
            self.thinned_pairs += thinned


def archive_key(stream_id: int, epoch: int, started_at: datetime) -> str:
    ms = int(started_at.astimezone(UTC).timestamp() * 1000)
    return hashlib.sha256(f"archive|{stream_id}|{epoch}|{ms}".encode()).hexdigest()[:32]


class ArchiveRecorder:
    """One matcher's prints → segments; ``wall_of(seconds)`` dates a matcher time (the
    connection's clock, as for plays)."""

    def __init__(
        self,
        stream_id: int,
        epoch: int,
        sink: ArchiveSink,
        wall_of: Callable[[float], datetime],
        *,
        segment_s: float,
        max_bytes_per_s: int,
        stats: ArchiveStats | None = None,
    ) -> None:
        self.stream_id, self.epoch = stream_id, epoch
        self._sink = sink
        self.wall_of = wall_of
        self.segment_frames = min(MAX_FRAMES, max(1, int(segment_s * _FPS)))
        self.max_bytes_per_s = max_bytes_per_s
        self.stats = stats or ArchiveStats()
        self._start = 0  # first frame of the open segment
        self._pending: list[Pairs] = []

    def on_pairs(self, pairs: Pairs, frames: int) -> None:
        """The matcher's step: ``pairs`` heard, ``frames`` fed so far."""
        if len(pairs):
            self._pending.append(pairs)
        known = frames - _LAG  # every pair anchored before this has been told
        while known - self._start >= self.segment_frames:
            self._emit(self._start + self.segment_frames)

    def close(self, frames: int) -> None:
        """The matcher closed (its flush was told): the rest is one last segment."""
        end = frames
        if self._pending:
            end = max(end, int(max(int(p.t.max()) for p in self._pending if len(p)) + 1))
        while end - self._start > self.segment_frames:
            self._emit(self._start + self.segment_frames)
        if end > self._start:
            self._emit(end)

    def _emit(self, end: int) -> None:
        pairs = concat_pairs(self._pending)
        inside = pairs.t < end
        seg = shift_pairs(select_pairs(pairs, inside), -self._start)
        rest = select_pairs(pairs, ~inside)
        self._pending = [rest] if len(rest) else []
        frames = end - self._start
        started_at = self.wall_of(self._start / _FPS)
        self._start = end
        seg = select_pairs(seg, np.argsort(seg.t, kind="stable"))
        data = encode_segment(frames, seg)
        cap = int(self.max_bytes_per_s * frames / _FPS)
        heard = len(seg)
        while len(data) > cap and len(seg):  # compression varies: shrink until it fits
            keep = min(len(seg) - 1, int(len(seg) * cap / len(data) * 0.9))
            seg = thin_pairs(seg, max(0, keep))
            data = encode_segment(frames, seg)
        thinned = heard - len(seg)
        self.stats.add(segments=1, thinned=thinned)
        if thinned:
            log.info("archive_thinned", stream_id=self.stream_id, pairs_dropped=thinned)
        segment = ArchiveIn(
            key=archive_key(self.stream_id, self.epoch, started_at),
            stream_id=self.stream_id,
            epoch=self.epoch,
            started_at=started_at,
            duration_s=frames / _FPS,
            pairs=len(seg),
            data=base64.b64encode(data).decode(),
        )
        try:
            self._sink.put_archive(segment)
        except Exception:  # a full disk: no archive, recognition goes on
            log.exception("archive_write_failed", key=segment.key)
