"""The per-second print histogram the matcher asks when it places an airing's start."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airtrack.fingerprint import Index, pack_prints
from airtrack.fingerprint import index as index_module
from airtrack.fingerprint import params as P
from airtrack.fingerprint.landmarks import Prints

FPS = P.SAMPLE_RATE / P.HOP


def _catalog(seed: int, tracks: int) -> Index:
    rng = np.random.default_rng(seed)
    items = []
    for t in range(tracks):
        n = int(rng.integers(0, 400))
        duration = float(rng.uniform(5.0, 40.0))
        times = np.sort(rng.integers(0, int(duration * FPS) + 40, n)).astype(np.uint32)
        hashes = rng.integers(0, 256, n).astype(np.uint32)
        fines = rng.integers(0, 1 << P.FINE_BITS, n).astype(np.uint16)
        items.append((t + 1, pack_prints(Prints(hashes, times, duration, fines))))
    return Index.build(items)


def _brute(index: Index, track: int, t0: float, t1: float) -> int:
    """Prints of ``track`` whose second (clamped to the track's last) lies in the query's."""
    mine = index.tracks == track
    secs = int(np.ceil(float(index.durations[track]))) + 2
    sec = np.minimum((index.times[mine].astype(np.int64) * P.HOP) // P.SAMPLE_RATE, secs - 1)
    a, b = min(secs, max(0, int(t0 / FPS))), min(secs, max(0, int(t1 / FPS)))
    return int(((sec >= a) & (sec < b)).sum())


@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 2**31),
    st.integers(1, 6),
    st.lists(st.tuples(st.floats(-50, 2000), st.floats(-50, 2000)), min_size=1, max_size=8),
    st.sampled_from([7, 64, 1 << 24]),
)
def test_prints_between_counts_the_prints_in_those_seconds(
    seed: int, tracks: int, spans: list[tuple[float, float]], step: int
) -> None:
    index = _catalog(seed, tracks)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(index_module, "_DENSITY_STEP", step)  # several passes, as at 100k tracks
        for track in range(tracks):
            for t0, t1 in spans:
                assert index.prints_between(track, t0, t1) == _brute(index, track, t0, t1)
    _offsets, hist = index.build_density()
    assert hist.dtype == np.uint16  # 2 B per track-second
    assert int(hist.sum()) == index.n_hashes


def test_a_saved_index_carries_its_density(tmp_path: Path) -> None:
    """A snapshot file holds the histogram: loading it builds nothing (at 100,000 tracks
    the build took ~50 s of every scan), and the answers are those of the built one."""
    index = _catalog(7, 5)
    index.save(tmp_path / "a.idx")
    loaded = Index.load(tmp_path / "a.idx")
    assert loaded.version == index.version  # same content, same ETag

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(index_module, "_DENSITY_STEP", 0)  # a rebuild would fail (range step 0)
        for track in range(5):
            for t0, t1 in [(0.0, 5.0), (3.0, 30.0), (-10.0, 2000.0)]:
                assert loaded.prints_between(track, t0, t1) == _brute(index, track, t0, t1)
        offsets, hist = loaded.build_density()  # the stored one, nothing to build
    want_offsets, want_hist = index.build_density()
    assert np.array_equal(offsets, want_offsets) and np.array_equal(hist, want_hist)
    assert hist.dtype == want_hist.dtype
