"""The scale bench's out-of-core index writer writes the very file ``Index.save`` would,
the density histogram, the templates and the fine-key fences included (a scan of it must
not rebuild the histogram)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from airtrack.fingerprint import Index
from airtrack.fingerprint import params as P
from airtrack.fingerprint.landmarks import Prints
from bench._scale_index import RawPostings, write_index

_ARRAYS = ("starts", "keys", "times", "track_ids", "durations")


@st.composite
def catalogs(draw: st.DrawFn) -> list[Prints]:
    n = draw(st.integers(1, 8))
    out = []
    for _ in range(n):
        size = draw(st.integers(0, 40))
        seed = draw(st.integers(0, 2**31))
        rng = np.random.default_rng(seed)
        # few distinct hashes: one hash gets postings of several tracks (order matters)
        hashes = rng.choice(np.array([0, 7, 1 << 19, (1 << P.HASH_BITS) - 1], np.uint32), size)
        times = np.sort(rng.integers(0, 5000, size)).astype(np.uint32)
        # few fine keys too: a bucket sorts by fine key, then track
        fines = rng.choice(np.array([0, 3, (1 << P.FINE_BITS) - 1], np.uint16), size)
        out.append(Prints(hashes.astype(np.uint32), times, float(size), fines.astype(np.uint16)))
    return out


@settings(max_examples=40, deadline=None)
@given(catalogs(), st.integers(1, 50), st.data())
def test_out_of_core_file_equals_index_build(
    prints: list[Prints], max_bucket: int, data: st.DataObject
) -> None:
    n_tracks = data.draw(st.integers(1, len(prints)))
    ids = [1000 + i for i in range(len(prints))]
    with tempfile.TemporaryDirectory() as tmp:
        raw = RawPostings(Path(tmp) / "raw")
        path = Path(tmp) / "index.atix"
        try:
            for tid, p in zip(ids, prints, strict=True):
                raw.add(tid, p)
            write_index(raw, n_tracks, path, max_bucket=max_bucket)
        finally:
            raw.close()
        got = Index.load(path)
        part = prints[:n_tracks]
        want = Index.from_arrays(
            ids[:n_tracks],
            [p.duration_s for p in part],
            [p.hashes for p in part],
            [p.times for p in part],
            [len(p) for p in part],
            [p.fines for p in part],
        )
        for name in _ARRAYS:
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
        assert got._density_saved, "the file carries no density histogram"
        assert got._density is not None
        for have, need in zip(got._density, want.build_density(), strict=True):
            assert have.dtype == need.dtype
            np.testing.assert_array_equal(have, need)
        assert got.has_fences and want.has_fences
        for have, need in zip(got._fences or (), want._fences or (), strict=True):
            np.testing.assert_array_equal(have, need)
        assert got.has_templates and want.has_templates
        for k in range(n_tracks):
            for have, need in zip(got.template(k), want.template(k), strict=True):
                np.testing.assert_array_equal(have, need)
