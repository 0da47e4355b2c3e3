"""Sensitive evidence on one play's line, where its song is faint: under noise, under a voice.

The matcher's hits come from the engine's peaks (the maximum of ±10 frames × ±14 bins).
Where noise or a voice is louder than the music those peaks are theirs, and the song's own
partials, still there, give no print.  Looking for more prints (denser peaks, every pair a
print could make) does not help: on the hard-boundary bench a track's line agreed with
pink noise or speech as often as with its own faint intro (2-4 agreeing anchors a second).

So near a play's boundaries the track's own prints are the template: each print's two
peaks (its hash holds the anchor's frequency, the target's ratio and their distance), put
where the play's alignment and speed place them in the recent audio, are read there as
*how far the spectrum stands above its surroundings* (its 3 × 3 maximum over the mean of
the 21 frames × 31 bins around).  The song's partials stand out where its peaks are even
when they are not the loudest thing in the frame.  The same template moved by a few seconds
either way measures the same audio by chance; a window of audio where the song's template
scores ``LINE_Z`` standard deviations and ``LINE_MARGIN`` over the moved ones holds the song
(the bench, over 5-10 s: faint intro z 4-8, talk over an outro 7, the song's own loud part
11; pink noise, another song, speech -1 to 2).  :func:`reach_back` and :func:`reach_on`
follow runs of such windows away from a play's dense evidence.

A track's template is stored in the index beside its postings (``Index.template``: its
rows only are read).  An index file without templates is passed over for a track's prints
(it is addressed by hash, not by track; ~1 s at 30,000 tracks, kept for the last
``LINE_CACHE`` tracks) only when small (``LINE_SCAN_MAX_POSTINGS``); a bigger one has no
template, and the reach is off.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from airtrack.fingerprint import params as P
from airtrack.fingerprint.index import Index
from airtrack.fingerprint.landmarks import _BIN_HI, _BIN_LO
from airtrack.fingerprint.standing import standing_at
from airtrack.fingerprint.template import bin_hz, repeat_lags, template_peaks

__all__ = ["LineEvidence", "LineProbe", "SpectrumHistory", "track_peaks"]

Floats = npt.NDArray[np.float64]
#: template shifts (s) that measure chance: not multiples of one another (a song's beat)
_SHIFTS = (-7.3, -5.1, -3.7, -2.3, 2.9, 4.3, 6.1, 8.7)
#: an end's first look (s on from its last anchor): the run from it has stopped by then
_FIRST_LOOK_S = 7.0
#: spectrum frames read past the template's reach on a first look: the 3 × 3 maximum and
#: the background mean of the rows it reads do not see the stretch's end
_EXTRA = P.LINE_BG_DT // 2 + 2
_SCAN = 1 << 24  # postings per step of the scan for a track's prints
_MAX_LAG_S = 30.0  # a start's look back (airing._MAX_SNAP_S): repeats further on do not matter


class SpectrumHistory:
    """The log band spectrum (the landmark extractor's rows, not recomputed) of the last
    ``seconds`` of audio fed to a matcher, addressed by engine frame.  Held as the audio
    was: the frames whose whole window lies in the chunks that make up the last
    ``seconds``, as the extractor's own blocks of rows (it never writes them again: held,
    not copied; 3.7 MB a stream at 48 s: float32, 2,012 frames × 455 bins, and up to one
    step's block more, the oldest one held whole)."""

    def __init__(self, seconds: float) -> None:
        self._keep = int(seconds * P.SAMPLE_RATE)
        self._chunks: deque[int] = deque()  # samples per chunk held
        self._start = 0  # absolute sample of the first chunk held
        self._n = 0
        #: (first frame, rows) of consecutive blocks of frames
        self._blocks: deque[tuple[int, npt.NDArray[np.float32]]] = deque()

    def append(self, samples: int) -> None:
        """A chunk of ``samples`` was fed (before its spectrum rows come)."""
        self._chunks.append(samples)
        self._n += samples
        while self._chunks and self._n - self._chunks[0] >= self._keep:
            self._start += self._chunks[0]
            self._n -= self._chunks.popleft()

    def add_rows(self, frame: int, rows: npt.NDArray[np.float32]) -> None:
        """The spectrum rows of frames ``frame, frame + 1, …`` (held, never written to)."""
        if rows.shape[0]:
            self._blocks.append((frame, rows))
        first = self.first_frame
        while self._blocks and self._blocks[0][0] + self._blocks[0][1].shape[0] <= first:
            self._blocks.popleft()

    @property
    def first_frame(self) -> int:
        """The first STFT frame whose whole window is still held."""
        return -(-self._start // P.HOP)

    def frames(self, f0: float, f1: float) -> tuple[int, npt.NDArray[np.float32]]:
        """(first frame, spectrum rows) of the frames ``[f0, f1)`` that are held."""
        row0, end = (
            (self._blocks[0][0], self._blocks[-1][0] + self._blocks[-1][1].shape[0])
            if self._blocks
            else (0, 0)
        )
        a = max(self.first_frame, row0, math.floor(f0))
        b = min(math.ceil(f1), end)
        if b <= a:
            return a, np.zeros((0, _BIN_HI - _BIN_LO), np.float32)
        parts = [
            rows[max(a - s, 0) : b - s]
            for s, rows in self._blocks
            if s < b and s + rows.shape[0] > a
        ]
        return a, parts[0] if len(parts) == 1 else np.concatenate(parts)


class LineProbe:
    """Template evidence on a play's line, from the audio a matcher heard last."""

    def __init__(self, index: Index, seconds: float) -> None:
        self.index = index
        self.history = SpectrumHistory(seconds)

    def repeats(self, track: int) -> list[float]:
        """The lags (track frames) at which the track's opening comes again
        (:func:`~airtrack.fingerprint.template.repeat_lags` of its template; none without
        one), longer than ``LINE_SNAP_S``."""
        key = (self.index.version, track)
        with _cache_lock:
            if key in _repeats:
                _repeats.move_to_end(key)
                return _repeats[key]
        lags: list[float] = []
        rows = _template_rows(self.index, track)
        if rows is not None:
            t, q = rows
            fps = P.FRAMES_PER_S
            found = repeat_lags(
                t, q, span=int(P.LINE_REPEAT_SPAN_S * fps), max_lag=int(_MAX_LAG_S * fps),
                share=P.LINE_REPEAT_SHARE,
            )  # fmt: skip
            lags = [float(lag) for lag in found if lag > P.LINE_SNAP_S * fps]
        with _cache_lock:
            _repeats[key] = lags
            while len(_repeats) > P.LINE_CACHE:
                _repeats.popitem(last=False)
        return lags

    def reach_on(self, track: int, speed: float, align: float, last: float, f1: float) -> float:
        """:func:`reach_on` from ``last`` of the evidence over ``[last - 1 s, f1)``, read
        first over the next ``_FIRST_LOOK_S`` only: most ends stop there, and those
        windows but the last two are the same bit for bit over the shorter stretch of
        spectrum (its first frame is the same, so are the background's running sums;
        the rows they read lie further than the background's reach from its end)."""
        f0 = last - P.FRAMES_PER_S
        near = last + _FIRST_LOOK_S * P.FRAMES_PER_S
        if near + 2 * P.FRAMES_PER_S < f1:
            ev = self.evidence(track, speed, align, f0, near, steady=False, extra=_EXTRA)
            if ev.heard.shape[0] > 2:
                head = LineEvidence(ev.first, ev.heard[:-2], ev.leaning[:-2])
                reach, stopped = _reach(head, last, back=False, carry=True)
                if stopped:
                    return reach
        return reach_on(self.evidence(track, speed, align, f0, f1, steady=False), last)

    def evidence(
        self, track: int, speed: float, align: float, f0: float, f1: float, *, steady: bool,
        extra: int = 0,
    ) -> LineEvidence:  # fmt: skip
        """How well the track's template on the line ``align`` (the query frame of the
        track's frame 0) at ``speed`` fits the held audio of frames ``[f0, f1)``; with
        ``steady``, a window is heard only when every second of it leans the song's way.
        ``extra`` more frames of spectrum are read past the template's reach."""
        pad = max(abs(s) for s in _SHIFTS) * P.FRAMES_PER_S + 2
        a, spec = self.history.frames(f0 - pad, f1 + pad + extra)
        lo, hi = max(float(a), f0), f1
        empty = LineEvidence(lo, np.zeros(0, np.bool_))
        if spec.shape[0] == 0 or hi - lo < P.LINE_WIN_S * P.FRAMES_PER_S:
            return empty
        t, f = track_peaks(self.index, track)
        tq = np.rint(align + t / speed).astype(np.int64) - a
        b = np.rint(f * speed * (P.N_FFT / P.SAMPLE_RATE) - _BIN_LO).astype(np.int64)
        ok = (tq >= lo - a) & (tq < hi - a) & (b >= 0) & (b < spec.shape[1])
        tq, b = tq[ok], b[ok]
        win, step = P.LINE_WIN_S * P.FRAMES_PER_S, P.FRAMES_PER_S / 2
        starts = np.arange(lo - a, hi - a - win + 1, step)
        if starts.size == 0 or tq.size == 0:
            return empty
        shifts = np.rint(np.array((0.0, *_SHIFTS)) * P.FRAMES_PER_S).astype(np.int64)
        rows = np.clip(tq[None, :] + shifts[:, None], 0, spec.shape[0] - 1)
        # how far the spectrum stands out, at the template's cells only (shift, peak)
        cols = np.broadcast_to(b[None, :], rows.shape)
        z = standing_at(spec, P.LINE_BG_DT // 2, P.LINE_BG_DF // 2, rows.ravel(), cols.ravel())
        vals = z.reshape(rows.shape)
        order = np.argsort(tq, kind="stable")
        tq_sorted = tq[order]
        csum = np.concatenate(
            (np.zeros((len(shifts), 1)), np.cumsum(vals[:, order], axis=1)), axis=1
        )

        def excess(lo_f: Floats, width: float) -> tuple[Floats, Floats, npt.NDArray[np.int64]]:
            """Per span ``[lo_f, lo_f + width)``: the template's mean on the line less its
            mean moved, the spread of the moved means, and how many peaks it holds."""
            i = np.searchsorted(tq_sorted, lo_f, "left")
            j = np.searchsorted(tq_sorted, lo_f + width, "left")
            mean = (csum[:, j] - csum[:, i]) / np.maximum(j - i, 1)
            null = mean[1:]
            return mean[0] - null.mean(axis=0), null.std(axis=0), j - i

        d, sd, n = excess(starts, win)
        heard = (n >= P.LINE_MIN_PEAKS) & (d >= P.LINE_MARGIN)
        leaning = heard & (d >= P.LINE_CARRY_Z * np.maximum(sd, P.LINE_SD_FLOOR))
        heard &= d >= P.LINE_Z * np.maximum(sd, P.LINE_SD_FLOOR)
        # and the song in every second of the window, not in a burst of it: a window is
        # as wide as the gaps a start's run must not bridge (stray notes of another copy's
        # line before a join).  A voice over an outro masks the song for seconds at a time,
        # and nothing of the song's line comes after its end but by chance: ends do without
        sec = P.FRAMES_PER_S
        for q in range(int(P.LINE_WIN_S) if steady else 0):
            dq, _, nq = excess(starts + q * sec, sec)
            heard &= (dq > 0) | (nq < P.LINE_MIN_PEAKS / P.LINE_WIN_S / 2)
        return LineEvidence(float(a) + float(starts[0]), heard, leaning)


@dataclass(frozen=True, slots=True)
class LineEvidence:
    """Windows of ``LINE_WIN_S`` every half second from frame ``first`` on: is the song's
    template heard in each (``heard``), does it lean the song's way (``leaning``: the
    margin, ``LINE_CARRY_Z`` standard deviations; every heard window does)?"""

    first: float
    heard: npt.NDArray[np.bool_]
    leaning: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, np.bool_))

    def window(self, i: int) -> tuple[float, float]:
        """(first frame, last frame) of window ``i``."""
        a = self.first + i * P.FRAMES_PER_S / 2
        return a, a + P.LINE_WIN_S * P.FRAMES_PER_S


def reach_back(ev: LineEvidence, first: float) -> float:
    """Where the song's template stops being heard, going back from ``first`` (a play's
    first dense anchor): the run of heard windows that reaches ``first`` (through at most
    ``LINE_GAP_S`` of unheard ones) ends at its earliest window, whose last quarter is where
    the song was first heard (a window is heard once the song fills about a quarter of it);
    ``first`` when no such run."""
    return _reach(ev, first, back=True)[0]


def reach_on(ev: LineEvidence, last: float) -> float:
    """Where the song's template stops being heard, going on from ``last`` (a play's last
    dense anchor): :func:`reach_back` the other way in time, the run carried on also
    through windows that lean the song's way (a voice over an outro masks it for seconds
    at a time; such windows never place the end themselves)."""
    return _reach(ev, last, back=False, carry=True)[0]


def _reach(ev: LineEvidence, edge: float, back: bool, carry: bool = False) -> tuple[float, bool]:
    """(reach, whether the run stopped before the last window); with ``carry``, a gap
    between heard windows made of windows that lean the song's way, and of at most
    ``LINE_CARRY_MISSES`` that do not, does not count against ``LINE_GAP_S``.  A gap with
    more that do not lean counts whole, its leaning windows too: a voice over an outro
    leans the song's way nearly throughout, while speech after a song's end leans its way
    only now and then, by chance (a carry through such a gap reached a chance run of heard
    windows 5 s into the speech)."""
    quarter = P.LINE_WIN_S * P.FRAMES_PER_S / 4
    allowed = int(P.LINE_GAP_S * 2)  # windows come every half second
    limit = P.LINE_CARRY_MISSES if carry else 0
    order = range(ev.heard.shape[0] - 1, -1, -1) if back else range(ev.heard.shape[0])
    reach, gap, plain = edge, 0, 0
    for i in order:
        a, b = ev.window(i)
        inner = b - quarter if back else a + quarter
        if (inner > edge) if back else (inner < edge):
            continue  # a window that lies mostly on the play's own run
        if not ev.heard[i]:
            gap += 1
            plain += not (carry and ev.leaning[i])
            if plain > limit and gap > allowed:
                return reach, True
            continue
        gap = plain = 0
        reach = min(reach, inner) if back else max(reach, inner)
    return reach, False


_cache: OrderedDict[tuple[str, int], tuple[Floats, Floats]] = OrderedDict()
_repeats: OrderedDict[tuple[str, int], list[float]] = OrderedDict()
_cache_lock = threading.Lock()


def track_peaks(index: Index, track: int) -> tuple[Floats, Floats]:
    """(track frame, Hz) of the peaks of dense ``track``'s prints (its template, see
    ``airtrack.fingerprint.template``): read from the index's stored templates (only the
    track's rows).  Of a segmented index (the worker's catalog), from the segment that holds
    the track.  An index without templates is passed over for the track's prints if it holds
    at most ``LINE_SCAN_MAX_POSTINGS``; a bigger one gives none (the reach is off)."""
    held = _segment_of(index, track)
    if held is None:
        return np.zeros(0), np.zeros(0)
    index, track = held
    rows = _template_rows(index, track)
    if rows is not None:
        return rows[0].astype(np.float64), bin_hz(rows[1])
    if index.n_hashes > P.LINE_SCAN_MAX_POSTINGS:
        return np.zeros(0), np.zeros(0)
    key = (index.version, track)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    frames, bins = template_peaks(*scan_prints(index, track))
    out = (frames.astype(np.float64), bin_hz(bins))
    with _cache_lock:
        _cache[key] = out
        while len(_cache) > P.LINE_CACHE:
            _cache.popitem(last=False)
    return out


def _segment_of(index: Index, track: int) -> tuple[Index, int] | None:
    """(index, dense track) that holds dense ``track``: of a segmented index (the worker's
    catalog, whose own posting arrays are empty) the segment and the track's number in it;
    None past the last segment."""
    segments = getattr(index, "segments", None)
    if segments is None:
        return index, track
    for seg in segments:
        if track < seg.n_tracks:
            return _segment_of(seg, track)
        track -= seg.n_tracks
    return None


def _template_rows(
    index: Index, track: int
) -> tuple[npt.NDArray[np.unsignedinteger], npt.NDArray[np.unsignedinteger]] | None:
    """Dense ``track``'s stored template (``Index.template``), of a segmented index from the
    segment that holds it; None where none is stored."""
    held = _segment_of(index, track)
    if held is None or not held[0].has_templates:
        return None
    return held[0].template(held[1])


def scan_prints(index: Index, track: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32]]:
    """(hash, anchor frame) of dense ``track``'s prints, by one pass over all postings."""
    want = np.uint32(track)
    found = []
    for i in range(0, index.keys.shape[0], _SCAN):
        found.append(
            np.flatnonzero((index.keys[i : i + _SCAN] >> np.uint32(P.FINE_BITS)) == want) + i
        )
    rows = np.concatenate(found) if found else np.zeros(0, np.int64)
    h = (np.searchsorted(index.starts, rows, "right") - 1).astype(np.int64)
    return h, index.times[rows].astype(np.uint32)
