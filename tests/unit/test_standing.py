"""The template's cells read the same standing as the whole grid of it: the 3 × 3 maximum
less the box mean, computed for every cell of the stretch with float32 running sums along
time, then along frequency (the boundary reach's values before it read only its cells)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st

from airtrack.fingerprint.landmarks import _max_filter
from airtrack.fingerprint.standing import standing_at, standing_at_reference

Grid = npt.NDArray[np.float32]


def _span_sums(c: Grid, h: int) -> Grid:
    n = c.shape[0] - 1
    i = np.arange(n)
    out: Grid = c[np.minimum(i + h + 1, n)] - c[np.maximum(i - h, 0)]
    return out


def whole_grid(s: Grid, ht: int, hf: int) -> Grid:
    """Every cell's standing: running sums along time, differenced, transposed, running
    sums along frequency, differenced, over the float32 product of the box's sides."""
    n, m = s.shape
    c = np.zeros((n + 1, m), np.float32)
    np.cumsum(s, axis=0, out=c[1:])
    rows = _span_sums(c, ht)
    c2 = np.zeros((m + 1, n), np.float32)
    np.cumsum(rows.T, axis=0, out=c2[1:])
    sums = _span_sums(c2, hf).T
    r, k = np.arange(n), np.arange(m)
    dt = (np.minimum(r + ht + 1, n) - np.maximum(r - ht, 0)).astype(np.float32)
    df = (np.minimum(k + hf + 1, m) - np.maximum(k - hf, 0)).astype(np.float32)
    out: Grid = _max_filter(s, 1, 1) - sums / (dt[:, None] * df[None, :])
    return out


def spectrum_and_cells(
    seed: int, n: int, m: int, cells: int, ties: bool
) -> tuple[Grid, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """A log spectrum's range of values (or a few levels, for ties in the maximum) and
    cells anywhere in it, the edges included, some more than once."""
    rng = np.random.default_rng(seed)
    if ties:
        s = rng.integers(-8, 2, (n, m)).astype(np.float32)
    else:
        s = (rng.standard_normal((n, m)) * 3 - 5).astype(np.float32)
    rows = np.concatenate((rng.integers(0, n, cells), [0, n - 1, 0]))
    cols = np.concatenate((rng.integers(0, m, cells), [0, m - 1, m - 1]))
    return s, rows.astype(np.int64), cols.astype(np.int64)


_CASES = dict(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 120),
    m=st.integers(1, 60),
    ht=st.integers(0, 12),
    hf=st.integers(0, 17),
    cells=st.integers(0, 200),
    ties=st.booleans(),
)


@settings(max_examples=80, deadline=None)
@given(**_CASES)
def test_the_cells_read_the_whole_grids_values(
    seed: int, n: int, m: int, ht: int, hf: int, cells: int, ties: bool
) -> None:
    """The numpy path and the one the engine uses (C when built) give, bit for bit, the
    whole grid's value at every cell asked for, whatever the box and the edges."""
    s, rows, cols = spectrum_and_cells(seed, n, m, cells, ties)
    want = whole_grid(s, ht, hf)[rows, cols]
    for got in (standing_at_reference(s, ht, hf, rows, cols), standing_at(s, ht, hf, rows, cols)):
        np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
