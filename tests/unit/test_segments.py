"""A segmented index (base + deltas + removed ids) answers as one index of the live tracks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airtrack.errors import IndexFileError
from airtrack.fingerprint import Index, fingerprint_samples, pack_prints, scan_samples
from airtrack.fingerprint.index import NO_PROBE
from airtrack.fingerprint.landmarks import Prints
from airtrack.fingerprint.segments import SegmentedIndex, read_pack, write_pack
from tests.unit._synth_music import song

# few distinct hashes, so postings collide across tracks and segments and the cap bites
_HASHES = 64
_FINES = 4


def _blob(seed: int, n: int) -> bytes:
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, _HASHES, n).astype(np.uint32)
    times = np.sort(rng.integers(0, 2000, n)).astype(np.uint32)
    fines = rng.integers(0, _FINES, n).astype(np.uint16)  # few: fine sub-ranges collide too
    return pack_prints(Prints(hashes, times, 70.0, fines))


def _as_set(index: Index, out: tuple[np.ndarray, np.ndarray, np.ndarray]) -> list[tuple[int, ...]]:
    qrow, track, t = out
    assert np.all(np.diff(qrow) >= 0)  # the matcher relies on query-row order
    ids = index.track_ids[track.astype(np.int64)]
    return sorted(zip(qrow.tolist(), ids.tolist(), t.tolist(), strict=True))


@st.composite
def _catalogs(draw: st.DrawFn) -> tuple[list[list[int]], set[int]]:
    n_segments = draw(st.integers(1, 4))
    segments: list[list[int]] = []
    next_id = 1
    for _ in range(n_segments):
        ids = []
        for _ in range(draw(st.integers(0, 4))):
            ids.append(next_id)
            next_id += 1
        # a later segment may carry an earlier track again (its prints were replaced)
        if segments and draw(st.booleans()):
            earlier = [t for seg in segments for t in seg]
            if earlier:
                ids.append(draw(st.sampled_from(earlier)))
        segments.append(ids)
    everyone = sorted({t for seg in segments for t in seg})
    removed = set(draw(st.lists(st.sampled_from(everyone), unique=True))) if everyone else set()
    return segments, removed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_catalogs(), st.integers(0, 2**31), st.sampled_from([None, 1, 3, 8]))
def test_segmented_lookup_equals_one_index_of_live_tracks(
    catalog: tuple[list[list[int]], set[int]], seed: int, cap: int | None
) -> None:
    segments, removed = catalog
    built: list[Index] = []
    latest: dict[int, bytes] = {}
    for seg_no, ids in enumerate(segments):
        items = [(t, _blob(t * 31 + seg_no, 5 + (t * 7 + seg_no) % 30)) for t in ids]
        latest.update(items)  # a later copy replaces the earlier one
        built.append(Index.build(items))
    live = sorted(t for t in latest if t not in removed)
    whole = Index.build((t, latest[t]) for t in live)
    seg = SegmentedIndex(built, removed)
    assert sorted(seg.live_track_ids.tolist()) == live
    rng = np.random.default_rng(seed)
    query = rng.integers(0, _HASHES + 4, 50).astype(np.uint32)
    assert _as_set(seg, seg.lookup(query, cap)) == _as_set(whole, whole.lookup(query, cap))
    # with the query's fine keys (some probes unused): big buckets narrowed the same way
    fines = rng.integers(0, _FINES + 1, (50, 3)).astype(np.uint16)
    fines[fines == _FINES] = NO_PROBE
    assert _as_set(seg, seg.lookup(query, cap, fines)) == _as_set(
        whole, whole.lookup(query, cap, fines)
    )
    for t in live:
        dense_whole = int(np.flatnonzero(whole.track_ids == t)[0])
        dense_seg = int(np.flatnonzero(seg.track_ids == t)[-1])  # the last copy is live
        assert float(seg.durations[dense_seg]) == float(whole.durations[dense_whole])
        for t0, t1 in ((0.0, 10.0), (5.0, 40.0), (0.0, 100.0)):
            assert seg.prints_between(dense_seg, t0, t1) == whole.prints_between(
                dense_whole, t0, t1
            )


def test_matcher_finds_the_same_plays_through_segments() -> None:
    songs = {tid: song(200 + tid, 30) for tid in (1, 2, 3, 4)}
    prints = {tid: pack_prints(fingerprint_samples(x)) for tid, x in songs.items()}
    gap = np.zeros(3 * 8000, np.float32)
    audio = np.concatenate([gap, songs[1], gap, songs[3], gap, songs[4], gap, songs[2], gap])
    whole = Index.build((t, prints[t]) for t in (1, 3, 4))  # 2 removed
    seg = SegmentedIndex(
        [
            Index.build((t, prints[t]) for t in (1, 2)),
            Index.build([(3, prints[3])]),
            Index.build([(4, prints[4])]),
        ],
        removed=[2],
    )
    want = [(p.track_id, round(p.start_s, 1)) for p in scan_samples(audio, whole)]
    got = [(p.track_id, round(p.start_s, 1)) for p in scan_samples(audio, seg)]
    assert [t for t, _ in want] == [1, 3, 4]
    assert got == want


def test_prints_pack_round_trip_and_damage(tmp_path) -> None:  # type: ignore[no-untyped-def]
    items = [(5, _blob(1, 10)), (9, _blob(2, 20))]
    write_pack(items, tmp_path / "d.atp")
    data = (tmp_path / "d.atp").read_bytes()
    assert read_pack(data) == items
    with pytest.raises(IndexFileError):
        read_pack(data[:-3])
    with pytest.raises(IndexFileError):
        read_pack(b"XXXX" + data[4:])
