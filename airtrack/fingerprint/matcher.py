"""One streaming matcher: audio blocks in, play events out.  ``scan_file`` and ``identify``
run the very same object over a file or a clip.

How a play is found: every query pair is hashed at each speed in ``SPEEDS`` (one vectorised
pass, one lookup); a posting (track, track frame) gives an *alignment* = the query frame where
that track's frame 0 would lie.  The true song piles its hits on one alignment; chance hits
scatter.  Candidates come from a coarse alignment histogram (3-frame bins); the evidence of a
candidate is the number of *distinct query anchors* within ±2 frames of its alignment in the
last ``window_s`` (chords and repeated patterns give many hits from few anchors; chance hits
spread over the coarse bins).  Of a track's alignments about as strong as its best (a song
that repeats a section), the earliest position in the track wins.  The airing starts at that
alignment when the first hit comes ≤ ``snap_s`` after it (an intro lost under noise or a DJ)
or when the track holds too few prints before it to expect a hit; otherwise 1 s before the
first hits (a mid-way start).  A play closes when its alignment has had no hits for
``end_gap_s``.  Other alignments of a track that is on air never open a second play.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from airtrack.fingerprint import params as P
from airtrack.fingerprint.decode import decode
from airtrack.fingerprint.index import Index
from airtrack.fingerprint.landmarks import LandmarkExtractor, Pairs

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
#: Audio between two matching decisions (the live worker's usual block; files are cut alike).
STEP_S = 4.0
#: Confidence = 1 - exp(-(evidence - _NULL) / _SCALE), where evidence = distinct query
#: anchors (frames) whose pairs hit one (track, speed, alignment) within one window.
_NULL = 8.0
_SCALE = 8.5
_FPS = P.FRAMES_PER_S
_BIN = 3  # alignment histogram bin (frames)
_TOL = 8  # frames: hits this close to a play's alignment belong to it
_FINE = 2  # frames: evidence counts anchors this close to the candidate's alignment
_REFINE = 4  # best coarse candidates refined per step
_REPEAT_RATIO = 0.6  # alignments of one track this close to the best count as a repeat
_HISTORY_S = 40.0
_MAX_POSTINGS = 32  # a hash in more places than this says nothing: skipped
#: An airing's start snaps back to the track's frame 0 when the hits missing before the
#: first one are fewer than this (the intro holds few prints, or a DJ talked over it).
_SNAP_EXPECTED = 4.0
_MAX_SNAP_S = 30.0
_LEAD_S = 1.0


def confidence_of(evidence: float) -> float:
    """Calibrated confidence in [0, 1) for the evidence (distinct aligned anchors) in a window."""
    return 1.0 - math.exp(-max(0.0, evidence - _NULL) / _SCALE)


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


class _Hits:
    """The hit store: parallel arrays (query anchor frame ``t``, dense track ``tr``, speed
    index ``k``, alignment ``a``) sorted by ``t``, in preallocated buffers.  Appending writes
    in place and pruning moves a start index: no per-block copy of the whole history."""

    def __init__(self, capacity: int = 1 << 15) -> None:
        self.t = np.empty(capacity, np.int64)
        self.tr = np.empty(capacity, np.int64)
        self.k = np.empty(capacity, np.int64)
        self.a = np.empty(capacity, np.float64)
        self.lo = 0
        self.hi = 0

    @property
    def size(self) -> int:
        return self.hi - self.lo

    def append(
        self,
        t: npt.NDArray[np.int64],
        tr: npt.NDArray[np.int64],
        k: npt.NDArray[np.int64],
        a: npt.NDArray[np.float64],
    ) -> None:
        n, live = t.shape[0], self.hi - self.lo
        if self.hi + n > self.t.shape[0]:
            cap = max(self.t.shape[0], 2 * (live + n))
            for name in ("t", "tr", "k", "a"):
                old = getattr(self, name)
                new = old if cap == old.shape[0] else np.empty(cap, old.dtype)
                new[:live] = old[self.lo : self.hi]
                setattr(self, name, new)
            self.lo, self.hi = 0, live
        end = self.hi + n  # callers append in time order
        self.t[self.hi : end] = t
        self.tr[self.hi : end] = tr
        self.k[self.hi : end] = k
        self.a[self.hi : end] = a
        self.hi = end

    def after(self, frame: float) -> int:
        """Buffer position of the first hit with ``t > frame``."""
        return self.lo + int(np.searchsorted(self.t[self.lo : self.hi], frame, "right"))

    def views(
        self, start: int | None = None
    ) -> tuple[
        npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]
    ]:
        i = self.lo if start is None else start
        return self.t[i : self.hi], self.tr[i : self.hi], self.k[i : self.hi], self.a[i : self.hi]


class StreamingMatcher:
    """Feed mono float32 blocks at ``SAMPLE_RATE``; get ``PlayStarted``/``PlayEnded`` events."""

    def __init__(
        self,
        index: Index,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        window_s: float = 8.0,
        end_gap_s: float = 20.0,
        snap_s: float = 10.0,
        speeds: tuple[float, ...] = P.SPEEDS,
    ) -> None:
        self.index = index
        self.threshold = threshold
        self.min_evidence = _NULL - _SCALE * math.log(max(1e-9, 1.0 - threshold))
        self._window = window_s * _FPS
        self._end_gap = end_gap_s * _FPS
        self._snap = snap_s * _FPS
        self._speeds = np.asarray(speeds, dtype=np.float64)
        self._log_speeds = np.log(self._speeds)[:, None]
        self._extractor = LandmarkExtractor()
        self._hits = _Hits()
        self._open: list[_OpenPlay] = []
        self._closed: list[_OpenPlay] = []
        self._now = 0.0  # frames: pairs anchored before this are all known
        self._closed_flag = False
        self._step_n = int(STEP_S * P.SAMPLE_RATE)
        self._pending: list[npt.NDArray[np.float32]] = []
        self._pending_n = 0

    # -- public -----------------------------------------------------------------------------
    def feed(self, block: npt.NDArray[np.floating]) -> list[PlayEvent]:
        """Take audio in blocks of any size; decisions happen every ``STEP_S`` of audio.

        Cutting the input at fixed audio positions makes the events independent of how
        the caller chunks it, so a file scan and a live stream give the same plays.
        """
        if self._closed_flag:
            raise RuntimeError("matcher already closed")
        block = np.asarray(block, dtype=np.float32).reshape(-1)
        events: list[PlayEvent] = []
        i, n = 0, block.shape[0]
        while i < n:
            take = min(self._step_n - self._pending_n, n - i)
            self._pending.append(block[i : i + take])
            self._pending_n += take
            i += take
            if self._pending_n == self._step_n:
                events.extend(self._advance(self._take_pending()))
        return events

    def _take_pending(self) -> npt.NDArray[np.float32]:
        parts, self._pending, self._pending_n = self._pending, [], 0
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _advance(self, chunk: npt.NDArray[np.float32]) -> list[PlayEvent]:
        pairs = self._extractor.feed(chunk)
        self._now = max(self._now, float(self._extractor.frames - P.PEAK_DT - P.DT_MAX))
        return self._step(pairs, final=False)

    def close(self) -> list[PlayEvent]:
        """Flush the audio tail; every open play ends."""
        if self._closed_flag:
            return []
        events = self._advance(self._take_pending()) if self._pending_n else []
        self._closed_flag = True
        pairs = self._extractor.flush()
        self._now = float(self._extractor.frames)
        return events + self._step(pairs, final=True)

    @property
    def seconds_fed(self) -> float:
        """Audio given to :meth:`feed` so far (including what waits for the next step)."""
        return (self._extractor.samples_seen + self._pending_n) / P.SAMPLE_RATE

    # -- internals --------------------------------------------------------------------------
    def _step(self, pairs: Pairs, final: bool) -> list[PlayEvent]:
        if len(pairs):
            self._add_hits(pairs)
        events: list[PlayEvent] = []
        if self._hits.size:
            self._follow_open()
            events.extend(self._detect())
        events.extend(self._end_plays(force=final))
        self._prune()
        return events

    def _hash_all_speeds(self, pairs: Pairs) -> npt.NDArray[np.uint32]:
        """Hashes of every pair at every speed, shape (speeds, pairs), in one pass."""
        q1 = np.floor((pairs.lnf1[None, :] - (self._log_speeds + P.LN_F_LO)) * (1.0 / P.Q_F1))
        q1 = np.clip(q1, 0, (1 << P.F1_BITS) - 1).astype(np.uint32)
        q2 = np.floor(pairs.df * (1.0 / P.Q_DF)) + (1 << (P.DF_BITS - 1))
        q2 = np.clip(q2, 0, (1 << P.DF_BITS) - 1).astype(np.uint32)
        q3 = np.rint(pairs.dt[None, :] * self._speeds[:, None])
        q3 = np.clip(q3, 1, (1 << P.DT_BITS) - 1).astype(np.uint32)
        out: npt.NDArray[np.uint32] = (q1 << (P.DF_BITS + P.DT_BITS)) | (q2 << P.DT_BITS) | q3
        return out

    def _add_hits(self, pairs: Pairs) -> None:
        s = len(self._speeds)
        # pair-major (pairs come in anchor order): the hits come out sorted by time
        hashes = self._hash_all_speeds(pairs).T.reshape(-1)
        qrow, track, tref = self.index.lookup(hashes, max_postings=_MAX_POSTINGS)
        if qrow.size == 0:
            return
        i, k = np.divmod(qrow, s)
        t = pairs.t[i]
        align = t - tref.astype(np.float64) / self._speeds[k]
        self._hits.append(t, track.astype(np.int64), k, align)

    @staticmethod
    def _aligned(
        tr: npt.NDArray[np.int64],
        kk: npt.NDArray[np.int64],
        al: npt.NDArray[np.float64],
        track: int,
        k: int,
        align: float,
    ) -> npt.NDArray[np.bool_]:
        sel: npt.NDArray[np.bool_] = tr == track
        sel &= kk == k
        sel &= np.abs(al - align) <= _TOL
        return sel

    def _follow_open(self) -> None:
        for play in self._open:
            # only hits after ``last_hit - window`` can matter (the store is sorted by time)
            ht, tr, kk, al = self._hits.views(self._hits.after(play.last_hit - self._window))
            near = self._aligned(tr, kk, al, play.track, play.k, play.align)
            sel = near & (ht > play.last_hit)
            if not sel.any():
                continue
            t = ht[sel]
            play.last_hit = float(t.max())
            play.hits += int(sel.sum())
            # let the alignment follow a slow drift (speed between two grid speeds)
            recent = near & (ht > play.last_hit - self._window)
            if recent.sum() >= 5:
                play.align = float(np.median(al[recent]))
                fine = recent & (np.abs(al - play.align) <= _FINE)
                evidence = np.unique(ht[fine]).shape[0]
                play.confidence = max(play.confidence, confidence_of(float(evidence)))

    def _detect(self) -> list[PlayEvent]:
        events: list[PlayEvent] = []
        while True:
            best = self._best_candidate()
            if best is None:
                return events
            track, k, align, evidence = best
            play = self._open_play(track, k, align, evidence)
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
        ht, htr, hk, ha = self._hits.views(self._hits.after(self._now - self._window))
        if ht.shape[0] < self.min_evidence:
            return None
        win = np.ones(ht.shape[0], np.bool_)
        for p in self._closed:  # the tail of a closed airing must not reopen it
            win &= ~((htr == p.track) & (np.abs(ha - p.align) <= 4 * _TOL))
        for p in self._open:
            win &= htr != p.track
        if np.count_nonzero(win) < self.min_evidence:
            return None
        tr, kk, al, tq = htr[win], hk[win], ha[win], ht[win]
        bins = np.floor(al / _BIN).astype(np.int64)
        key = (tr * len(self._speeds) + kk) * (1 << 32) + (bins + (1 << 31))
        # coarse: raw hit counts (≥ distinct anchors, so a safe filter); refined below
        uniq, counts = np.unique(key, return_counts=True)
        # merge each bin with its two neighbours (an alignment may straddle a bin edge)
        # (``uniq`` is sorted: a neighbour bin, when present, is the adjacent entry)
        merged = counts.copy()
        adjacent = uniq[1:] == uniq[:-1] + 1
        merged[:-1] += np.where(adjacent, counts[1:], 0)
        merged[1:] += np.where(adjacent, counts[:-1], 0)
        strong = np.flatnonzero(merged >= self.min_evidence)
        for i in strong[np.argsort(-merged[strong], kind="stable")][:_REFINE]:
            tk = int(uniq[i] >> 32)
            track, k = divmod(tk, len(self._speeds))
            same = np.nonzero((uniq >> 32 == tk) & (merged >= self.min_evidence))[0]
            found: list[tuple[float, int]] = []
            for j in same:
                bin_ = int(uniq[j] & 0xFFFFFFFF) - (1 << 31)
                near = (tr == track) & (kk == k) & (np.abs(bins - bin_) <= 1)
                align = float(np.median(al[near]))
                # evidence proper: distinct anchors on the alignment itself (±_FINE frames);
                # chance coincidences scatter over the coarse bins, a real airing does not
                fine = near & (np.abs(al - align) <= _FINE)
                evidence = int(np.unique(tq[fine]).shape[0])
                if evidence >= self.min_evidence:
                    found.append((align, evidence))
            if found:
                # a song that repeats a section matches at several alignments: of those
                # about as strong as the best, take the earliest position in the track
                top = max(e for _, e in found)
                align, evidence = max((a, e) for a, e in found if e >= _REPEAT_RATIO * top)
                return track, k, align, evidence
        return None

    def _open_play(self, track: int, k: int, align: float, evidence: int) -> _OpenPlay:
        ht, htr, hk, ha = self._hits.views()
        sel = self._aligned(htr, hk, ha, track, k, align)
        # the airing's first anchors: on the alignment line itself (a drift of ≤ 0.5 % moves
        # it ≤ 1.3 frames over a window), so chance hits near the line do not count
        fine = sel & (np.abs(ha - align) <= _FINE + 1)
        t = np.unique(ht[fine if fine.any() else sel]).astype(np.float64)
        # earliest anchor followed by two more within 3 s: robust to a stray hit
        first = float(t[0])
        dense = np.nonzero(t[2:] - t[:-2] <= 3 * _FPS)[0]
        if dense.size:
            first = float(t[int(dense[0])])
        speed = float(self._speeds[k])
        # the first hit lags the first sound (a fade-in; an anchor needs its partners)
        start = max(0.0, first - _LEAD_S * _FPS)
        if first - align <= self._snap or self._intro_unheard(track, speed, align, first, t):
            start = max(0.0, align)
        return _OpenPlay(
            track=track,
            k=k,
            align=align,
            start_f=start,
            offset_f=max(0.0, (start - align) * speed),
            last_hit=float(t[-1]),
            confidence=confidence_of(evidence),
            hits=int(np.count_nonzero(sel)),
        )

    def _intro_unheard(
        self, track: int, speed: float, align: float, first: float, anchors: npt.NDArray[np.float64]
    ) -> bool:
        """Did the airing likely start at the track's frame 0, its first part unheard?

        True when the track's prints before the first hit are so few, given the hit rate
        seen since, that hearing none of them is unsurprising (a quiet intro, a DJ over it).
        """
        gap = first - align
        if gap > _MAX_SNAP_S * _FPS:
            return False
        ref_first = gap * speed
        ref_last = (float(anchors[-1]) - align) * speed
        seen = float(np.count_nonzero(anchors >= first))
        ref_seen = self.index.prints_between(track, ref_first, ref_last + 1)
        ref_gap = self.index.prints_between(track, 0.0, ref_first)
        rate = min(1.0, seen / max(1.0, float(ref_seen)))
        return ref_gap * rate < _SNAP_EXPECTED

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
        hits = self._hits
        if hits.size == 0 or hits.t[hits.lo] > horizon - 10 * _FPS:
            return  # prune in steps of 10 s (the hits kept are part of the matcher's result)
        hits.lo = hits.after(horizon)
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
    for block in decode(path):  # 16-s blocks for files: per-block work spread thinner
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
