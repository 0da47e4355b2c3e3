"""The fine key (prints v2): sibling features per pair, and the index lookup that uses it."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st

from airtrack.fingerprint import Index, pack_prints, unpack_prints
from airtrack.fingerprint import params as P
from airtrack.fingerprint.evidence import probe_fines
from airtrack.fingerprint.index import NO_PROBE
from airtrack.fingerprint.landmarks import (
    LandmarkExtractor,
    _concat,
    fine_keys,
    fingerprint_samples,
    pair_peaks,
)

SR = P.SAMPLE_RATE


def _song(seed: int, seconds: float) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    x = np.zeros(n)
    for start in np.arange(0, seconds, 0.25):
        f = rng.uniform(300, 3500)
        env = np.exp(-np.clip(t - start, 0, None) * 6) * (t >= start)
        x += env * np.sin(2 * np.pi * f * t)
    x += 0.01 * rng.standard_normal(n)
    return (x / np.abs(x).max()).astype(np.float32)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 60))
def test_sibling_is_the_anchors_first_target_or_its_second(seed: int, n_peaks: int) -> None:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 200, n_peaks)).astype(np.int64)
    f = rng.uniform(np.log(300), np.log(3000), n_peaks).astype(np.float32)
    pairs = pair_peaks(t, f, n_peaks)
    by_anchor: dict[tuple[int, float], list[int]] = {}
    anchors = list(zip(pairs.t.tolist(), pairs.lnf1.tolist(), strict=True))
    for i, key in enumerate(anchors):
        by_anchor.setdefault(key, []).append(i)
    for rows in by_anchor.values():
        for j, row in enumerate(rows):
            sib = rows[min(1, len(rows) - 1)] if j == 0 else rows[0]
            assert pairs.fdf[row] == pairs.df[sib]
            assert pairs.fdt[row] == pairs.dt[sib]


def test_fine_keys_are_block_size_independent_and_round_trip() -> None:
    x = _song(3, 12.0)
    whole = fingerprint_samples(x)
    assert len(whole) > 100
    ex = LandmarkExtractor()
    parts = [ex.feed(x[i : i + 3001]) for i in range(0, x.shape[0], 3001)]
    parts.append(ex.flush())
    got = sorted(
        (int(t), int(h), int(k)) for p in parts for t, h, k in zip(p.t, *_hash_fine(p), strict=True)
    )
    want = sorted(
        zip(whole.times.tolist(), whole.hashes.tolist(), whole.fines.tolist(), strict=True)
    )
    assert got == want
    back = unpack_prints(pack_prints(whole))
    order = np.argsort(whole.times, kind="stable")
    assert np.array_equal(back.fines, whole.fines[order])
    assert np.array_equal(back.hashes, whole.hashes[order])
    assert int(whole.fines.max()) < 1 << P.FINE_BITS


def _hash_fine(p: object) -> tuple[list[int], list[int]]:
    from airtrack.fingerprint.landmarks import Pairs, hash_pairs

    assert isinstance(p, Pairs)
    return hash_pairs(p, 1.0)[0].tolist(), fine_keys(p.fdf, p.fdt, 1.0).tolist()


def test_fine_key_scales_dt_with_speed_and_keeps_the_ratio() -> None:
    fdf = np.array([-0.3, 0.0, 0.4], np.float32)
    fdt = np.array([10, 20, 40], np.int64)
    slow, fast = fine_keys(fdf, fdt, 1.0), fine_keys(fdf, fdt, 1.05)
    assert np.array_equal(slow >> P.FDT_BITS, fast >> P.FDT_BITS)
    assert np.array_equal(fast & ((1 << P.FDT_BITS) - 1), [10, 21, 42])  # rint: 10.5 -> 10


@st.composite
def _catalogs(draw: st.DrawFn) -> tuple[Index, list[tuple[int, int, int, int]]]:
    """A small index whose few hashes and fine keys make big and small buckets."""
    n = draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    postings: list[tuple[int, int, int, int]] = []  # hash, fine, dense track, time
    hashes, times, fines, counts = [], [], [], []
    for k in range(n):
        size = draw(st.integers(0, 60))
        h = rng.choice(np.array([5, 9, 1 << 19], np.uint32), size).astype(np.uint32)
        tm = rng.integers(0, 3000, size).astype(np.uint32)
        fk = rng.choice(np.array([0, 1, 77, 4095], np.uint16), size).astype(np.uint16)
        hashes.append(h)
        times.append(tm)
        fines.append(fk)
        counts.append(size)
        postings += [(int(a), int(b), k, int(c)) for a, b, c in zip(h, fk, tm, strict=True)]
    index = Index.from_arrays(list(range(n)), [60.0] * n, hashes, times, counts, fines)
    return index, postings


@settings(max_examples=60, deadline=None)
@given(_catalogs(), st.integers(1, 40), st.integers(0, 2**31))
def test_lookup_with_fine_keys_reads_only_the_matching_postings_of_big_buckets(
    catalog: tuple[Index, list[tuple[int, int, int, int]]], cap: int, seed: int
) -> None:
    index, postings = catalog
    rng = np.random.default_rng(seed)
    q_hash = rng.choice(np.array([5, 9, 1 << 19, 3], np.uint32), 12).astype(np.uint32)
    q_fine = rng.choice(np.array([0, 1, 77, 4095, 2], np.uint16), 12).astype(np.uint16)
    qrow, track, time = index.lookup(q_hash, max_postings=cap, fines=q_fine)
    got = sorted(zip(qrow.tolist(), track.tolist(), time.tolist(), strict=True))
    want = []
    for row, (h, fk) in enumerate(zip(q_hash.tolist(), q_fine.tolist(), strict=True)):
        bucket = [p for p in postings if p[0] == h]
        if len(bucket) > cap:  # big bucket: only its postings of the query's fine key
            bucket = [p for p in bucket if p[1] == fk]
        if len(bucket) <= cap:
            want += [(row, p[2], p[3]) for p in bucket]
    assert got == sorted(want)
    # buckets small enough to read whole give exactly what the lookup without fine keys gave
    old = index.lookup(q_hash, max_postings=cap)
    assert set(zip(*(a.tolist() for a in old), strict=True)) <= set(got)
    small = {r for r, h in enumerate(q_hash.tolist()) if sum(p[0] == h for p in postings) <= cap}
    assert [g for g in got if g[0] in small] == sorted(zip(*(a.tolist() for a in old), strict=True))
    # no cap: every bucket is narrowed to its fine key
    qrow, track, time = index.lookup(q_hash, fines=q_fine)
    got = sorted(zip(qrow.tolist(), track.tolist(), time.tolist(), strict=True))
    want = [
        (row, p[2], p[3])
        for row, (h, fk) in enumerate(zip(q_hash.tolist(), q_fine.tolist(), strict=True))
        for p in postings
        if p[0] == h and p[1] == fk
    ]
    assert got == sorted(want)


def test_saved_index_keeps_fine_keys_and_small_times(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    items = [(i + 1, pack_prints(fingerprint_samples(_song(i, 8.0)))) for i in range(3)]
    index = Index.build(items)
    assert index.times.dtype == np.uint16  # tracks under 35 min: 8 B per posting
    index.save(tmp_path / "i.idx")
    loaded = Index.load(tmp_path / "i.idx")
    assert np.array_equal(loaded.fines, index.fines)
    assert loaded.version == index.version
    h = unpack_prints(items[0][1])
    a = index.lookup(h.hashes, 1, h.fines)
    b = loaded.lookup(h.hashes, 1, h.fines)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert a[0].size > 0


@settings(max_examples=40, deadline=None)
@given(_catalogs(), st.integers(1, 40), st.integers(0, 2**31), st.integers(1, 4))
def test_lookup_with_several_probes_reads_each_distinct_fine_key_once(
    catalog: tuple[Index, list[tuple[int, int, int, int]]], cap: int, seed: int, n_probes: int
) -> None:
    index, postings = catalog
    rng = np.random.default_rng(seed)
    q_hash = rng.choice(np.array([5, 9, 1 << 19, 3], np.uint32), 10).astype(np.uint32)
    keys = np.array([0, 1, 77, 4095, 2, NO_PROBE], np.uint16)
    probes = rng.choice(keys, (10, n_probes)).astype(np.uint16)
    qrow, track, time = index.lookup(q_hash, max_postings=cap, fines=probes)
    assert np.all(np.diff(qrow) >= 0)  # query-row order: the matcher's hits stay in time order
    got = sorted(zip(qrow.tolist(), track.tolist(), time.tolist(), strict=True))
    want = []
    for row, h in enumerate(q_hash.tolist()):
        bucket = [p for p in postings if p[0] == h]
        if len(bucket) <= cap:
            want += [(row, p[2], p[3]) for p in bucket]
            continue
        for fk in set(probes[row].tolist()) - {NO_PROBE}:
            sub = [p for p in bucket if p[1] == fk]
            if len(sub) <= cap:
                want += [(row, p[2], p[3]) for p in sub]
    assert got == sorted(want)


def test_identical_audio_probes_the_stored_fine_key_of_every_pair() -> None:
    x = _song(5, 10.0)
    ex = LandmarkExtractor()
    pairs = _concat([ex.feed(x), ex.flush()])
    speeds = np.asarray(P.SPEEDS)
    probes = probe_fines(pairs, speeds)
    stored = fine_keys(pairs.fdf, pairs.fdt, 1.0)
    one = P.SPEEDS.index(1.0)
    assert len(pairs) > 50
    assert np.all((probes[one] == stored[:, None]).any(axis=1))
