"""Sensitive evidence on one play's line: where a song is faint, under noise or speech.

The matcher's hits come from the engine's peaks (the maximum of ±10 frames × ±14 bins):
where noise or a voice is louder than the music, they take those peaks, and the song's own
partials, still there, are no peaks.  Near a play's boundaries this module looks again at
the recent audio with *dense* peaks (a small neighbourhood, a low floor over the frame's
mean), pairs every two of them that a print could pair (``dt ≤ DT_MAX``, ``|ln f2/f1| ≤
DF_MAX``), hashes them at the play's speed and keeps a pair only when the play's track holds
that very hash at the track frame the play's alignment predicts (±``LINE_TOL`` frames).
Chance agreements then depend on that one track's print density at that one place, not
on the catalog's size, so a chain of them is strong evidence that the song was on air.

The answer is the sorted query frames of the anchors that agree (see :func:`line_anchors`);
:func:`reach_back` and :func:`reach_on` turn them into how far a boundary extends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from airtrack.fingerprint import params as P
from airtrack.fingerprint.fft import rfft_rows
from airtrack.fingerprint.index import Index
from airtrack.fingerprint.landmarks import _BIN_LO, _WINDOW, _max_filter

__all__ = ["AudioHistory", "LineEvidence", "LineProbe", "line_evidence", "reach_back", "reach_on"]

Floats = npt.NDArray[np.float64]


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
    """Sensitive evidence on a line, from the audio a matcher heard last (``history``)."""

    def __init__(self, index: Index, seconds: float) -> None:
        self.index = index
        self.history = AudioHistory(seconds)

    def evidence(
        self, track: int, speed: float, align: float, f0: float, f1: float
    ) -> LineEvidence:
        """:func:`line_evidence` of the anchors in the frames ``[f0, f1)`` still held."""
        a, x = self.history.frames(f0, f1 + P.LINE_DT_MAX)
        return line_evidence(self.index, x, a, track, speed, align)


def dense_peaks(samples: npt.NDArray[np.float32], f0: int) -> tuple[Floats, Floats]:
    """(frame, ln Hz) of the dense peaks of ``samples`` (frame ``f0`` at its first sample)."""
    n = 0 if samples.shape[0] < P.N_FFT else (samples.shape[0] - P.N_FFT) // P.HOP + 1
    if n < 3:
        return np.zeros(0), np.zeros(0)
    idx = np.arange(n)[:, None] * P.HOP + np.arange(P.N_FFT)[None, :]
    spectrum = rfft_rows(np.ascontiguousarray(samples[idx] * _WINDOW, np.float32))
    hi = math.floor(P.F_HI * P.N_FFT / P.SAMPLE_RATE) + 1
    band = spectrum[:, _BIN_LO:hi]
    s = np.log10(band.real.astype(np.float32) ** 2 + band.imag.astype(np.float32) ** 2 + 1e-8)
    mx = _max_filter(s, P.LINE_PEAK_DT, P.LINE_PEAK_DF)
    is_max = (s == mx) & (s > np.float32(2 * P.PEAK_FLOOR))
    is_max &= s > s.mean(axis=1, keepdims=True) + np.float32(2 * P.LINE_PEAK_OVER_MEAN)
    is_max[:, 0] = is_max[:, -1] = False
    rows, cols = np.nonzero(is_max)
    a, b, c = s[rows, cols - 1], s[rows, cols], s[rows, cols + 1]
    den = a - 2 * b + c
    delta = np.where(den < 0, 0.5 * (a - c) / np.where(den < 0, den, -1.0), 0.0)
    hz = (cols + _BIN_LO + np.clip(delta, -0.5, 0.5)) * (P.SAMPLE_RATE / P.N_FFT)
    return rows.astype(np.float64) + f0, np.log(hz).astype(np.float64)


@dataclass(frozen=True, slots=True)
class LineEvidence:
    """Query frames (sorted) of the dense anchors that agree with a line (``on``), and of
    the agreements beside it (``beside``: one per anchor and 5-frame offset, ``LINE_BG``
    frames either side beyond 10), which chance alone gives."""

    on: Floats
    beside: Floats


_NONE = LineEvidence(np.zeros(0), np.zeros(0))


def line_evidence(
    index: Index,
    samples: npt.NDArray[np.float32],
    f0: int,
    track: int,
    speed: float,
    align: float,
) -> LineEvidence:
    """The dense anchors in ``samples`` (frame ``f0`` at its first sample) whose pairs,
    hashed at ``speed``, the dense ``track`` holds within ``LINE_TOL`` frames of where
    ``align`` (the query frame of the track's frame 0) puts them, and those beside it."""
    t, lnf = dense_peaks(samples, f0)
    if t.shape[0] < 2:
        return _NONE
    # every (anchor, later peak) pair a print could make: peaks come sorted by frame
    stop = np.searchsorted(t, t + P.LINE_DT_MAX, "right")
    start = np.searchsorted(t, t, "right")
    cnt = stop - start
    ai = np.repeat(np.arange(t.shape[0]), cnt)
    ti = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt - start, cnt)
    df = lnf[ti] - lnf[ai]
    ok = np.abs(df) <= P.DF_MAX
    ai, ti, df = ai[ok], ti[ok], df[ok]
    dt = t[ti] - t[ai]
    q1 = np.clip(np.floor((lnf[ai] - math.log(speed) - P.LN_F_LO) / P.Q_F1), 0, 127)
    q2 = np.clip(np.floor(df / P.Q_DF) + (1 << (P.DF_BITS - 1)), 0, (1 << P.DF_BITS) - 1)
    q3 = np.clip(np.rint(dt * speed), 1, (1 << P.DT_BITS) - 1)
    h = (q1.astype(np.int64) << (P.DF_BITS + P.DT_BITS)) | (q2.astype(np.int64) << P.DT_BITS)
    h |= q3.astype(np.int64)
    ref = (t[ai] - align) * speed  # the track frame the line predicts for each anchor
    duration = float(index.durations[track]) * P.FRAMES_PER_S
    keep = (ref >= -P.LINE_BG) & (ref <= duration + P.LINE_BG)
    h, ref, anchor = h[keep], ref[keep], t[ai[keep]]
    lo = index.starts[h].astype(np.int64)
    hi = index.starts[h + 1].astype(np.int64)
    cnt = np.where(hi - lo <= P.LINE_MAX_BUCKET, hi - lo, 0)
    total = int(cnt.sum())
    if total == 0:
        return _NONE
    q = np.repeat(np.arange(h.shape[0]), cnt)
    rows = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(cnt) - cnt - lo, cnt)
    mine = (index.keys[rows] >> np.uint32(P.FINE_BITS)) == track
    q, rows = q[mine], rows[mine]
    d = index.times[rows].astype(np.float64) - ref[q]
    off = (np.abs(d) > 10) & (np.abs(d) <= P.LINE_BG)
    # an agreement says little when the track holds that hash all around (a held note):
    # chance agreements are mostly those; count the pairs whose hash is rare there
    around = np.bincount(q[np.abs(d) <= P.LINE_BG], minlength=h.shape[0])
    specific = around[q] <= P.LINE_SPECIFIC
    on = np.unique(anchor[q[(np.abs(d) <= P.LINE_TOL) & specific]])
    pairs = np.unique(np.stack((anchor[q[off]], np.round(d[off] / 5))), axis=1)
    return LineEvidence(on, pairs[0])


def _links(ev: LineEvidence, t: Floats) -> npt.NDArray[np.bool_]:
    """Anchors ``t`` (of ``ev.on``) that begin a link: at least ``LINE_MIN`` anchors on the
    line (themselves included) in the ``LINE_SPAN_S`` from them, and ``LINE_CONTRAST``
    times what chance gives on a line beside it there."""
    w = P.LINE_SPAN_S * P.FRAMES_PER_S
    n = np.searchsorted(t, t + w, "right") - np.arange(t.shape[0])
    beside = np.searchsorted(ev.beside, t + w, "right") - np.searchsorted(ev.beside, t, "left")
    chance = beside * (2 * P.LINE_TOL + 1) / (2 * (P.LINE_BG - 10))
    return (n >= P.LINE_MIN) & (n >= P.LINE_CONTRAST * chance)


def reach_back(ev: LineEvidence, first: float) -> float:
    """How far back from ``first`` (a play's first dense anchor) the evidence ``ev`` on its
    line goes on: the earliest link (see :func:`_links`) of a chain of links at most
    ``LINE_GAP_S`` apart that reaches ``first`` (``first`` when there is none)."""
    t = ev.on[ev.on < first]
    if t.shape[0] == 0:
        return first
    gap = P.LINE_GAP_S * P.FRAMES_PER_S
    reach = first
    for a in t[_links(ev, t)][::-1]:
        if reach - a > gap:
            break
        reach = float(a)
    return reach


def reach_on(ev: LineEvidence, last: float) -> float:
    """How far on from ``last`` (a play's last dense anchor) the evidence ``ev`` on its line
    goes on: :func:`reach_back` in the other direction of time."""
    mirrored = LineEvidence(-ev.on[::-1], -ev.beside[::-1])
    return -reach_back(mirrored, -last)
