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
alignment when its first run of hits comes ≤ ``snap_s`` after it (an intro lost under noise or
a DJ) or when the track holds too few prints before it to expect a hit, unless that reaches
back into an airing heard then; otherwise 1 s before the first run of hits (a mid-way start).
A play's evidence ends at its last *dense* anchor (three within 2 s); it ends there (+0.5 s),
reported once its alignment has had no such evidence for ``end_gap_s``.  While a play's line
is heard, its track opens nothing else; once that line stops, another alignment of the track
that goes on is the same airing when it lies later in the song (a radio edit) or ran beside
it from the start (a repeated section), and a new airing when it went back (a repeat, a
rewind): see :meth:`Airings.jump`.

The parts live by concept: :mod:`~airtrack.fingerprint.evidence` (hits, alignment and evidence
scoring), :mod:`~airtrack.fingerprint.airing` (open plays: start snapping, drift, end),
:mod:`~airtrack.fingerprint.plays` (the events and plays reported).  This module is the
decision loop that drives them at fixed audio steps.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from airtrack.fingerprint import params as P
from airtrack.fingerprint.airing import Airings
from airtrack.fingerprint.decode import decode_ahead
from airtrack.fingerprint.evidence import (
    DEFAULT_THRESHOLD,
    HitStore,
    best_candidate,
    confidence_of,
    lookup_hits,
    min_evidence,
)
from airtrack.fingerprint.index import Index
from airtrack.fingerprint.landmarks import LandmarkExtractor, Pairs
from airtrack.fingerprint.lineprobe import LineProbe
from airtrack.fingerprint.plays import (
    Match,
    Play,
    PlayEnded,
    PlayEvent,
    PlayStarted,
    plays_from_events,
)

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

#: Audio between two matching decisions (the live worker's usual block; files are cut alike).
STEP_S = 4.0
_FPS = P.FRAMES_PER_S
_HISTORY_S = 40.0
#: Candidates weighed per decision step (new airings, sections and jumps of those on air).
_MAX_CANDIDATES = 8


class StreamingMatcher:
    """Feed mono float32 blocks at ``SAMPLE_RATE``; get ``PlayStarted``/``PlayEnded`` events.

    ``faint_boundaries=False`` leaves out the song's template near boundaries (see
    :mod:`~airtrack.fingerprint.lineprobe`): the boundaries of the hits alone."""

    def __init__(
        self,
        index: Index,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        window_s: float = 8.0,
        end_gap_s: float = 20.0,
        snap_s: float = 10.0,
        speeds: tuple[float, ...] = P.SPEEDS,
        faint_boundaries: bool = True,
    ) -> None:
        self.index = index
        self.threshold = threshold
        self.min_evidence = min_evidence(threshold)
        self._window = window_s * _FPS
        self._speeds = np.asarray(speeds, dtype=np.float64)
        self._log_speeds = np.log(self._speeds)[:, None]
        self._extractor = LandmarkExtractor()
        self._hits = HitStore()
        # the recent audio, looked at again near a play's boundaries (its history must cover
        # a start's look back and an end's look forward)
        self._probe = LineProbe(index, max(P.LINE_HISTORY_S, end_gap_s + 2 * STEP_S))
        self._airings = Airings(
            index, self._speeds, window=self._window, end_gap=end_gap_s * _FPS,
            snap=snap_s * _FPS, probe=self._probe if faint_boundaries else None,
        )  # fmt: skip
        if faint_boundaries:  # its log spectrum, held for the template (not recomputed)
            self._extractor.on_spectrum = self._probe.history.add_rows
        self._now = 0.0  # frames: pairs anchored before this are all known
        self._closed_flag = False
        self._step_n = int(STEP_S * P.SAMPLE_RATE)
        self._pending: list[npt.NDArray[np.float32]] = []
        self._pending_n = 0
        #: told ``(pairs, frames)`` of every step: the query prints heard (the archive)
        self.on_pairs: Callable[[Pairs, int], None] | None = None
        self._replay_frames: int | None = None

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

    def close(self) -> list[PlayEvent]:
        """Flush the audio tail; every open play ends."""
        if self._closed_flag:
            return []
        events = self._advance(self._take_pending()) if self._pending_n else []
        self._closed_flag = True
        if self._replay_frames is not None:
            self._now = float(self._replay_frames)
            return events + self._step(Pairs.empty(), final=True)
        pairs = self._extractor.flush()
        self._now = float(self._extractor.frames)
        if self.on_pairs is not None:
            self.on_pairs(pairs, self.frames)
        return events + self._step(pairs, final=True)

    def feed_pairs(self, pairs: Pairs, frames: int) -> list[PlayEvent]:
        """Replay archived query prints: ``pairs`` anchored before ``frames − PEAK_DT −
        DT_MAX`` (the same decision point as live audio), frames counted from this matcher's
        start. The same decisions follow as for the audio they came from."""
        if self._closed_flag:
            raise RuntimeError("matcher already closed")
        self._replay_frames = max(frames, self._replay_frames or 0)
        self._now = max(self._now, float(self._replay_frames - P.PEAK_DT - P.DT_MAX))
        return self._step(pairs, final=False)

    @property
    def frames(self) -> int:
        """Frames of audio (or of replayed prints) this matcher has covered."""
        if self._replay_frames is not None:
            return self._replay_frames
        return int(self._extractor.frames)

    @property
    def seconds_fed(self) -> float:
        """Audio given to :meth:`feed` so far (including what waits for the next step)."""
        return (self._extractor.samples_seen + self._pending_n) / P.SAMPLE_RATE

    # -- internals --------------------------------------------------------------------------
    def _take_pending(self) -> npt.NDArray[np.float32]:
        parts, self._pending, self._pending_n = self._pending, [], 0
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _advance(self, chunk: npt.NDArray[np.float32]) -> list[PlayEvent]:
        self._probe.history.append(chunk.shape[0])
        pairs = self._extractor.feed(chunk)
        self._now = max(self._now, float(self._extractor.frames - P.PEAK_DT - P.DT_MAX))
        if self.on_pairs is not None:
            self.on_pairs(pairs, self.frames)
        return self._step(pairs, final=False)

    def _step(self, pairs: Pairs, final: bool) -> list[PlayEvent]:
        if len(pairs):
            lookup_hits(self.index, pairs, self._speeds, self._log_speeds, self._hits)
        events: list[PlayEvent] = []
        if self._hits.size:
            self._airings.follow(self._hits)
            events.extend(self._detect())
        events.extend(self._airings.end(self._now, float(self.frames), force=final))
        self._prune()
        return events

    def _detect(self) -> list[PlayEvent]:
        """Open an airing for each new candidate strong enough, strongest first.

        A new alignment of a track already on air is a repeated section (ignored), the
        airing going on there (a radio edit's jump forward: the play follows it) or a
        restart (the play ends, a new one opens): :meth:`Airings.jump` tells which.
        """
        events: list[PlayEvent] = []
        airings = self._airings
        ignored: list[tuple[int, float]] = []
        for _ in range(_MAX_CANDIDATES):
            cand = best_candidate(
                self._hits,
                self._now - self._window,
                self.min_evidence,
                len(self._speeds),
                closed=[(p.track, p.align) for p in (*airings.closed, *airings.open)] + ignored,
                on_air=airings.heard(self._now),
            )
            if cand is None:
                break
            playing = [p for p in airings.open if p.track == cand.track]
            if playing:
                how = airings.jump(playing[0], cand, self._hits, self._now)
                if how == "section":
                    ignored.append((cand.track, cand.align))
                    continue
                if how == "follow":
                    continue
                events.append(airings.close(playing[0], float(self.frames)))
            events.append(airings.start(self._hits, cand))
        return events

    def _prune(self) -> None:
        horizon = self._now - _HISTORY_S * _FPS
        hits = self._hits
        if hits.size == 0 or hits.t[hits.lo] > horizon - 10 * _FPS:
            return  # prune in steps of 10 s (the hits kept are part of the matcher's result)
        hits.lo = hits.after(horizon)
        self._airings.forget_closed(horizon)


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
    # 16-s blocks for files (per-block work spread thinner), decoded while the matcher works
    for block in decode_ahead(path):
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
