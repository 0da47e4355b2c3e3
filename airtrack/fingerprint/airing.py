"""Play bookkeeping: the airings a matcher has on air, where each one started, when it ends.

An airing starts at its alignment (the track's frame 0) when the first hit comes ≤ ``snap``
frames after it (an intro lost under noise or a DJ) or when the track holds too few prints
before it to expect a hit; otherwise ``_LEAD_S`` before the first hits (a mid-way start).  Its
alignment follows a slow drift (a speed between two grid speeds); it closes when it has had no
hits for ``end_gap`` frames.  Closed airings are remembered a while so their tail cannot reopen
them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from airtrack.fingerprint import params as P
from airtrack.fingerprint.evidence import FINE, Candidate, HitStore, aligned, confidence_of
from airtrack.fingerprint.index import Index
from airtrack.fingerprint.plays import PlayEnded, PlayEvent, PlayStarted

__all__ = ["Airings", "OpenPlay"]

_FPS = P.FRAMES_PER_S
#: An airing's start snaps back to the track's frame 0 when the hits missing before the
#: first one are fewer than this (the intro holds few prints, or a DJ talked over it).
_SNAP_EXPECTED = 4.0
_MAX_SNAP_S = 30.0
_LEAD_S = 1.0


@dataclass(slots=True)
class OpenPlay:
    track: int
    k: int  # speed index
    align: float  # frames; drifts slowly when the true speed lies between grid speeds
    start_f: float
    offset_f: float
    last_hit: float
    confidence: float
    hits: int


class Airings:
    """The airings on air and the recently closed ones, in frames of the query."""

    def __init__(
        self, index: Index, speeds: npt.NDArray[np.float64], *, window: float, end_gap: float,
        snap: float,
    ) -> None:  # fmt: skip
        self.index = index
        self._speeds = speeds
        self._window = window
        self._end_gap = end_gap
        self._snap = snap
        self.open: list[OpenPlay] = []
        self.closed: list[OpenPlay] = []

    def follow(self, hits: HitStore) -> None:
        """Extend each open airing by its new hits (last hit, count, drift, confidence)."""
        for play in self.open:
            # only hits after ``last_hit - window`` can matter (the store is sorted by time)
            ht, tr, kk, al = hits.views(hits.after(play.last_hit - self._window))
            near = aligned(tr, kk, al, play.track, play.k, play.align)
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
                fine = recent & (np.abs(al - play.align) <= FINE)
                evidence = np.unique(ht[fine]).shape[0]
                play.confidence = max(play.confidence, confidence_of(float(evidence)))

    def start(self, hits: HitStore, cand: Candidate) -> PlayStarted:
        """Open an airing for ``cand``; its start and offset come from its first anchors."""
        track, k, align = cand.track, cand.k, cand.align
        ht, htr, hk, ha = hits.views()
        sel = aligned(htr, hk, ha, track, k, align)
        # the airing's first anchors: on the alignment line itself (a drift of ≤ 0.5 % moves
        # it ≤ 1.3 frames over a window), so chance hits near the line do not count
        fine = sel & (np.abs(ha - align) <= FINE + 1)
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
        play = OpenPlay(
            track=track,
            k=k,
            align=align,
            start_f=start,
            offset_f=max(0.0, (start - align) * speed),
            last_hit=float(t[-1]),
            confidence=confidence_of(cand.evidence),
            hits=int(np.count_nonzero(sel)),
        )
        self.open.append(play)
        return PlayStarted(
            int(self.index.track_ids[track]),
            play.start_f / _FPS,
            play.confidence,
            play.offset_f / _FPS,
            speed,
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

    def end(self, now: float, frames_fed: float, force: bool) -> list[PlayEvent]:
        """Close the airings silent for ``end_gap`` frames at ``now`` (all when ``force``)."""
        events: list[PlayEvent] = []
        still: list[OpenPlay] = []
        for play in self.open:
            if force or now - play.last_hit > self._end_gap:
                speed = float(self._speeds[play.k])
                track_end = play.align + float(self.index.durations[play.track]) * _FPS / speed
                end = min(play.last_hit + P.DT_MAX / 2, track_end, frames_fed)
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
                self.closed.append(play)
            else:
                still.append(play)
        self.open = still
        return events

    def forget_closed(self, horizon: float) -> None:
        """Drop closed airings whose last hit is before ``horizon`` (their hits are gone)."""
        self.closed = [p for p in self.closed if p.last_hit > horizon]
