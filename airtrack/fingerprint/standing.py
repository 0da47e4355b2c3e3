"""How far the log spectrum stands above its surroundings, at the cells a template reads.

The boundary reach (:mod:`~airtrack.fingerprint.lineprobe`) reads a track's template peaks
in the held log spectrum as each cell's 3 × 3 maximum less the mean of the ``2ht+1`` frames
× ``2hf+1`` bins around it (edges: the cells there).  Its windows read a few thousand cells
of a stretch of about a million, so only those cells are computed: the box sums are running
sums along time from the stretch's first frame (float32, as ``np.cumsum`` adds them),
differenced, then running sums of those along frequency, differenced, over the float32
product of the box's sides; whole-grid sums done that way give the same float32 at every
cell (``tests/unit/test_native.py`` checks both against the whole grid).

In C when the extension is built (one pass over the stretch, the frequency sums for the
cells' rows only), else :func:`standing_at_reference`; both give the same values.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

try:  # the C loop (setup.py); without a compiler the numpy reference gives the same values
    from airtrack.fingerprint import _native
except ImportError:  # pragma: no cover - depends on the build
    _native = None  # type: ignore[assignment]

__all__ = ["standing_at", "standing_at_reference"]

Cells = npt.NDArray[np.int64]
Floats32 = npt.NDArray[np.float32]


def standing_at(s: Floats32, ht: int, hf: int, rows: Cells, cols: Cells) -> Floats32:
    """At the cells ``(rows[i], cols[i])`` of the log spectrum ``s`` (frames × bins): the
    3 × 3 maximum less the mean of the ``(2ht+1) × (2hf+1)`` cells around (log10 power)."""
    if _native is None or s.shape[0] == 0:
        return standing_at_reference(s, ht, hf, rows, cols)
    out = np.empty(rows.shape[0], np.float32)
    _native.standing_at(
        np.ascontiguousarray(s, np.float32),
        s.shape[0],
        s.shape[1],
        ht,
        hf,
        np.ascontiguousarray(rows, np.int64),
        np.ascontiguousarray(cols, np.int64),
        out,
    )
    return out


def standing_at_reference(s: Floats32, ht: int, hf: int, rows: Cells, cols: Cells) -> Floats32:
    """:func:`standing_at` in numpy: the reference the C loop must match."""
    n, m = s.shape
    c = np.zeros((n + 1, m), np.float32)
    np.cumsum(s, axis=0, out=c[1:])
    u, at = np.unique(rows, return_inverse=True)
    hi, lo = np.minimum(u + ht + 1, n), np.maximum(u - ht, 0)
    c2 = np.zeros((u.shape[0], m + 1), np.float32)
    np.cumsum(c[hi] - c[lo], axis=1, out=c2[:, 1:])
    fhi, flo = np.minimum(cols + hf + 1, m), np.maximum(cols - hf, 0)
    sums = c2[at, fhi] - c2[at, flo]
    mean = sums / ((hi - lo)[at].astype(np.float32) * (fhi - flo).astype(np.float32))
    top = np.full(rows.shape[0], -np.inf, np.float32)
    for dr in (-1, 0, 1):
        r = np.clip(rows + dr, 0, n - 1)
        for dc in (-1, 0, 1):
            np.maximum(top, s[r, np.clip(cols + dc, 0, m - 1)], out=top)
    out: Floats32 = (top - mean).astype(np.float32, copy=False)
    return out
