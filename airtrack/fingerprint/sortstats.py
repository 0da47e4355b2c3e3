"""Distinct values and medians of small 1-D arrays, with numpy's exact results and without
importing ``numpy.ma``.

numpy 2.4 ``np.unique`` (without counts or indices) and ``np.median`` look up ``np.ma``
to rule out masked arrays, which imports ``numpy.ma`` (~25 ms of CPU) into every scanning
process.  The matcher's arrays are plain ndarrays (frames and keys are integers,
alignments floats): these do the same sort-based work and give the same values
(``tests/unit/test_sortstats.py`` checks them against numpy).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["distinct", "distinct_count", "median", "unique_counts"]

Int64s = npt.NDArray[np.int64]


def _firsts(s: Int64s) -> npt.NDArray[np.bool_]:
    """Where each run of equal values starts in the sorted ``s``."""
    first = np.empty(s.shape[0], np.bool_)
    first[:1] = True
    np.not_equal(s[1:], s[:-1], out=first[1:])
    return first


def distinct(a: Int64s) -> Int64s:
    """``np.unique(a)`` of a 1-D integer array: its distinct values, sorted."""
    s = np.sort(a)
    out: Int64s = s[_firsts(s)]
    return out


def distinct_count(a: Int64s) -> int:
    """``np.unique(a).shape[0]`` of a 1-D integer array: how many distinct values it holds."""
    if a.shape[0] < 2:
        return int(a.shape[0])
    s = np.sort(a)
    return 1 + int(np.count_nonzero(s[1:] != s[:-1]))


def unique_counts(a: Int64s) -> tuple[Int64s, Int64s]:
    """``np.unique(a, return_counts=True)`` of a 1-D integer array: distinct values, counts."""
    s = np.sort(a)
    starts = np.flatnonzero(_firsts(s))
    counts = np.empty(starts.shape[0], np.int64)
    counts[:-1] = starts[1:] - starts[:-1]
    counts[-1:] = s.shape[0] - starts[-1:]
    return s[starts], counts


def median(a: npt.NDArray[np.float64]) -> float:
    """``float(np.median(a))`` of a non-empty 1-D float array: the middle value, or the
    mean of the two middle ones (NaN when ``a`` holds a NaN, as numpy)."""
    n = a.shape[0]
    half = n // 2
    if n % 2:
        part = np.partition(a, (half, n - 1))
        mid = 0.0 + float(part[half])  # np.mean's sum starts at +0.0 (no -0.0 median)
    else:
        part = np.partition(a, (half - 1, half, n - 1))
        # what np.mean of the two does: their sum from +0.0, divided by the count
        mid = (0.0 + float(part[half - 1]) + float(part[half])) / 2.0
    last = float(part[n - 1])
    return last if math.isnan(last) else mid
