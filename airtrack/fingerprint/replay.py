"""Replay a stream's archived prints through the streaming matcher (back-fill).

The archive keeps one stream's query prints as segments, each dated by the wall time of
its first frame. Consecutive segments are fed to one :class:`StreamingMatcher` in steps
of ``STEP_S`` of stream time, exactly as the live worker decided; a hole longer than
``gap_s`` (the worker was down, the stream moved) starts a new matcher, as a reconnect
would. The plays come back dated on the wall clock, with the same boundary rules as
live plays because it is the same matcher.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from airtrack.fingerprint import params as P
from airtrack.fingerprint.archive import ArchiveSegment, concat_pairs, select_pairs, shift_pairs
from airtrack.fingerprint.index import Index
from airtrack.fingerprint.landmarks import Pairs
from airtrack.fingerprint.matcher import STEP_S, StreamingMatcher
from airtrack.fingerprint.plays import PlayEvent, plays_from_events

__all__ = ["ReplayedPlay", "replay_segments"]

_FPS = P.FRAMES_PER_S
_STEP = round(STEP_S * _FPS)


@dataclass(frozen=True, slots=True)
class ReplayedPlay:
    """A play found in the archive: wall-clock start/end (Unix seconds) and its song's
    origin (where the song's beginning falls on the stream's clock)."""

    track_id: int
    start: float
    end: float
    confidence: float
    origin: float


def replay_segments(
    segments: Iterable[tuple[float, ArchiveSegment]],
    index: Index,
    *,
    gap_s: float = 30.0,
    **options: float,
) -> list[ReplayedPlay]:
    """Plays of ``index``'s tracks in one stream's segments ``(wall start, segment)``,
    in time order."""
    out: list[ReplayedPlay] = []
    run: _Run | None = None
    for start, seg in sorted(segments, key=lambda s: s[0]):
        if run is not None and start - run.end > gap_s:
            out.extend(run.close())
            run = None
        if run is None:
            run = _Run(start, StreamingMatcher(index, **options))  # type: ignore[arg-type]
        run.add(start, seg)
    if run is not None:
        out.extend(run.close())
    return out


class _Run:
    """One matcher over segments without a long hole: frame 0 is ``base`` (wall)."""

    def __init__(self, base: float, matcher: StreamingMatcher) -> None:
        self.base = base
        self.matcher = matcher
        self.end = base
        self.events: list[PlayEvent] = []
        self.pending: list[Pairs] = []
        self.fed_to = 0  # frames: pairs before this were fed

    def add(self, start: float, seg: ArchiveSegment) -> None:
        first = round((start - self.base) * _FPS)
        pairs = shift_pairs(seg.pairs, first)
        self.pending.append(pairs)
        self.end = max(self.end, start + seg.frames / _FPS)
        self._feed(upto=int((self.end - self.base) * _FPS))

    def _feed(self, upto: int) -> None:
        if not self.pending:
            return
        pairs = self.pending[0] if len(self.pending) == 1 else concat_pairs(self.pending)
        order = np.argsort(pairs.t, kind="stable")
        pairs = select_pairs(pairs, order)
        while self.fed_to + _STEP <= upto:
            hi = self.fed_to + _STEP
            cut = int(np.searchsorted(pairs.t, hi))
            step = select_pairs(pairs, np.arange(cut))
            pairs = select_pairs(pairs, np.arange(cut, len(pairs)))
            self.events.extend(self.matcher.feed_pairs(step, hi + P.PEAK_DT + P.DT_MAX))
            self.fed_to = hi
        self.pending = [pairs]

    def close(self) -> list[ReplayedPlay]:
        frames = int((self.end - self.base) * _FPS)
        if self.pending and len(self.pending[0]):
            self.events.extend(self.matcher.feed_pairs(self.pending[0], frames))
        self.events.extend(self.matcher.close())
        return [
            ReplayedPlay(
                track_id=p.track_id,
                start=self.base + p.start_s,
                end=self.base + p.end_s,
                confidence=p.confidence,
                origin=self.base + p.start_s - p.offset_s / (p.speed or 1.0),
            )
            for p in plays_from_events(self.events)
        ]
