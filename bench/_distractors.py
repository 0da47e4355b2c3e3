"""Distractor tracks for the catalog scale benchmark: new constellations made from real music.

A distractor is built at the constellation level from the spectral peaks of real tracks (the
recognition benchmark's songs and the Debian music packages), so its hashes keep real music's
statistics (peak density, frequency spread, pair geometry) without being any of them:

* sections of 4-20 s are cut from one or two source tracks at random offsets and laid out in
  a random order, each possibly time-reversed and tempo-scaled (x0.85-1.15);
* the whole track is shifted in frequency by 5-11 hash quantisation steps (11-27 %), far
  outside the ±3 % speeds the matcher tries, plus a small per-section shift;
* with one chance in two a second source's sections are mixed in (two peak sets overlaid),
  then the peaks are thinned at random (density x0.5-1.0).

The peaks are paired and hashed by the engine's own code (``LandmarkExtractor._pair`` and
``prints_from_pairs``), so a distractor's prints are exactly what the engine would store
for audio with that constellation.  Generation is deterministic per distractor number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from airtrack.fingerprint import params as P
from airtrack.fingerprint.decode import decode
from airtrack.fingerprint.landmarks import LandmarkExtractor, Pairs, Prints, prints_from_pairs

_LN_LO, _LN_HI = math.log(P.F_LO), math.log(P.F_HI)


@dataclass(frozen=True)
class Peaks:
    """One source track's spectral peaks: frame ``t`` (sorted) and ``lnf`` = ln(Hz)."""

    name: str
    t: npt.NDArray[np.int64]
    lnf: npt.NDArray[np.float32]
    frames: int


class _PeakTap(LandmarkExtractor):
    """The engine's extractor, stopped before pairing: it hands out the picked peaks."""

    def __init__(self) -> None:
        super().__init__()
        self.taken_t: list[npt.NDArray[np.int64]] = []
        self.taken_f: list[npt.NDArray[np.float32]] = []

    def _pair(self, frontier: int | None) -> Pairs:
        self.taken_t.append(self._pt)
        self.taken_f.append(self._pf)
        self._pt, self._pf = self._pt[:0], self._pf[:0]
        return Pairs.empty()


def source_peaks(name: str, path: str | Path) -> Peaks:
    tap = _PeakTap()
    for block in decode(path):
        tap.feed(block)
    tap.flush()
    t = np.concatenate(tap.taken_t) if tap.taken_t else np.zeros(0, np.int64)
    f = np.concatenate(tap.taken_f) if tap.taken_f else np.zeros(0, np.float32)
    return Peaks(name, t, f, tap.frames)


def pair_peaks(t: npt.NDArray[np.int64], lnf: npt.NDArray[np.float32], seconds: float) -> Prints:
    """Prints of a constellation, by the engine's pairing and hashing."""
    order = np.argsort(t, kind="stable")
    ex = LandmarkExtractor()
    ex._pt, ex._pf = t[order].astype(np.int64), lnf[order].astype(np.float32)
    return prints_from_pairs(ex._pair(None), seconds)


def _sections(
    src: Peaks, rng: np.random.Generator, frames: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Sections of ``src`` laid end to end until ``frames`` are filled."""
    ts: list[npt.NDArray[np.int64]] = []
    fs: list[npt.NDArray[np.float32]] = []
    at = 0
    while at < frames:
        length = int(rng.uniform(4, 20) * P.FRAMES_PER_S)
        start = int(rng.integers(0, max(1, src.frames - length)))
        lo, hi = np.searchsorted(src.t, [start, start + length])
        t = src.t[lo:hi] - start
        f = src.lnf[lo:hi] + np.float32(rng.integers(-1, 2) * P.Q_F1)
        if rng.random() < 0.3:
            t = length - 1 - t[::-1]
            f = f[::-1]
        stretch = rng.uniform(0.85, 1.15)
        t = np.rint(t * stretch).astype(np.int64)
        ts.append(t + at)
        fs.append(f)
        at += int(length * stretch)
    t, f = np.concatenate(ts), np.concatenate(fs)
    keep = t < frames
    return t[keep], f[keep]


def distractor(number: int, sources: list[Peaks]) -> Prints:
    """Distractor ``number``'s prints (same number, same prints)."""
    rng = np.random.default_rng([12, number])
    seconds = float(rng.uniform(150, 290))
    frames = int(seconds * P.FRAMES_PER_S)
    a = sources[int(rng.integers(len(sources)))]
    t, f = _sections(a, rng, frames)
    density = rng.uniform(0.75, 1.0)
    if rng.random() < 0.5:
        b = sources[int(rng.integers(len(sources)))]
        t2, f2 = _sections(b, rng, frames)
        t, f = np.concatenate((t, t2)), np.concatenate((f, f2))
        density = rng.uniform(0.5, 0.65)
    # 5-11 steps (±1 per section): beyond a ±3 % aired speed plus the matcher's ±3 % search
    shift = int(rng.integers(5, 12)) * (1 if rng.random() < 0.5 else -1)
    f = f + np.float32(shift * P.Q_F1)
    keep = (rng.random(t.shape[0]) < density) & (f > _LN_LO) & (f < _LN_HI)
    return pair_peaks(t[keep], f[keep], seconds)
