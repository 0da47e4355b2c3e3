"""Fine-key probes computed lazily: only for the query rows whose bucket is narrowed, with
the same hits (same order) as probing every pair at every speed up front."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st

from airtrack.fingerprint import Index
from airtrack.fingerprint import params as P
from airtrack.fingerprint.evidence import (
    HitStore,
    hash_all_speeds,
    lookup_hits,
    probe_fines,
    probe_fines_rows,
)
from airtrack.fingerprint.index import NO_PROBE
from airtrack.fingerprint.landmarks import Pairs, fine_keys
from airtrack.fingerprint.segments import SegmentedIndex

_CAP = 32  # evidence._MAX_POSTINGS: the buckets bigger than this are narrowed
_SPEEDS = np.asarray(P.SPEEDS)
_LOG_SPEEDS = np.log(_SPEEDS)[:, None]
_IDS = [11, 12, 13, 14]


def _pairs(rng: np.random.Generator, n_anchors: int) -> Pairs:
    """Pairs in anchor order, each anchor with 1..FANOUT targets (its group)."""
    sizes = rng.integers(1, P.FANOUT + 1, n_anchors)
    n = int(sizes.sum())
    t = np.repeat(np.cumsum(rng.integers(0, 3, n_anchors)), sizes).astype(np.int64)
    lnf1 = np.repeat(rng.uniform(P.LN_F_LO, P.LN_F_LO + 2.5, n_anchors), sizes)
    return Pairs(
        t,
        lnf1.astype(np.float32),
        rng.uniform(-P.DF_MAX, P.DF_MAX, n).astype(np.float32),
        rng.integers(1, P.DT_MAX + 1, n).astype(np.int64),
        rng.uniform(-P.DF_MAX, P.DF_MAX, n).astype(np.float32),
        rng.integers(1, P.DT_MAX + 1, n).astype(np.int64),
    )


def _probe_fines_as_merged(pairs: Pairs, speeds: npt.NDArray[np.float64]) -> npt.NDArray[np.uint16]:
    """``evidence.probe_fines`` as engine v2 merged it (the reference: every pair, every
    speed, one target and dt shift at a time)."""
    n = len(pairs)
    new = np.ones(n, np.bool_)
    new[1:] = (pairs.t[1:] != pairs.t[:-1]) | (pairs.lnf1[1:] != pairs.lnf1[:-1])
    pos = np.arange(n)
    start = np.maximum.accumulate(np.where(new, pos, 0)) if n else pos
    ends = np.flatnonzero(np.append(new[1:], True)) if n else pos
    size = (ends - np.flatnonzero(new) + 1)[np.cumsum(new) - 1] if n else pos
    out = np.full((len(speeds), n, 3 * P.FANOUT), NO_PROBE, np.uint16)
    dt_mask = (1 << P.FDT_BITS) - 1
    for j in range(P.FANOUT):
        valid = (j < size) & ((start + j != pos) | (size == 1))
        s = np.minimum(start + j, max(0, n - 1))
        key = fine_keys(pairs.df[s][None, :], pairs.dt[s][None, :], speeds[:, None])
        key = key.astype(np.int64)
        for d in (-1, 0, 1):
            dt = (key & dt_mask) + d
            ok = valid[None, :] & (dt >= 1) & (dt <= dt_mask)
            out[:, :, 3 * j + d + 1] = np.where(ok, (key & ~dt_mask) | dt, NO_PROBE)
    return out


def _eager(pairs: Pairs) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint16]]:
    """The query hashes (pair-major rows) and every row's probes, computed up front."""
    hashes = hash_all_speeds(pairs, _SPEEDS, _LOG_SPEEDS).T.reshape(-1)
    probes = (
        _probe_fines_as_merged(pairs, _SPEEDS)
        .transpose(1, 0, 2)
        .reshape(hashes.shape[0], 3 * P.FANOUT)
    )
    return hashes, probes


def _indexes(rng: np.random.Generator, pairs: Pairs) -> tuple[Index, SegmentedIndex]:
    """Postings on the query's hashes over 4 tracks: a few big buckets (> the cap) whose
    fine keys are mostly ones the query probes, and small ones read whole; as one index
    and as two segments with a track removed (the live totals then decide the narrowing)."""
    hashes, probes = _eager(pairs)
    rows = rng.choice(hashes.shape[0], min(hashes.shape[0], 12), replace=False)
    h_parts, f_parts = [], []
    for i, row in enumerate(rows):
        size = int(rng.integers(_CAP + 1, 3 * _CAP)) if i < 4 else int(rng.integers(1, 6))
        probed = probes[row][probes[row] != NO_PROBE]
        pool = np.concatenate((probed, rng.integers(0, 1 << P.FINE_BITS, 4)))
        h_parts.append(np.full(size, hashes[row], np.uint32))
        f_parts.append(rng.choice(pool, size).astype(np.uint16))
    all_h, all_f = np.concatenate(h_parts), np.concatenate(f_parts)
    track = rng.integers(0, len(_IDS), all_h.shape[0])

    def build(tracks: list[int]) -> Index:
        hs = [all_h[track == k] for k in tracks]
        times = [np.arange(h.shape[0], dtype=np.uint32) * 3 for h in hs]
        fs = [all_f[track == k] for k in tracks]
        counts = [h.shape[0] for h in hs]
        return Index.from_arrays(
            [_IDS[k] for k in tracks], [60.0] * len(tracks), hs, times, counts, fs
        )

    return build([0, 1, 2, 3]), SegmentedIndex([build([0, 1]), build([2, 3])], [_IDS[1]])


def _hits_eager(index: Index, pairs: Pairs) -> tuple[npt.NDArray[np.generic], ...]:
    """``lookup_hits`` as it was: every pair's probes at every speed given to the lookup."""
    hashes, probes = _eager(pairs)
    qrow, track, tref = index.lookup(hashes, max_postings=_CAP, fines=probes)
    i, k = np.divmod(qrow, len(_SPEEDS))
    t = pairs.t[i]
    return t, track.astype(np.int64), k, t - tref.astype(np.float64) / _SPEEDS[k]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 40))
def test_lazy_probes_give_the_same_hits_in_the_same_order(seed: int, n_anchors: int) -> None:
    rng = np.random.default_rng(seed)
    pairs = _pairs(rng, n_anchors)
    for index in _indexes(rng, pairs):
        hits = HitStore(16)
        lookup_hits(index, pairs, _SPEEDS, _LOG_SPEEDS, hits)
        got, want = hits.views(), _hits_eager(index, pairs)
        for g, w in zip(got, want, strict=True):
            assert g.dtype == w.dtype
            assert np.array_equal(g, w)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31), st.integers(0, 40), st.integers(0, 2**31))
def test_probes_of_all_rows_or_some_are_those_engine_v2_merged(
    seed: int, n_anchors: int, pick: int
) -> None:
    rng = np.random.default_rng(seed)
    pairs = _pairs(rng, n_anchors) if n_anchors else Pairs.empty()
    _, probes = _eager(pairs)
    rows = np.flatnonzero(np.random.default_rng(pick).random(probes.shape[0]) < 0.3)
    assert np.array_equal(probe_fines(pairs, _SPEEDS), _probe_fines_as_merged(pairs, _SPEEDS))
    got = probe_fines_rows(pairs, _SPEEDS, rows)
    assert got.shape == (rows.shape[0], 3 * P.FANOUT)
    assert np.array_equal(got, probes[rows])


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 40))
def test_probes_are_asked_only_for_the_rows_whose_bucket_is_narrowed(
    seed: int, n_anchors: int
) -> None:
    rng = np.random.default_rng(seed)
    pairs = _pairs(rng, n_anchors)
    hashes, _ = _eager(pairs)
    whole, segmented = _indexes(rng, pairs)
    sizes = whole.starts[hashes + 1].astype(np.int64) - whole.starts[hashes]
    # one track removed from the segmented index: its narrowing counts live postings only
    dead = segmented.segments[0]
    dead_sizes = np.array(
        [np.count_nonzero(dead.lookup(np.array([h], np.uint32))[1] == 1) for h in hashes]
    )
    for index, live in ((whole, sizes), (segmented, sizes - dead_sizes)):
        asked: list[npt.NDArray[np.int64]] = []

        def provider(rows: npt.NDArray[np.int64]) -> npt.NDArray[np.uint16]:
            asked.append(rows.copy())  # noqa: B023 - called within this iteration only
            return probe_fines_rows(pairs, _SPEEDS, rows)

        index.lookup(hashes, max_postings=_CAP, fines=provider)
        assert len(asked) <= 1  # asked once, however many segments
        got = asked[0] if asked else np.zeros(0, np.int64)
        assert np.array_equal(got, np.flatnonzero(live > _CAP))
