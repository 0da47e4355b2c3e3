"""Distinct values and medians of small 1-D arrays, with numpy's exact results and without
importing ``numpy.ma``.

numpy 2.4 ``np.unique`` (without counts or indices) and ``np.median`` look up ``np.ma``
to rule out masked arrays, which imports ``numpy.ma`` (~25 ms of CPU) into every scanning
process.  The matcher's arrays are plain ndarrays: these do the same sort-based work and
give the same values (``tests/unit/test_sortstats.py`` checks them against numpy).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["distinct", "distinct_count", "median", "unique_counts"]

Int64s = npt.NDArray[np.int64]


def _firsts(s: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """Where each run of equal values starts in the sorted ``s`` (NaNs count as equal)."""
    first = np.empty(s.shape[0], np.bool_)
    first[:1] = True
    np.not_equal(s[1:], s[:-1], out=first[1:])
    if s.dtype.kind == "f" and s.shape[0] and math.isnan(s[-1]):
        # np.unique (equal_nan) keeps one NaN; sorted, the NaNs come last
        nan = int(np.searchsorted(s, s[-1], side="left"))
        first[nan] = True
        first[nan + 1 :] = False
    return first


def distinct(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """``np.unique(a)`` of a 1-D array: its distinct values, sorted."""
    s = np.sort(a, kind="quicksort")
    out: npt.NDArray[Any] = s[_firsts(s)]
    return out


def distinct_count(a: npt.NDArray[Any]) -> int:
    """``np.unique(a).shape[0]`` of a 1-D array: how many distinct values it holds."""
    if a.shape[0] < 2:
        return int(a.shape[0])
    s = np.sort(a, kind="quicksort")
    if s.dtype.kind == "f":
        return int(np.count_nonzero(_firsts(s)))
    return 1 + int(np.count_nonzero(s[1:] != s[:-1]))


def unique_counts(a: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], Int64s]:
    """``np.unique(a, return_counts=True)`` of a 1-D array: distinct values and counts."""
    s = np.sort(a, kind="quicksort")
    starts = np.flatnonzero(_firsts(s))
    counts = np.empty(starts.shape[0], np.int64)
    counts[:-1] = starts[1:] - starts[:-1]
    counts[-1:] = s.shape[0] - starts[-1:]
    return s[starts], counts


def median(a: npt.NDArray[np.float64]) -> float:
    """``float(np.median(a))`` of a non-empty 1-D float array: the middle value, or the
    mean of the two middle ones (NaN when ``a`` holds a NaN)."""
    n = a.shape[0]
    half = n // 2
    if n % 2:
        part = np.partition(a, (half, n - 1))
        mid = float(part[half])
    else:
        part = np.partition(a, (half - 1, half, n - 1))
        # np.mean of the two: their sum, then divided by the count
        mid = float(np.float64(part[half - 1] + part[half]) / np.float64(2.0))
    last = float(part[n - 1])
    return last if math.isnan(last) else mid
