"""The fine-key fences of an index: a sampled copy of its postings' fine keys.

A bucket of the index (``airtrack.fingerprint.index``) is sorted by fine key; a query
narrows a big bucket to the postings of its fine keys by a binary search.  Bisecting the
postings themselves reads ~14 random cache lines of the 6.6 GB ``keys`` of a 100,000-track
index per search (median bucket ~10,000 postings); the fine keys are too unevenly spread
for a directory by their top bits (a probe's slot held ~300-500 postings).  Fences are
even by construction: fence ``l`` holds the fine key of every ``steps[l]``-th posting of
the whole ``keys`` array (rows 0, step, 2 step, ...; no per-bucket offsets), so a search
bisects the coarse samples inside the bucket (~20, one line), then at most 32 fine samples
(64 B, one line), then at most 15 postings (one line).  The row found is the same as
without them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from airtrack.fingerprint import params as P

__all__ = ["FENCE_STEPS", "Fences", "fence_narrow", "fences_of"]

#: coarse then fine: a coarse interval spans 32 fine samples (64 B), a fine one 16 postings
FENCE_STEPS = (512, 16)
Fences = tuple[npt.NDArray[np.uint16], npt.NDArray[np.uint16]]
FINE_MASK = (1 << P.FINE_BITS) - 1


def fences_of(
    keys: npt.NDArray[np.uint32], steps: tuple[int, int] = FENCE_STEPS, chunk: int = 1 << 24
) -> Fences:
    """The fine-key fences of ``keys``, read ``chunk`` rows at a time (a mapped 6.6 GB
    ``keys`` is read once, in order, in bounded memory)."""
    n = keys.shape[0]
    out = []
    for step in steps:
        fence = np.empty(-(-n // step), np.uint16)
        span = -(-chunk // step) * step
        for i in range(0, n, span):
            part = keys[i : i + span : step]
            fence[i // step : i // step + part.shape[0]] = part & np.uint32(FINE_MASK)
        out.append(fence)
    return out[0], out[1]


def fence_narrow(
    fence: npt.NDArray[np.uint16],
    step: int,
    lo: npt.NDArray[np.int64],
    hi: npt.NDArray[np.int64],
    want: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Ranges ``[lo, hi)`` narrowed to the rows between two samples of ``fence`` (the fine
    key of every ``step``-th row) where the first row ≥ ``want`` lies (the C loop's
    ``fence_narrow``, vectorised)."""
    i0, i1 = -(-lo // step), -(-hi // step)
    a, n = i0.copy(), i1 - i0
    last = max(0, fence.shape[0] - 1)
    while n.size and int(n.max()) > 0:
        half = n >> 1
        mid = a + half
        go = (fence[np.minimum(mid, last)] < want) & (n > 0)
        a = np.where(go, mid + 1, a)
        n = np.where(go, n - half - 1, half)
    # sample a - 1 is below ``want`` (so is every row before it); sample a is not
    return np.where(a > i0, (a - 1) * step + 1, lo), np.where(a < i1, a * step, hi)
