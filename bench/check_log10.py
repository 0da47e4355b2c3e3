"""The spectrogram's log10 in C against libm and the correctly rounded value, then its peaks.

    .venv/bin/python bench/check_log10.py [--peaks] [--lo 1e-8]

1. Every float32 from ``--lo`` (the power's floor, 1e-8) to the largest finite one (~1.3e9
   values, in chunks): ``_native.log10`` against ``np.log10`` (the numpy reference's log:
   libm's ``log10f``, or numpy's own loop on AVX-512 CPUs) and against the correctly
   rounded value (float64 ``log10`` rounded to float32; where that disagrees with the C
   value, ``log10`` in long double decides, which is exact to the float32 rounding with an
   80-bit long double).
   Prints the fraction of inputs that differ and the largest distance in float32 steps (ulp).
2. ``--peaks``: the peaks of the bench stations and the catalog audio (``bench/stations.py``)
   picked with the C log and with ``np.log10`` (the extractor with ``_native`` unset, whose
   other loops give the same values): how many peaks differ (time or frequency), and how
   many speed-1 (anchor frame, hash) landmarks.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import numpy.typing as npt

from airtrack.fingerprint import decode, landmarks

CHUNK = 1 << 24


def _ulps(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
    """Distance in float32 steps on the ordered line of floats (signs may differ)."""
    ia, ib = a.view(np.int32).astype(np.int64), b.view(np.int32).astype(np.int64)
    ia = np.where(ia < 0, -(ia & 0x7FFFFFFF), ia)
    ib = np.where(ib < 0, -(ib & 0x7FFFFFFF), ib)
    return np.abs(ia - ib)


def exhaustive(lo: float) -> None:
    native = landmarks._native
    if native is None:
        sys.exit("the C extension is not built (make install)")
    first = int(np.array([lo], np.float32).view(np.uint32)[0])
    last = 0x7F800000  # +inf, excluded
    n = last - first
    wide = np.longdouble if np.finfo(np.longdouble).nmant > 52 else np.float64
    libm_diff = cr_diff = libm_cr_diff = 0
    libm_max = cr_max = 0
    t_c = t_np = 0.0
    t0 = time.perf_counter()
    for start in range(first, last, CHUNK):
        bits = np.arange(start, min(start + CHUNK, last), dtype=np.uint32)
        x = bits.view(np.float32)
        got = np.empty_like(x)
        c0 = time.process_time()
        native.log10(x, got)
        c1 = time.process_time()
        libm = np.log10(x)
        t_c, t_np = t_c + c1 - c0, t_np + time.process_time() - c1
        cr = np.log10(x.astype(np.float64)).astype(np.float32)
        off = np.flatnonzero(cr != got)
        if off.size:  # the double's own rounding may be the one off: long double decides
            cr[off] = np.log10(x[off].astype(wide)).astype(np.float32)
        d_libm, d_cr = _ulps(got, libm), _ulps(got, cr)
        libm_diff += int(np.count_nonzero(d_libm))
        cr_diff += int(np.count_nonzero(d_cr))
        libm_cr_diff += int(np.count_nonzero(libm != cr))
        libm_max = max(libm_max, int(d_libm.max()))
        cr_max = max(cr_max, int(d_cr.max()))
    print(f"every float32 in [{lo:g}, max finite]: {n:,} values ({time.perf_counter() - t0:.0f} s)")
    print(f"  C log10 vs np.log10 (libm): {libm_diff:,} differ ({libm_diff / n:.2%}),"
          f" largest {libm_max} ulp")  # fmt: skip
    print(f"  C log10 vs correctly rounded ({np.dtype(wide).name} decides): {cr_diff:,} differ,"
          f" largest {cr_max} ulp")  # fmt: skip
    print(f"  np.log10 (libm) vs correctly rounded: {libm_cr_diff:,} differ"
          f" ({libm_cr_diff / n:.2%})")  # fmt: skip
    print(f"  CPU: C {t_c / n * 1e9:.2f} ns per value, np.log10 {t_np / n * 1e9:.2f} ns per value")


def _peaks(path: str) -> tuple[set[tuple[int, float]], set[tuple[int, int]]]:
    extractor = landmarks.LandmarkExtractor(keep_peaks=True)
    pairs = [extractor.feed(block) for block in decode(path)] + [extractor.flush()]
    peaks = {
        (int(t), float(f)) for ts, fs in extractor.peaks or [] for t, f in zip(ts, fs, strict=True)
    }
    hashes = set()
    for p in pairs:
        h, t = landmarks.hash_pairs(p, 1.0)
        hashes.update(zip(t.astype(np.int64).tolist(), h.tolist(), strict=True))
    return peaks, hashes


def peaks(paths: list[str]) -> None:
    native = landmarks._native
    total = changed = h_total = h_changed = 0
    for path in paths:
        new_peaks, new_hashes = _peaks(path)
        landmarks._native = None  # type: ignore[assignment]
        try:
            old_peaks, old_hashes = _peaks(path)
        finally:
            landmarks._native = native  # type: ignore[assignment]
        diff = len(new_peaks ^ old_peaks) // 2 + abs(len(new_peaks) - len(old_peaks))
        h_diff = len(new_hashes ^ old_hashes)
        total, changed = total + len(old_peaks), changed + diff
        h_total, h_changed = h_total + len(old_hashes), h_changed + h_diff
        print(f"  {Path(path).name}: {len(old_peaks):,} peaks, {diff} differ;"
              f" {len(old_hashes):,} (time, hash), {h_diff} differ", flush=True)  # fmt: skip
    print(f"peaks: {changed:,} of {total:,} differ ({changed / max(total, 1):.4%});"
          f" distinct speed-1 (time, hash): {h_changed:,} of {h_total:,}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--lo", type=float, default=1e-8, help="smallest input checked")
    ap.add_argument("--peaks", action="store_true", help="also the peaks of the bench audio")
    ap.add_argument("--skip-exhaustive", action="store_true")
    args = ap.parse_args()
    if not args.skip_exhaustive:
        exhaustive(args.lo)
    if args.peaks:
        from bench import stations as S

        audio = [s.path for s in S.catalog_songs()]
        audio += [str(S.build_station(spec)[0]) for spec in S.STATIONS]
        peaks(audio)


if __name__ == "__main__":
    main()
