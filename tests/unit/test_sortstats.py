"""The sort-based distinct values and median give numpy's exact results (hypothesis), and
the candidate search that uses them does not import ``numpy.ma`` (a subprocess: the import
is process-wide)."""

from __future__ import annotations

import struct
import subprocess
import sys
import textwrap

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from airtrack.fingerprint.sortstats import distinct, distinct_count, median, unique_counts

ints = hnp.arrays(
    np.int64,
    st.integers(0, 200),
    elements=st.one_of(st.integers(-5, 5), st.integers(-(2**62), 2**62)),
)
floats = hnp.arrays(
    np.float64,
    st.integers(1, 200),
    elements=st.one_of(
        st.sampled_from([0.0, -0.0, 1.5, -1.5, 1e300, -1e300]),
        st.floats(allow_nan=True, allow_infinity=True),
    ),
)


def _same(x: np.ndarray, y: np.ndarray) -> bool:
    return x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()


@settings(max_examples=300, deadline=None)
@given(a=ints)
def test_distinct_is_np_unique(a: np.ndarray) -> None:
    assert _same(distinct(a.copy()), np.unique(a))
    assert distinct_count(a.copy()) == np.unique(a).shape[0]


@settings(max_examples=300, deadline=None)
@given(a=ints)
def test_unique_counts_is_np_unique_with_counts(a: np.ndarray) -> None:
    values, counts = unique_counts(a.copy())
    want_values, want_counts = np.unique(a, return_counts=True)
    assert _same(values, want_values)
    assert _same(counts, want_counts.astype(np.int64))


@settings(max_examples=500, deadline=None)
@given(a=floats)
def test_median_is_np_median(a: np.ndarray) -> None:
    with np.errstate(all="ignore"):  # numpy warns when two huge middle values overflow
        got, want = median(a.copy()), float(np.median(a))
    if np.isnan(want):
        assert np.isnan(got)
    else:  # bit for bit (the sign of a zero included)
        assert struct.pack("d", got) == struct.pack("d", want)


def test_the_candidate_search_does_not_import_numpy_ma() -> None:
    code = textwrap.dedent(
        """
        import sys
        import numpy as np
        from airtrack.fingerprint.evidence import HitStore, best_candidate

        rng = np.random.default_rng(7)
        n, m = 4000, 40
        t = np.concatenate([rng.integers(0, 250, n), rng.integers(0, 250, m)])
        tr = np.concatenate([rng.integers(0, 26, n), np.full(m, 3)])
        k = np.concatenate([rng.integers(0, 7, n), np.full(m, 2)])
        a = np.concatenate([rng.uniform(-3000, 3000, n), 1234.0 + rng.normal(0, 1.0, m)])
        order = np.argsort(t, kind="stable")
        hits = HitStore(64)
        hits.append(t[order], tr[order], k[order], a[order])
        cand = best_candidate(hits, -1.0, 12.0, 7, ())
        assert cand is not None and (cand.track, cand.k) == (3, 2), cand
        print("numpy.ma" in sys.modules)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "False"


def test_a_scan_does_not_import_numpy_ma() -> None:
    """A whole scan (candidates, airings, their boundaries) leaves ``numpy.ma`` unloaded:
    every scanning process would pay its import."""
    code = textwrap.dedent(
        """
        import sys
        import numpy as np
        from airtrack.fingerprint import Index, fingerprint_samples, pack_prints, scan_samples
        from tests.unit._synth_music import noise, song

        sr = 8000
        a, b = song(101, 40), song(102, 40)
        index = Index.build((t, pack_prints(fingerprint_samples(x))) for t, x in ((1, a), (2, b)))
        gap = np.zeros(3 * sr, np.float32)
        station = noise(np.concatenate([gap, a, gap, b[: 30 * sr], gap]), 15, seed=2)
        plays = scan_samples(station, index)
        assert [p.track_id for p in plays] == [1, 2], plays
        print("numpy.ma" in sys.modules)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "False"
