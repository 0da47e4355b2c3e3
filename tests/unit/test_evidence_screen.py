"""Properties (hypothesis) of the evidence bookkeeping's shortcuts: each must give exactly
what the plain computation gives.

* the screen in ``best_candidate`` (``HitStore.screen``) keeps every hit of a strong
  alignment bin and of its two neighbours (all that its refinement reads), so the candidate
  found is the one found from all hits (the benchmark's five stations give the same plays,
  checked when it came in), however the window moved since its counts were last made;
* ``HitStore.line`` finds exactly the hits ``aligned`` marks;
* ``HitStore.after`` with a fractional or infinite frame is the plain search.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from airtrack.fingerprint.hits import SCREEN_MIN, HitStore, aligned, bins_of

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
    n=st.integers(SCREEN_MIN, 5 * SCREEN_MIN),
    lines=st.integers(0, 4),
    need=st.floats(3.0, 20.0),
)
def test_the_screen_of_more_hits_than_its_fewest_buckets_keeps_them_too(
    seed: int, n: int, lines: int, need: float
) -> None:
    """More hits than ``SCREEN_MIN``: the screen takes more buckets, and still keeps them."""
    _check_screen(_hits(seed, n, 100_000, lines), need)


def test_the_screen_sets_chance_hits_aside_however_many() -> None:
    """200,000 chance hits over 100,000 tracks (a window at that catalog size): a screen of
    a fixed 8,192 buckets has ~24 hits in each and keeps them all; the screen keeps few."""
    store = _hits(7, 200_000, 100_000, 3)
    kept = store.screen(store.lo, 12.0)
    assert kept.shape[0] < store.size // 20


def _check_screen(store: HitStore, need: float, start: int | None = None) -> None:
    """Every hit of a strong bin and of its neighbours among the hits from ``start`` is in
    the screen, which gives positions from ``start`` on, in order, each once."""
    start = store.lo if start is None else start
    _, tr, kk, al = store.views(start)
    kept = store.screen(start, need)
    assert np.all(np.diff(kept) > 0)
    assert kept.shape[0] == 0 or (kept[0] >= start and kept[-1] < store.hi)
    key = (tr * N_SPEEDS + kk) * (1 << 32) + bins_of(al)
    uniq, counts = np.unique(key, return_counts=True)
    merged = {int(u): int(c) for u, c in zip(uniq, counts, strict=True)}
    strong = [u for u in merged if merged[u] + merged.get(u - 1, 0) + merged.get(u + 1, 0) >= need]
    kept_key = key[kept - start]
    for u in strong:
        for v in (u - 1, u, u + 1):
            assert np.count_nonzero(kept_key == v) == np.count_nonzero(key == v)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    blocks=st.lists(st.tuples(st.integers(0, 900), st.integers(-300, 120)), min_size=1,
                    max_size=12),
    tracks=st.integers(1, 400),
    need=st.floats(3.0, 20.0),
)  # fmt: skip
def test_the_screen_counts_follow_the_window_wherever_it_moves(
    seed: int, blocks: list[tuple[int, int]], tracks: int, need: float
) -> None:
    """A store fed block by block, pruned, compacted and asked about windows that move
    forward and back: its counts per bucket are always those of the window's hits (as the
    matcher keeps them: each hit added when it enters, taken away when it leaves), and the
    screen keeps every strong bin."""
    rng = np.random.default_rng(seed)
    store = HitStore(16)
    now = 0
    for n, back in blocks:
        t = np.sort(rng.integers(now, now + 100, n))
        line = rng.uniform(-500, 500)
        tr = np.where(rng.random(n) < 0.3, 0, rng.integers(0, tracks, n))
        a = np.where(tr == 0, line + rng.normal(0, 1.5, n), rng.uniform(-3000, 3000, n))
        store.append(t, tr, rng.integers(0, N_SPEEDS, n), a)
        now += 100
        if rng.random() < 0.3:  # the matcher's prune: the start index moves on
            store.lo = store.after(now - 400)
        since = now - 200 + back  # the window's start, sometimes behind the last one
        start = store.after(since)
        _check_screen(store, need, start)
        if store.hi - start >= 4 * need:  # (a small window is kept whole, uncounted)
            want = np.bincount(store.b[start : store.hi], minlength=store._size)
            assert np.array_equal(store._counts, want)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 3000),
    tracks=st.integers(1, 50),
    align=st.one_of(st.floats(-3000, 3000), st.integers(-1000, 1000).map(lambda b: 3.0 * b)),
    start=st.integers(0, 12_000),
    big=st.booleans(),
)
def test_a_line_is_the_hits_aligned_marks(
    seed: int, n: int, tracks: int, align: float, start: int, big: bool
) -> None:
    """The hits on a (track, speed) line within ``TOL`` frames of an alignment (at a bin's
    edge too, and with as many buckets as a big window gives): those ``aligned`` marks."""
    store = _hits(seed, n + big * (SCREEN_MIN + 1000), tracks, 2)
    rng = np.random.default_rng(seed)
    extra = align + rng.uniform(-9, 9, 40)  # hits at and around the line's edges
    t = np.sort(rng.integers(250, 260, 40))
    store.append(t, np.zeros(40, np.int64), np.full(40, 3, np.int64), extra)
    if big:
        store.screen(store.lo, 5.0)  # (more buckets, every stored hit's bucket again)
        assert store._size > SCREEN_MIN
    start = min(start, store.hi)
    for track, k in ((0, 3), (int(rng.integers(0, tracks)), int(rng.integers(0, N_SPEEDS)))):
        _, tr, kk, al = store.views(start)
        want = np.flatnonzero(aligned(tr, kk, al, track, k, align)) + start
        assert np.array_equal(store.line(start, track, k, align), want)


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
