"""Landmarks: spectral peaks → peak pairs → 20-bit hashes, computed incrementally.

The extractor is streaming and block-size independent: feeding one big array or many small
blocks yields exactly the same pairs (the STFT keeps its sample tail, peak picking keeps
``PEAK_DT`` frames of context, pairing waits until the ``DT_MAX`` frames after an anchor are
known).  Pairs keep *continuous* features (ln f1, ln f2/f1, dt) so that the matcher can
re-quantise them for several playback speeds; catalog prints are hashed at speed 1.
"""

from __future__ import annotations

import math
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from airtrack.errors import AudioError
from airtrack.fingerprint import params as P
from airtrack.fingerprint.decode import decode
from airtrack.fingerprint.fft import rfft_rows

try:  # the C loops (setup.py); without a compiler the numpy reference does the same work
    from airtrack.fingerprint import _native
except ImportError:  # pragma: no cover - depends on the build
    _native = None  # type: ignore[assignment]

__all__ = [
    "LandmarkExtractor",
    "Pairs",
    "Prints",
    "band_power",
    "band_power_reference",
    "fine_keys",
    "fingerprint_file",
    "fingerprint_samples",
    "hash_pairs",
    "log_band_power",
    "log_band_power_reference",
    "pack_prints",
    "pair_peaks",
    "pair_peaks_reference",
    "prints_from_pairs",
    "unpack_prints",
]

_BIN_LO = math.ceil(P.F_LO * P.N_FFT / P.SAMPLE_RATE)
_BIN_HI = math.floor(P.F_HI * P.N_FFT / P.SAMPLE_RATE) + 1
# Hann window scaled so a tone has the magnitude it had with engine v1's 1024-point window
# (``PEAK_FLOOR`` keeps its meaning)
_WINDOW = (np.hanning(P.N_FFT) * (1024 / P.N_FFT)).astype(np.float32)
assert P.N_FFT % P.HOP == 0, "the STFT framing assumes whole hops per window"
_HOPS = P.N_FFT // P.HOP
_CHUNK = 4 * P.SAMPLE_RATE  # samples: longer blocks are processed in pieces of this size
_PAIR_SCAN = 48  # later peaks examined per anchor when looking for FANOUT targets
_EPS = np.float32(1e-8)  # added to the power: silence has a finite log


@dataclass(frozen=True, slots=True)
class Pairs:
    """Peak pairs: anchor frame ``t``, ``lnf1`` = ln(anchor Hz), ``df`` = ln(f2/f1), ``dt``;
    ``fdf`` = ln(f_c/f1) and ``fdt`` of the sibling target c (the fine key's features)."""

    t: npt.NDArray[np.int64]
    lnf1: npt.NDArray[np.float32]
    df: npt.NDArray[np.float32]
    dt: npt.NDArray[np.int64]
    fdf: npt.NDArray[np.float32]
    fdt: npt.NDArray[np.int64]

    @staticmethod
    def empty() -> Pairs:
        return Pairs(
            np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.float32),
            np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.int64),
        )  # fmt: skip

    def __len__(self) -> int:
        return int(self.t.shape[0])


@dataclass(frozen=True, slots=True)
class Prints:
    """One track's fingerprint: ``hashes`` (uint32) at anchor frames ``times`` (uint32),
    with each hash's fine key ``fines`` (uint16, ``FINE_BITS`` bits)."""

    hashes: npt.NDArray[np.uint32]
    times: npt.NDArray[np.uint32]
    duration_s: float
    fines: npt.NDArray[np.uint16]

    def __len__(self) -> int:
        return int(self.hashes.shape[0])


def hash_pairs(
    pairs: Pairs, speed: float = 1.0
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.float64]]:
    """Hashes of ``pairs`` as if the audio had been played ``speed`` times too fast.

    Returns the hashes and the anchor times mapped back to the original time scale (frames).
    """
    q1 = np.floor((pairs.lnf1 - (math.log(speed) + P.LN_F_LO)) * (1.0 / P.Q_F1))
    q1 = np.clip(q1, 0, (1 << P.F1_BITS) - 1).astype(np.uint32)
    q2 = np.floor(pairs.df * (1.0 / P.Q_DF)) + (1 << (P.DF_BITS - 1))
    q2 = np.clip(q2, 0, (1 << P.DF_BITS) - 1).astype(np.uint32)
    q3 = np.rint(pairs.dt * speed)
    q3 = np.clip(q3, 1, (1 << P.DT_BITS) - 1).astype(np.uint32)
    hashes = (q1 << (P.DF_BITS + P.DT_BITS)) | (q2 << P.DT_BITS) | q3
    return hashes.astype(np.uint32), pairs.t * np.float64(speed)


def fine_keys(
    fdf: npt.NDArray[np.float32], fdt: npt.NDArray[np.int64], speed: npt.NDArray[np.float64] | float
) -> npt.NDArray[np.uint16]:
    """Fine keys of sibling features ``(fdf, fdt)`` heard ``speed`` times too fast
    (broadcasts with ``speed``): the ln ratio is speed-invariant, dt scales like the hash's.
    """
    qf = np.floor(fdf * (1.0 / P.Q_FDF)) + (1 << (P.FDF_BITS - 1))
    qf = np.clip(qf, 0, (1 << P.FDF_BITS) - 1).astype(np.uint16)
    qt = np.rint(fdt * speed)
    qt = np.clip(qt, 1, (1 << P.FDT_BITS) - 1).astype(np.uint16)
    out: npt.NDArray[np.uint16] = (qf << np.uint16(P.FDT_BITS)) | qt
    return out


class LandmarkExtractor:
    """Incremental spectrogram → peaks → pairs.  ``feed`` samples, ``flush`` at the end."""

    def __init__(self, *, keep_peaks: bool = False) -> None:
        # every peak, kept when the catalog stores them (re-derives prints from them later)
        self.peaks: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]] | None = (
            [] if keep_peaks else None
        )
        self._buf = np.zeros(0, np.float32)
        self._frames_done = 0  # absolute index of the next STFT frame
        # log10 power spectrogram rows [0, _rows) = frames from _spec_start on (log10 |X|² =
        # 2 log10 |X|: thresholds are doubled instead, same peaks); each block's rows are
        # written once, into a fresh array, so the rows told to ``on_spectrum`` may be held
        self._spec = np.empty((0, _BIN_HI - _BIN_LO), np.float32)
        self._rows = 0
        self._spec_start = 0  # absolute frame of self._spec[0]
        self._picked = 0  # frames < this have been peak-picked
        self._pt = np.zeros(0, np.int64)  # peaks waiting to be paired
        self._pf = np.zeros(0, np.float32)
        self._work = np.empty((_CHUNK // P.HOP + 2, P.N_FFT), np.float32)  # windowed frames
        self.samples_seen = 0
        #: told ``(first frame, rows)`` of each new stretch of the log spectrum (the rows
        #: are never written again: they may be held without a copy)
        self.on_spectrum: Callable[[int, npt.NDArray[np.float32]], None] | None = None

    @property
    def frames(self) -> int:
        return self._frames_done

    def feed(self, samples: npt.NDArray[np.floating]) -> Pairs:
        block = np.asarray(samples, dtype=np.float32).reshape(-1)
        if block.shape[0] <= _CHUNK:
            return self._feed(block)
        # long blocks in ~4-s pieces: the temporaries stay small and their pages warm
        # (fresh multi-MB arrays cost more in page faults than the FFT itself)
        return _concat(
            [self._feed(block[i : i + _CHUNK]) for i in range(0, block.shape[0], _CHUNK)]
        )

    def _feed(self, block: npt.NDArray[np.float32]) -> Pairs:
        self.samples_seen += block.shape[0]
        self._buf = np.concatenate((self._buf, block)) if self._buf.size else block
        self._stft()
        return self._advance(final=False)

    def flush(self) -> Pairs:
        return self._advance(final=True)

    def _stft(self) -> None:
        n = 0 if self._buf.shape[0] < P.N_FFT else (self._buf.shape[0] - P.N_FFT) // P.HOP + 1
        if n == 0:
            return
        if self._work.shape[0] < n:
            self._work = np.empty((n, P.N_FFT), np.float32)
        # frame i = hops i .. i+_HOPS-1, each windowed by its part (contiguous passes)
        hops = self._buf[: (n + _HOPS - 1) * P.HOP].reshape(n + _HOPS - 1, P.HOP)
        frames = self._work[:n]
        for j in range(_HOPS):
            part = slice(j * P.HOP, (j + 1) * P.HOP)
            np.multiply(hops[j : j + n], _WINDOW[part], out=frames[:, part])
        spectrum = rfft_rows(frames)
        # the rows still to be read (the peak picker's margin) and the new ones
        spec = np.empty((self._rows + n, self._spec.shape[1]), np.float32)
        spec[: self._rows] = self._spec[: self._rows]
        self._spec = spec
        log_band_power(spectrum, self._spec[self._rows : self._rows + n])
        if self.on_spectrum is not None:
            self.on_spectrum(self._frames_done, self._spec[self._rows : self._rows + n])
        self._rows += n
        self._frames_done += n
        self._buf = self._buf[n * P.HOP :].copy()

    def _advance(self, final: bool) -> Pairs:
        stop = self._frames_done if final else self._frames_done - P.PEAK_DT
        if stop > self._picked:
            self._pick(stop)
        frontier = None if final else self._picked - P.DT_MAX
        return self._pair(frontier)

    def _pick(self, stop: int) -> None:
        lo = max(self._spec_start, self._picked - P.PEAK_DT)
        hi = min(self._frames_done, stop + P.PEAK_DT)
        s = self._spec[lo - self._spec_start : hi - self._spec_start]
        mx = _max_filter(s, P.PEAK_DT, P.PEAK_DF)
        r0, r1 = self._picked - lo, stop - lo
        core, cmx = s[r0:r1], mx[r0:r1]
        # local maxima above the floor (few), then the per-frame threshold on those only
        is_max = np.equal(core, cmx)
        is_max &= core > np.float32(2 * P.PEAK_FLOOR)
        rows, cols = np.divmod(np.flatnonzero(is_max), core.shape[1])
        thr = core.mean(axis=1) + np.float32(2 * P.PEAK_MIN_OVER_MEDIAN)
        ok = (core[rows, cols] > thr[rows]) & (cols > 0) & (cols < core.shape[1] - 1)
        rows, cols = rows[ok], cols[ok]
        if rows.size:
            a, b, c = core[rows, cols - 1], core[rows, cols], core[rows, cols + 1]
            den = a - 2 * b + c
            delta = np.where(den < 0, 0.5 * (a - c) / np.where(den < 0, den, -1.0), 0.0)
            hz = (cols + _BIN_LO + np.clip(delta, -0.5, 0.5)) * (P.SAMPLE_RATE / P.N_FFT)
            new_t, new_f = rows.astype(np.int64) + self._picked, np.log(hz).astype(np.float32)
            if self.peaks is not None:
                self.peaks.append((new_t, new_f))
            self._pt = np.concatenate((self._pt, new_t))
            self._pf = np.concatenate((self._pf, new_f))
        self._picked = stop
        keep_from = self._picked - P.PEAK_DT
        if keep_from > self._spec_start:
            drop = keep_from - self._spec_start
            self._spec = self._spec[drop : self._rows]  # (copied into the next block)
            self._rows -= drop
            self._spec_start = keep_from

    def _pair(self, frontier: int | None) -> Pairs:
        t, f = self._pt, self._pf
        n_anchor = t.shape[0] if frontier is None else int(np.searchsorted(t, frontier, "left"))
        out = pair_peaks(t, f, n_anchor)
        self._pt, self._pf = t[n_anchor:], f[n_anchor:]
        return out


def band_power(spectrum: npt.NDArray[np.complex64], power: npt.NDArray[np.float32]) -> None:
    """``power`` = |X|² + 1e-8 of the band's bins of the rfft rows ``spectrum``, in float32.

    In C when the extension is built (one pass), else :func:`band_power_reference`; both
    round alike, so the log spectrum is the same (``tests/unit/test_native.py``).
    """
    if _native is None:
        band_power_reference(spectrum, power)
        return
    _native.band_power(
        spectrum.view(np.float32),
        2 * spectrum.shape[1],
        _BIN_LO,
        _BIN_HI,
        float(_EPS),
        False,
        power,
    )


def band_power_reference(
    spectrum: npt.NDArray[np.complex64], power: npt.NDArray[np.float32]
) -> None:
    """:func:`band_power` in numpy: the reference the C loop must match."""
    # re, im of the band as float32 pairs, squared in place: no square root, no complex
    reim = spectrum.view(np.float32)[:, 2 * _BIN_LO : 2 * _BIN_HI]
    np.square(reim, out=reim)
    np.add(reim[:, 0::2], reim[:, 1::2], out=power)
    power += _EPS


def log_band_power(spectrum: npt.NDArray[np.complex64], out: npt.NDArray[np.float32]) -> None:
    """``out`` = log10 of :func:`band_power`: the spectrogram rows the peak picker reads.

    In C when the extension is built: the power, then a correctly rounded log10 of each
    float32, in one pass.  Else :func:`log_band_power_reference`, whose ``np.log10`` is the
    platform's (glibc 2.36's ``log10f`` is up to 2 ulp from the correctly rounded value on
    about 2 % of inputs; numpy's AVX-512 loop and other libms differ in other last bits):
    the log spectrum was only ever defined to the last bit of a float32, and the peaks and
    plays measured with the two agree (docs/design.md, "The log spectrum and the engine's
    versions").
    """
    if _native is None:
        log_band_power_reference(spectrum, out)
        return
    _native.band_power(
        spectrum.view(np.float32), 2 * spectrum.shape[1], _BIN_LO, _BIN_HI, float(_EPS), True, out
    )


def log_band_power_reference(
    spectrum: npt.NDArray[np.complex64], out: npt.NDArray[np.float32]
) -> None:
    """:func:`log_band_power` in numpy (its log10 the platform's)."""
    band_power_reference(spectrum, out)
    np.log10(out, out=out)


def pair_peaks(t: npt.NDArray[np.int64], f: npt.NDArray[np.float32], n_anchor: int) -> Pairs:
    """Pairs anchored on the first ``n_anchor`` of the peaks ``(t, f)`` (in frame order).

    In C when the extension is built (one pass, no (anchors × 48) temporaries), else
    :func:`pair_peaks_reference`; both give the same pairs (``tests/unit/test_native.py``).
    """
    if n_anchor == 0:
        return Pairs.empty()
    if _native is None:
        return pair_peaks_reference(t, f, n_anchor)
    cap = n_anchor * P.FANOUT
    ot, odt, ofdt = (np.empty(cap, np.int64) for _ in range(3))
    of, odf, ofdf = (np.empty(cap, np.float32) for _ in range(3))
    n = _native.pair_peaks(
        np.ascontiguousarray(t, np.int64), np.ascontiguousarray(f, np.float32), n_anchor,
        _PAIR_SCAN, P.FANOUT, P.DT_MAX, P.DF_MAX, ot, of, odf, odt, ofdf, ofdt,
    )  # fmt: skip
    return Pairs(ot[:n], of[:n], odf[:n], odt[:n], ofdf[:n], ofdt[:n])


def pair_peaks_reference(
    t: npt.NDArray[np.int64], f: npt.NDArray[np.float32], n_anchor: int
) -> Pairs:
    """:func:`pair_peaks` in numpy: the reference the C loop must match."""
    if n_anchor == 0:
        return Pairs.empty()
    n = t.shape[0]
    idx = np.arange(n_anchor)[:, None] + np.arange(1, _PAIR_SCAN + 1)[None, :]
    valid = idx < n
    idx = np.minimum(idx, n - 1)
    dt = t[idx] - t[:n_anchor, None]
    df = f[idx] - f[:n_anchor, None]
    ok = valid & (dt >= 1) & (dt <= P.DT_MAX) & (np.abs(df) <= P.DF_MAX)
    ok &= np.cumsum(ok, axis=1) <= P.FANOUT
    ai, ti = np.nonzero(ok)  # row-major: an anchor's targets are adjacent, in frame order
    # sibling = the anchor's first target (nearest in time), the first's is the second (one
    # target: itself).  The first targets are the ones a peak added or lost further on
    # cannot push out of the fanout: on station audio the reference's sibling is among the
    # query anchor's targets more often than with the next target (docs/scaling.md).
    pos = np.arange(ai.shape[0])
    new = np.ones(ai.shape[0], np.bool_)
    new[1:] = ai[1:] != ai[:-1]
    sib = np.maximum.accumulate(np.where(new, pos, 0)) if ai.size else pos
    second = np.zeros(ai.shape[0], np.bool_)
    second[:-1] = ~new[1:]
    sib = np.where(new, np.where(second, pos + 1, pos), sib)
    return Pairs(
        t[ai], f[ai], df[ai, ti].astype(np.float32), dt[ai, ti],
        df[ai[sib], ti[sib]].astype(np.float32), dt[ai[sib], ti[sib]],
    )  # fmt: skip


def _max_filter(x: npt.NDArray[np.float32], half_t: int, half_f: int) -> npt.NDArray[np.float32]:
    """Maximum over the ``(2·half_t+1) × (2·half_f+1)`` neighbourhood of every cell.

    Doubling: once each cell holds the maximum of ``w`` cells, one ``maximum`` with a copy
    shifted by up to ``w`` makes it up to ``2w`` — ``log2(2·half+1)`` array passes per axis.
    One -inf padded buffer: along rows, long aligned 1-D passes over the flattened buffer
    (each row's ``half_f`` padding keeps windows out of the next row; 2x faster than a short
    misaligned pass per row), then along columns, passes over whole padded rows.
    """
    rows, cols = x.shape
    w = cols + 2 * half_f
    m = np.full((rows + 2 * half_t + 1, w), -np.inf, np.float32)  # + a spare row
    m[half_t : half_t + rows, half_f : half_f + cols] = x
    flat = m.reshape(-1)
    width, cover = 2 * half_f + 1, 1
    while cover < width:
        step = min(cover, width - cover)
        flat = np.maximum(flat[:-step], flat[step:])
        cover += step
    r = flat[: (rows + 2 * half_t) * w].reshape(rows + 2 * half_t, w)
    width, cover = 2 * half_t + 1, 1
    while cover < width:
        step = min(cover, width - cover)
        r = np.maximum(r[:-step], r[step:])
        cover += step
    return r[:, :cols]


def prints_from_pairs(pairs: Pairs, duration_s: float) -> Prints:
    hashes, times = hash_pairs(pairs, 1.0)
    fines = fine_keys(pairs.fdf, pairs.fdt, 1.0)
    return Prints(hashes, np.rint(times).astype(np.uint32), duration_s, fines)


_MAGIC = b"ATFP"
_HEADER = struct.Struct("<4sHIf")


def pack_prints(prints: Prints) -> bytes:
    """Compact bytes for one track (zlib of hashes + delta-coded times + fine keys)."""
    order = np.argsort(prints.times, kind="stable")
    times = prints.times[order].astype(np.int64)
    deltas = np.diff(times, prepend=0).astype(np.uint32)
    body = (
        prints.hashes[order].astype("<u4").tobytes()
        + deltas.astype("<u4").tobytes()
        + prints.fines[order].astype("<u2").tobytes()
    )
    header = _HEADER.pack(_MAGIC, P.PRINTS_VERSION, len(prints), prints.duration_s)
    return header + zlib.compress(body, 6)


#: Packed prints compress about 3:1; a blob whose header claims more than this ratio is
#: not prints (a few bytes must not make anyone decompress gigabytes).
MAX_PRINTS_RATIO = 64

#: The longest audio a blob may claim (a day, as the upload API allows): every index sizes
#: a per-second histogram by its tracks' durations, so a header claiming 1e9 s would make
#: each build of the catalog, on the orchestrator and on every worker, ask for gigabytes.
MAX_PRINTS_DURATION_S = 86_400.0


def unpack_prints(data: bytes, *, max_ratio: int | None = None) -> Prints:
    """Inverse of ``pack_prints``; refuses other formats or engine versions (``AudioError``).

    ``max_ratio``: refuse a blob whose header claims more than that many body bytes per
    stored byte (for blobs from outside: uploads). Decompression never goes past the
    length the header claims."""
    if len(data) < _HEADER.size:
        raise AudioError("fingerprint blob too short")
    magic, version, count, duration = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        raise AudioError("not an airtrack fingerprint blob")
    if version != P.PRINTS_VERSION:
        raise AudioError(f"fingerprint version {version}, engine needs {P.PRINTS_VERSION}")
    if not math.isfinite(duration) or duration < 0:
        raise AudioError("corrupt fingerprint blob (duration)")
    if duration > MAX_PRINTS_DURATION_S:
        raise AudioError(
            f"fingerprint blob claims {duration:.0f} s of audio (at most "
            f"{MAX_PRINTS_DURATION_S:.0f})"
        )
    if max_ratio is not None and 10 * count > max_ratio * len(data):
        raise AudioError(f"corrupt fingerprint blob ({count} prints claimed in {len(data)} bytes)")
    try:
        inflate = zlib.decompressobj()
        body = inflate.decompress(data[_HEADER.size :], 10 * count + 1)
        if not inflate.eof:
            raise AudioError("corrupt fingerprint blob (length mismatch)")
    except zlib.error as exc:
        raise AudioError(f"corrupt fingerprint blob ({exc})") from exc
    if len(body) != 10 * count:
        raise AudioError("corrupt fingerprint blob (length mismatch)")
    hashes = np.frombuffer(body, "<u4", count).astype(np.uint32)
    times = np.cumsum(np.frombuffer(body, "<u4", count, 4 * count), dtype=np.int64)
    fines = np.frombuffer(body, "<u2", count, 8 * count).astype(np.uint16)
    return Prints(hashes, times.astype(np.uint32), float(duration), fines)


def _concat(parts: list[Pairs]) -> Pairs:
    parts = [p for p in parts if len(p)]
    if not parts:
        return Pairs.empty()
    return Pairs(
        np.concatenate([p.t for p in parts]),
        np.concatenate([p.lnf1 for p in parts]),
        np.concatenate([p.df for p in parts]),
        np.concatenate([p.dt for p in parts]),
        np.concatenate([p.fdf for p in parts]),
        np.concatenate([p.fdt for p in parts]),
    )


def fingerprint_samples(samples: npt.NDArray[np.floating]) -> Prints:
    """Prints of a whole signal (mono, ``SAMPLE_RATE``)."""
    extractor = LandmarkExtractor()
    pairs = _concat([extractor.feed(samples), extractor.flush()])
    return prints_from_pairs(pairs, extractor.samples_seen / P.SAMPLE_RATE)


def fingerprint_file(path: str | os.PathLike[str]) -> Prints:
    """Prints of an audio file, decoded block by block (``AudioError`` on bad input)."""
    extractor = LandmarkExtractor()
    parts = [extractor.feed(block) for block in decode(path)]
    parts.append(extractor.flush())
    return prints_from_pairs(_concat(parts), extractor.samples_seen / P.SAMPLE_RATE)
