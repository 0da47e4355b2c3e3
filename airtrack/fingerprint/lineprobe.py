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
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from airtrack.fingerprint import params as P
from airtrack.fingerprint.fft import rfft_rows
from airtrack.fingerprint.index import Index
from airtrack.fingerprint.landmarks import _BIN_LO, _WINDOW, _max_filter
from airtrack.fingerprint.template import bin_hz, template_peaks

__all__ = ["AudioHistory", "LineEvidence", "LineProbe", "track_peaks"]

Floats = npt.NDArray[np.float64]
_BIN_HI = math.floor(P.F_HI * P.N_FFT / P.SAMPLE_RATE) + 1
#: template shifts (s) that measure chance: not multiples of one another (a song's beat)
_SHIFTS = (-7.3, -5.1, -3.7, -2.3, 2.9, 4.3, 6.1, 8.7)
_SCAN = 1 << 24  # postings per step of the scan for a track's prints


class AudioHistory:
    """The last ``seconds`` of audio fed to a matcher, addressed by engine frame."""

    def __init__(self, seconds: float) -> None:
        self._keep = int(seconds * P.SAMPLE_RATE)
        self._parts: list[npt.NDArray[np.float32]] = []
        self._start = 0  # absolute sample of self._parts[0][0]
        self._n = 0

    def append(self, chunk: npt.NDArray[np.float32]) -> None:
        self._parts.append(chunk)
        self._n += chunk.shape[0]
        while self._parts and self._n - self._parts[0].shape[0] >= self._keep:
            self._start += self._parts[0].shape[0]
            self._n -= self._parts[0].shape[0]
            self._parts.pop(0)

    @property
    def first_frame(self) -> int:
        """The first STFT frame whose whole window is still held."""
        return -(-self._start // P.HOP)

    def frames(self, f0: float, f1: float) -> tuple[int, npt.NDArray[np.float32]]:
        """(first frame, samples) covering the frames ``[f0, f1)`` that are held whole."""
        a = max(self.first_frame, math.floor(f0))
        end = self._start + self._n
        b = min(math.ceil(f1), (end - P.N_FFT) // P.HOP + 1)
        if b <= a:
            return a, np.zeros(0, np.float32)
        whole = np.concatenate(self._parts) if len(self._parts) > 1 else self._parts[0]
        s0 = a * P.HOP - self._start
        return a, whole[s0 : s0 + (b - a - 1) * P.HOP + P.N_FFT]


class LineProbe:
    """Template evidence on a play's line, from the audio a matcher heard last."""

    def __init__(self, index: Index, seconds: float) -> None:
        self.index = index
        self.history = AudioHistory(seconds)

    def evidence(
        self, track: int, speed: float, align: float, f0: float, f1: float, *, steady: bool
    ) -> LineEvidence:
        """How well the track's template on the line ``align`` (the query frame of the
        track's frame 0) at ``speed`` fits the held audio of frames ``[f0, f1)``; with
        ``steady``, a window is heard only when every second of it leans the song's way."""
        pad = max(abs(s) for s in _SHIFTS) * P.FRAMES_PER_S + 2
        a, x = self.history.frames(f0 - pad, f1 + pad)
        lo, hi = max(float(a), f0), f1
        empty = LineEvidence(lo, np.zeros(0, np.bool_))
        if x.shape[0] < P.N_FFT or hi - lo < P.LINE_WIN_S * P.FRAMES_PER_S:
            return empty
        z = _standing(x)
        t, f = track_peaks(self.index, track)
        tq = np.rint(align + t / speed).astype(np.int64) - a
        b = np.rint(f * speed * (P.N_FFT / P.SAMPLE_RATE) - _BIN_LO).astype(np.int64)
        ok = (tq >= lo - a) & (tq < hi - a) & (b >= 0) & (b < z.shape[1])
        tq, b = tq[ok], b[ok]
        win, step = P.LINE_WIN_S * P.FRAMES_PER_S, P.FRAMES_PER_S / 2
        starts = np.arange(lo - a, hi - a - win + 1, step)
        if starts.size == 0 or tq.size == 0:
            return empty
        shifts = np.rint(np.array((0.0, *_SHIFTS)) * P.FRAMES_PER_S).astype(np.int64)
        rows = np.clip(tq[None, :] + shifts[:, None], 0, z.shape[0] - 1)
        vals = z[rows, b[None, :]]  # (shift, peak)
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
        heard &= d >= P.LINE_Z * np.maximum(sd, P.LINE_SD_FLOOR)
        # and the song in every second of the window, not in a burst of it: a window is
        # as wide as the gaps a start's run must not bridge (stray notes of another copy's
        # line before a join).  A voice over an outro masks the song for seconds at a time,
        # and nothing of the song's line comes after its end but by chance: ends do without
        sec = P.FRAMES_PER_S
        for q in range(int(P.LINE_WIN_S) if steady else 0):
            dq, _, nq = excess(starts + q * sec, sec)
            heard &= (dq > 0) | (nq < P.LINE_MIN_PEAKS / P.LINE_WIN_S / 2)
        return LineEvidence(float(a) + float(starts[0]), heard)


@dataclass(frozen=True, slots=True)
class LineEvidence:
    """Windows of ``LINE_WIN_S`` every half second from frame ``first`` on: is the song's
    template heard in each (``heard``)?"""

    first: float
    heard: npt.NDArray[np.bool_]

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
    return _reach(ev, first, back=True)


def reach_on(ev: LineEvidence, last: float) -> float:
    """Where the song's template stops being heard, going on from ``last`` (a play's last
    dense anchor): :func:`reach_back` the other way in time."""
    return _reach(ev, last, back=False)


def _reach(ev: LineEvidence, edge: float, back: bool) -> float:
    quarter = P.LINE_WIN_S * P.FRAMES_PER_S / 4
    allowed = int(P.LINE_GAP_S * 2)  # windows come every half second
    order = range(ev.heard.shape[0] - 1, -1, -1) if back else range(ev.heard.shape[0])
    reach, missed = edge, 0
    for i in order:
        a, b = ev.window(i)
        inner = b - quarter if back else a + quarter
        if (inner > edge) if back else (inner < edge):
            continue  # a window that lies mostly on the play's own run
        if not ev.heard[i]:
            missed += 1
            if missed > allowed:
                break
            continue
        missed = 0
        reach = min(reach, inner) if back else max(reach, inner)
    return reach


def _standing(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Per STFT frame and band bin of ``x``: how far its 3 × 3 maximum stands above the
    mean of the ``LINE_BG_DT`` × ``LINE_BG_DF`` cells around it (log10 power)."""
    n = (x.shape[0] - P.N_FFT) // P.HOP + 1
    idx = np.arange(n)[:, None] * P.HOP + np.arange(P.N_FFT)[None, :]
    band = rfft_rows(np.ascontiguousarray(x[idx] * _WINDOW, np.float32))[:, _BIN_LO:_BIN_HI]
    s = np.log10(band.real**2 + band.imag**2 + np.float32(1e-8)).astype(np.float32)
    return _max_filter(s, 1, 1) - _box_mean(s, P.LINE_BG_DT // 2, P.LINE_BG_DF // 2)


def _box_mean(s: npt.NDArray[np.float32], ht: int, hf: int) -> npt.NDArray[np.float32]:
    """Mean over the ``(2ht+1) × (2hf+1)`` cells around each cell (edges: the cells there):
    running sums along time, then along frequency."""
    n, m = s.shape
    r = np.arange(n)
    r0, r1 = np.clip(r - ht, 0, n), np.clip(r + ht + 1, 0, n)
    c = np.zeros((n + 1, m), np.float32)
    np.cumsum(s, axis=0, out=c[1:])
    rows = c[r1] - c[r0]
    k = np.arange(m)
    k0, k1 = np.clip(k - hf, 0, m), np.clip(k + hf + 1, 0, m)
    c2 = np.zeros((n, m + 1), np.float32)
    np.cumsum(rows, axis=1, out=c2[:, 1:])
    area = (r1 - r0)[:, None] * (k1 - k0)[None, :]
    out: npt.NDArray[np.float32] = ((c2[:, k1] - c2[:, k0]) / area).astype(np.float32)
    return out


_cache: OrderedDict[tuple[str, int], tuple[Floats, Floats]] = OrderedDict()
_cache_lock = threading.Lock()


def track_peaks(index: Index, track: int) -> tuple[Floats, Floats]:
    """(track frame, Hz) of the peaks of dense ``track``'s prints (its template, see
    ``airtrack.fingerprint.template``): read from the index's stored templates (only the
    track's rows).  Of a segmented index (the worker's catalog), from the segment that holds
    the track.  An index without templates is passed over for the track's prints if it holds
    at most ``LINE_SCAN_MAX_POSTINGS``; a bigger one gives none (the reach is off)."""
    segments = getattr(index, "segments", None)
    if segments is not None:  # a SegmentedIndex: the segment that holds the track
        for seg in segments:
            if track < seg.n_tracks:
                return track_peaks(seg, track)
            track -= seg.n_tracks
        return np.zeros(0), np.zeros(0)
    if index.has_templates:
        t, q = index.template(track)
        return t.astype(np.float64), bin_hz(q)
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
