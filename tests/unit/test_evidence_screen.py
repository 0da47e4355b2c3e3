"""Properties (hypothesis) of the evidence bookkeeping's shortcuts: each must give exactly
what the plain computation gives.

* the screen in ``best_candidate`` keeps every hit of a strong alignment bin and of its two
  neighbours (all that its refinement reads), so the candidate found is the one found from
  all hits (the benchmark's five stations give the same plays, checked when it came in);
* ``HitStore.after`` with a fractional or infinite frame is the plain search.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from airtrack.fingerprint.evidence import _SCREEN, HitStore, _near_strong

N_SPEEDS = 7


def _hits(seed: int, n: int, tracks: int, lines: int) -> HitStore:
    """``n`` chance hits scattered over ``tracks`` tracks, plus ``lines`` true lines."""
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 250, n)
    tr = rng.integers(0, tracks, n)
    k = rng.integers(0, N_SPEEDS, n)
    a = rng.uniform(-3000, 3000, n)
    for _ in range(lines):
        m = int(rng.integers(5, 40))
        t = np.concatenate([t, rng.integers(0, 250, m)])
        tr = np.concatenate([tr, np.full(m, rng.integers(0, tracks))])
        k = np.concatenate([k, np.full(m, rng.integers(0, N_SPEEDS))])
        a = np.concatenate([a, rng.uniform(-3000, 3000) + rng.normal(0, 1.5, m)])
    order = np.argsort(t, kind="stable")
    store = HitStore(64)
    store.append(t[order], tr[order], k[order], a[order])
    return store


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 3000),
    tracks=st.integers(1, 300),
    lines=st.integers(0, 4),
    need=st.floats(3.0, 20.0),
)
def test_the_screen_keeps_every_strong_bin_and_its_neighbours(
    seed: int, n: int, tracks: int, lines: int, need: float
) -> None:
    _check_screen(_hits(seed, n, tracks, lines), need)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(_SCREEN, 5 * _SCREEN),
    lines=st.integers(0, 4),
    need=st.floats(3.0, 20.0),
)
def test_the_screen_of_more_hits_than_its_fewest_buckets_keeps_them_too(
    seed: int, n: int, lines: int, need: float
) -> None:
    """More hits than ``_SCREEN``: the screen takes more buckets, and still keeps them."""
    _check_screen(_hits(seed, n, 100_000, lines), need)


def test_the_screen_sets_chance_hits_aside_however_many() -> None:
    """200,000 chance hits over 100,000 tracks (a window at that catalog size): a screen of
    a fixed 8,192 buckets has ~24 hits in each and keeps them all; the screen keeps few."""
    store = _hits(7, 200_000, 100_000, 3)
    _, tr, kk, al = store.views()
    kept = _near_strong(tr, kk, al, store.views()[0], np.floor(al / 3).astype(np.int64),
                        N_SPEEDS, 12.0)  # fmt: skip
    assert kept[0].shape[0] < tr.shape[0] // 20


def _check_screen(store: HitStore, need: float) -> None:
    _, tr, kk, al = store.views()
    bins = np.floor(al / 3).astype(np.int64)
    tq = store.views()[0]
    kept = _near_strong(tr, kk, al, tq, bins, N_SPEEDS, need)
    key = (tr * N_SPEEDS + kk) * (1 << 32) + bins
    uniq, counts = np.unique(key, return_counts=True)
    merged = {int(u): int(c) for u, c in zip(uniq, counts, strict=True)}
    strong = [u for u in merged if merged[u] + merged.get(u - 1, 0) + merged.get(u + 1, 0) >= need]
    kept_key = (kept[0] * N_SPEEDS + kept[1]) * (1 << 32) + kept[4]
    for u in strong:
        for v in (u - 1, u, u + 1):
            assert np.count_nonzero(kept_key == v) == np.count_nonzero(key == v)


@settings(max_examples=60, deadline=None)
@given(
    ts=st.lists(st.integers(-50, 50), max_size=40),
    frame=st.one_of(st.floats(-60, 60), st.sampled_from([np.inf, -np.inf])),
)
def test_after_is_the_plain_search(ts: list[int], frame: float) -> None:
    t = np.sort(np.asarray(ts, np.int64))
    store = HitStore(8)
    store.append(t, t, t, t.astype(np.float64))
    expected = int(np.searchsorted(t.astype(np.float64), frame, "right"))
    assert store.after(frame) - store.lo == expected
