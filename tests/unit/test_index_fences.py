"""The fine-key fences (``airtrack/fingerprint/fences.py``): a lookup gives exactly the same
postings with and without them, in C and in the numpy reference; a file written without
them loads and gives the same lookups; ``bench/add_fences.py`` adds them to such a file."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airtrack.fingerprint import params as P
from airtrack.fingerprint.fences import FENCE_STEPS, fences_of
from airtrack.fingerprint.index import NO_PROBE, Index, _native
from bench.add_fences import main as add_fences

Postings = tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32], npt.NDArray[np.uint32]]


def _index(seed: int, n_tracks: int, per_track: int, n_hash: int, n_fine: int) -> Index:
    """Few hashes, so buckets of hundreds to thousands of postings; fine keys skewed (a
    few common ones: long runs, as at 100,000 tracks) over ``n_fine`` values."""
    rng = np.random.default_rng(seed)
    hashes = [rng.integers(0, n_hash, per_track).astype(np.uint32) for _ in range(n_tracks)]
    times = [rng.integers(0, 3000, per_track).astype(np.uint32) for _ in range(n_tracks)]
    fines = [
        np.minimum(rng.geometric(4.0 / n_fine, per_track) - 1, (1 << P.FINE_BITS) - 1).astype(
            np.uint16
        )
        for _ in range(n_tracks)
    ]
    counts = [per_track] * n_tracks
    return Index.from_arrays(list(range(n_tracks)), [60.0] * n_tracks, hashes, times, counts, fines)


def _without_fences(index: Index) -> Index:
    """The same index as one built before fences were (its templates and histogram kept)."""
    bare = copy.copy(index)
    bare._fences = None
    return bare


def _same(got: Postings, want: Postings) -> None:
    for g, w, name in zip(got, want, ("query row", "track", "frame"), strict=True):
        assert g.dtype == w.dtype, name
        np.testing.assert_array_equal(g, w, err_msg=name)


def _lookups(index: Index, hashes: npt.NDArray[np.uint32], cap: int | None,
             probes: npt.NDArray[np.uint16]) -> list[Postings]:  # fmt: skip
    out = [index.lookup_reference(hashes, max_postings=cap, fines=probes)]
    if _native is not None:
        out.append(index.lookup(hashes, max_postings=cap, fines=probes))
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from([None, 0, 1, 3, 32]),
    st.sampled_from([FENCE_STEPS, (64, 8), (8, 2), (4, 1), (1, 1)]),
    st.integers(1, 16),
    st.sampled_from([8, 60, 4096]),
)
def test_a_lookup_gives_the_same_postings_with_and_without_fences(
    seed: int, cap: int | None, steps: tuple[int, int], n_probes: int, n_fine: int
) -> None:
    rng = np.random.default_rng(seed)
    fenced = _index(seed, int(rng.integers(1, 10)), int(rng.integers(1, 1500)),
                    int(rng.integers(1, 12)), n_fine)  # fmt: skip
    assert fenced.has_fences
    fenced.set_fences(fences_of(fenced.keys, steps), steps)
    bare = _without_fences(fenced)
    hashes = rng.integers(0, 14, int(rng.integers(0, 120))).astype(np.uint32)
    n = hashes.shape[0]
    probes = np.minimum(rng.geometric(4.0 / n_fine, (n, n_probes)) - 1, NO_PROBE - 1)
    probes = probes.astype(np.uint16)
    probes[rng.random((n, n_probes)) < 0.2] = NO_PROBE
    want = bare.lookup_reference(hashes, max_postings=cap, fines=probes)
    for got in _lookups(fenced, hashes, cap, probes) + _lookups(bare, hashes, cap, probes):
        _same(got, want)


def test_an_old_file_without_fences_loads_and_gives_the_same_lookups(tmp_path: Path) -> None:
    index = _index(7, 6, 1200, 3, 60)
    _without_fences(index).save(tmp_path / "old.atix")
    index.save(tmp_path / "new.atix")
    old, new = Index.load(tmp_path / "old.atix"), Index.load(tmp_path / "new.atix")
    assert not old.has_fences and new.has_fences
    assert "fence_coarse" not in json.dumps(_header(tmp_path / "old.atix"))
    for have, need in zip(new._fences or (), fences_of(index.keys), strict=True):
        np.testing.assert_array_equal(have, need)
    rng = np.random.default_rng(1)
    hashes = rng.integers(0, 3, 300).astype(np.uint32)
    probes = rng.integers(0, 60, (300, 15)).astype(np.uint16)
    want = index.lookup_reference(hashes, max_postings=32, fines=probes)
    assert want[0].size > 0
    for loaded in (old, new):
        for got in _lookups(loaded, hashes, 32, probes):
            _same(got, want)


def _header(path: Path) -> dict[str, object]:
    with path.open("rb") as fh:
        fh.seek(6)
        size = int.from_bytes(fh.read(8), "little")
        return json.loads(fh.read(size))  # type: ignore[no-any-return]


def test_add_fences_gives_an_old_file_the_fences_build_gives(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = _index(11, 5, 900, 4, 60)
    _without_fences(index).save(tmp_path / "old.atix")
    assert add_fences([str(tmp_path / "old.atix"), "--out", str(tmp_path / "new.atix")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["postings"] == index.n_hashes
    got = Index.load(tmp_path / "new.atix")
    for name in ("starts", "keys", "times", "track_ids", "durations"):
        np.testing.assert_array_equal(getattr(got, name), getattr(index, name))
    assert got.version == index.version and got.has_templates and got._density_saved
    for have, need in zip(got._fences or (), index._fences or (), strict=True):
        np.testing.assert_array_equal(have, need)
    assert not Index.load(tmp_path / "old.atix").has_fences
    with pytest.raises(SystemExit):
        add_fences([str(tmp_path / "new.atix")])
