"""One streaming matcher: audio blocks in, play events out.  ``scan_file`` and ``identify``
run the very same object over a file or a clip.

How a play is found: every query pair is hashed at each speed in ``SPEEDS`` and looked up;
a posting (track, track frame) gives an *alignment* = the query frame where that track's
frame 0 would lie.  The true song piles its hits on one alignment; chance hits scatter.  A
play opens when one (track, speed, alignment) gathers enough hits in the last ``window_s``;
its airing start is that alignment, or — when the song was started mid-way — its earliest
hits.  It closes when its alignment has had no hits for ``end_gap_s``.  Other alignments of a
track that is on air (repeated choruses, neighbouring speeds) never open a second play.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from airtrack.fingerprint import params as P
from airtrack.fingerprint.decode import decode
from airtrack.fingerprint.index import Index
from airtrack.fingerprint.landmarks import LandmarkExtractor, Pairs, hash_pairs

__all__ = [
    "DEFAULT_THRESHOLD",
    "Match",
    "Play",
    "PlayEnded",
    "PlayEvent",
    "PlayStarted",
    "StreamingMatcher",
    "confidence_of",
    "identify",
    "plays_from_events",
    "scan_file",
    "scan_samples",
]

#: Plays with a confidence below this are not reported (same value on every station).
DEFAULT_THRESHOLD = 0.5
#: Confidence = 1 - exp(-(aligned hits in the window - _NULL_HITS) / _HITS_SCALE).
_NULL_HITS = 10.0
_HITS_SCALE = 8.0
_FPS = P.FRAMES_PER_S
_BIN = 3  # alignment histogram bin (frames)
_TOL = 8  # frames: hits this close to a play's alignment belong to it
_HISTORY_S = 40.0
_MAX_POSTINGS = 32  # a hash in more places than this says nothing: skipped


def confidence_of(aligned_hits: float) -> float:
    """Calibrated confidence in [0, 1) for a number of aligned hits within one window."""
    return 1.0 - math.exp(-max(0.0, aligned_hits - _NULL_HITS) / _HITS_SCALE)


@dataclass(frozen=True, slots=True)
class PlayStarted:
    track_id: int
    start_s: float  # airing start, seconds from the first sample fed
    confidence: float
    offset_s: float  # position in the track at start_s (>0: started mid-way)
    speed: float  # playback speed / original speed


@dataclass(frozen=True, slots=True)
class PlayEnded:
    track_id: int
    start_s: float
    end_s: float
    confidence: float
    offset_s: float
    speed: float


PlayEvent = PlayStarted | PlayEnded


@dataclass(frozen=True, slots=True)
class Play:
    """One airing of one catalog track."""

    track_id: int
    start_s: float
    end_s: float
    confidence: float
    offset_s: float
    speed: float


Match = Play  # ``identify`` returns the best play of a clip


@dataclass(slots=True)
class _OpenPlay:
    track: int
    k: int  # speed index
    align: float  # frames; drifts slowly when the true speed lies between grid speeds
    start_f: float
    offset_f: float
    last_hit: float
    confidence: float
    hits: int
    recent: list[float] = field(default_factory=list)


class StreamingMatcher:
    """Feed mono float32 blocks at ``SAMPLE_RATE``; get ``PlayStarted``/``PlayEnded`` events."""

    def __init__(
        self,
        index: Index,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        window_s: float = 8.0,
        end_gap_s: float = 20.0,
        snap_s: float = 8.0,
        speeds: tuple[float, ...] = P.SPEEDS,
    ) -> None:
        self.index = index
        self.threshold = threshold
        self.min_hits = _NULL_HITS - _HITS_SCALE * math.log(max(1e-9, 1.0 - threshold))
        self._window = window_s * _FPS
        self._end_gap = end_gap_s * _FPS
        self._snap = snap_s * _FPS
        self._speeds = np.asarray(speeds, dtype=np.float64)
        self._extractor = LandmarkExtractor()
        # hit store (parallel arrays): query frame, dense track, speed index, alignment
        self._ht = np.zeros(0, np.float64)
        self._htr = np.zeros(0, np.int64)
        self._hk = np.zeros(0, np.int64)
        self._ha = np.zeros(0, np.float64)
        self._open: list[_OpenPlay] = []
        self._closed: list[_OpenPlay] = []
        self._now = 0.0  # frames: pairs anchored before this are all known
        self._closed_flag = False

    # -- public -----------------------------------------------------------------------------
    def feed(self, block: npt.NDArray[np.floating]) -> list[PlayEvent]:
        if self._closed_flag:
            raise RuntimeError("matcher already closed")
        pairs = self._extractor.feed(block)
        self._now = max(self._now, float(self._extractor.frames - P.PEAK_DT - P.DT_MAX))
        return self._step(pairs, final=False)

    def close(self) -> list[PlayEvent]:
        """Flush the audio tail; every open play ends."""
        if self._closed_flag:
            return []
        self._closed_flag = True
        pairs = self._extractor.flush()
        self._now = float(self._extractor.frames)
        return self._step(pairs, final=True)

    @property
    def seconds_fed(self) -> float:
        return self._extractor.samples_seen / P.SAMPLE_RATE

    # -- internals --------------------------------------------------------------------------
    def _step(self, pairs: Pairs, final: bool) -> list[PlayEvent]:
        if len(pairs):
            self._add_hits(pairs)
        events: list[PlayEvent] = []
        self._follow_open()
        events.extend(self._detect())
        events.extend(self._end_plays(force=final))
        self._prune()
        return events

    def _add_hits(self, pairs: Pairs) -> None:
        ts, trs, ks, als = [self._ht], [self._htr], [self._hk], [self._ha]
        tq = pairs.t.astype(np.float64)
        for k, speed in enumerate(self._speeds):
            hashes, _ = hash_pairs(pairs, float(speed))
            qrow, track, tref = self.index.lookup(hashes, max_postings=_MAX_POSTINGS)
            if qrow.size == 0:
                continue
            t = tq[qrow]
            ts.append(t)
            trs.append(track.astype(np.int64))
            ks.append(np.full(qrow.shape[0], k, np.int64))
            als.append(t - tref.astype(np.float64) / speed)
        self._ht, self._htr = np.concatenate(ts), np.concatenate(trs)
        self._hk, self._ha = np.concatenate(ks), np.concatenate(als)

    def _aligned(self, track: int, k: int, align: float) -> npt.NDArray[np.bool_]:
        sel: npt.NDArray[np.bool_] = self._htr == track
        sel &= self._hk == k
        sel &= np.abs(self._ha - align) <= _TOL
        return sel

    def _follow_open(self) -> None:
        for play in self._open:
            sel = self._aligned(play.track, play.k, play.align) & (self._ht > play.last_hit)
            if not sel.any():
                continue
            t = self._ht[sel]
            play.last_hit = float(t.max())
            play.hits += int(sel.sum())
            # let the alignment follow a slow drift (speed between two grid speeds)
            recent = self._aligned(play.track, play.k, play.align)
            recent &= self._ht > play.last_hit - self._window
            if recent.sum() >= 5:
                play.align = float(np.median(self._ha[recent]))
                conf = confidence_of(float(recent.sum()))
                play.confidence = max(play.confidence, conf)

    def _detect(self) -> list[PlayEvent]:
        events: list[PlayEvent] = []
        while True:
            best = self._best_candidate()
            if best is None:
                return events
            track, k, align, count = best
            play = self._open_play(track, k, align, count)
            self._open.append(play)
            events.append(
                PlayStarted(
                    int(self.index.track_ids[track]),
                    play.start_f / _FPS,
                    play.confidence,
                    play.offset_f / _FPS,
                    float(self._speeds[k]),
                )
            )

    def _best_candidate(self) -> tuple[int, int, float, int] | None:
        win = self._ht > self._now - self._window
        blocked = {p.track for p in self._open}
        for p in self._closed:  # the tail of a closed airing must not reopen it
            win &= ~((self._htr == p.track) & (np.abs(self._ha - p.align) <= 4 * _TOL))
        if blocked:
            win &= ~np.isin(self._htr, list(blocked))
        if not win.any():
            return None
        tr, kk, al = self._htr[win], self._hk[win], self._ha[win]
        bins = np.floor(al / _BIN).astype(np.int64)
        key = (tr * len(self._speeds) + kk) * (1 << 32) + (bins + (1 << 31))
        uniq, counts = np.unique(key, return_counts=True)
        # merge each bin with its two neighbours (an alignment may straddle a bin edge)
        merged = counts.copy()
        for d in (-1, 1):
            pos = np.searchsorted(uniq, uniq + d)
            pos = np.minimum(pos, uniq.shape[0] - 1)
            merged += np.where(uniq[pos] == uniq + d, counts[pos], 0)
        i = int(np.argmax(merged))
        if merged[i] < self.min_hits:
            return None
        tk = int(uniq[i] >> 32)
        bin_ = int(uniq[i] & 0xFFFFFFFF) - (1 << 31)
        track, k = divmod(tk, len(self._speeds))
        near = (tr == track) & (kk == k) & (np.abs(bins - bin_) <= 1)
        return track, k, float(np.median(al[near])), int(merged[i])

    def _open_play(self, track: int, k: int, align: float, count: int) -> _OpenPlay:
        sel = self._aligned(track, k, align)
        t = np.sort(self._ht[sel])
        # earliest hit that is followed by two more within 3 s: robust to a stray hit
        first = float(t[0])
        dense = np.nonzero(t[2:] - t[:-2] <= 3 * _FPS)[0]
        if dense.size:
            first = float(t[int(dense[0])])
        start = align if first - align <= self._snap else first - 0.3 * _FPS
        start = max(0.0, start)
        speed = float(self._speeds[k])
        return _OpenPlay(
            track=track,
            k=k,
            align=align,
            start_f=start,
            offset_f=max(0.0, (start - align) * speed),
            last_hit=float(t[-1]),
            confidence=confidence_of(count),
            hits=int(t.shape[0]),
        )

    def _end_plays(self, force: bool) -> list[PlayEvent]:
        events: list[PlayEvent] = []
        still: list[_OpenPlay] = []
        for play in self._open:
            if force or self._now - play.last_hit > self._end_gap:
                speed = float(self._speeds[play.k])
                track_end = play.align + float(self.index.durations[play.track]) * _FPS / speed
                end = min(play.last_hit + P.DT_MAX / 2, track_end, float(self._extractor.frames))
                events.append(
                    PlayEnded(
                        int(self.index.track_ids[play.track]),
                        play.start_f / _FPS,
                        max(end, play.start_f) / _FPS,
                        play.confidence,
                        play.offset_f / _FPS,
                        speed,
                    )
                )
                self._closed.append(play)
            else:
                still.append(play)
        self._open = still
        return events

    def _prune(self) -> None:
        horizon = self._now - _HISTORY_S * _FPS
        if self._ht.size == 0 or self._ht.min() > horizon - 10 * _FPS:
            return  # prune in steps of 10 s: copying the store every block costs
        keep = self._ht > horizon
        if not keep.all():
            self._ht, self._htr = self._ht[keep], self._htr[keep]
            self._hk, self._ha = self._hk[keep], self._ha[keep]
        self._closed = [p for p in self._closed if p.last_hit > horizon]


def plays_from_events(events: Iterable[PlayEvent]) -> list[Play]:
    """The finished plays among ``events`` (one per ``PlayEnded``), sorted by start."""
    plays = [
        Play(e.track_id, e.start_s, e.end_s, e.confidence, e.offset_s, e.speed)
        for e in events
        if isinstance(e, PlayEnded)
    ]
    return sorted(plays, key=lambda p: (p.start_s, p.track_id))


def scan_samples(
    samples: npt.NDArray[np.floating], index: Index, *, block_s: float = 4.0, **options: float
) -> list[Play]:
    """Plays in an in-memory signal at ``SAMPLE_RATE`` (fed in blocks like a live stream)."""
    matcher = StreamingMatcher(index, **options)  # type: ignore[arg-type]
    events: list[PlayEvent] = []
    step = max(1, int(block_s * P.SAMPLE_RATE))
    for i in range(0, max(1, samples.shape[0]), step):
        events.extend(matcher.feed(samples[i : i + step]))
    events.extend(matcher.close())
    return plays_from_events(events)


def scan_file(path: str | os.PathLike[str], index: Index, **options: float) -> list[Play]:
    """Plays in a recording (file or URL), decoded in blocks: one ``Play`` per airing."""
    matcher = StreamingMatcher(index, **options)  # type: ignore[arg-type]
    events: list[PlayEvent] = []
    for block in decode(path):
        events.extend(matcher.feed(block))
    events.extend(matcher.close())
    return plays_from_events(events)


def identify(
    clip: str | os.PathLike[str] | npt.NDArray[np.floating], index: Index, **options: float
) -> Match | None:
    """The best-matching catalog track of a clip (path or samples), or ``None``."""
    if isinstance(clip, np.ndarray):
        plays = scan_samples(clip, index, **options)
    else:
        plays = scan_file(clip, index, **options)
    if not plays:
        return None
    return max(plays, key=lambda p: (p.confidence, p.end_s - p.start_s))
