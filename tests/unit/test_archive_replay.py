"""The fingerprint archive: its segment codec, and the replay of archived prints through
the streaming matcher (back-fill) finding the plays the live matcher found."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airtrack.errors import ArchiveSegmentError
from airtrack.fingerprint import fingerprint_samples, pack_prints
from airtrack.fingerprint import params as P
from airtrack.fingerprint.archive import decode_segment, encode_segment, thin_pairs
from airtrack.fingerprint.index import Index
from airtrack.fingerprint.landmarks import Pairs
from airtrack.fingerprint.matcher import StreamingMatcher, plays_from_events
from airtrack.fingerprint.replay import replay_segments
from tests.unit._synth_music import song

SR = P.SAMPLE_RATE


@st.composite
def _pairs(draw: st.DrawFn) -> tuple[int, Pairs]:
    frames = draw(st.integers(1, 4000))
    n = draw(st.integers(0, 200))
    t = np.sort(np.asarray(draw(st.lists(st.integers(0, frames - 1), min_size=n, max_size=n))))
    f32 = st.floats(-20, 20, width=32)
    arr = lambda: np.asarray(draw(st.lists(f32, min_size=n, max_size=n)), np.float32)  # noqa: E731
    ints = lambda lo, hi: np.asarray(  # noqa: E731
        draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n)), np.int64
    )
    return frames, Pairs(t.astype(np.int64), arr(), arr(), ints(1, 63), arr(), ints(-63, 63))


@given(_pairs())
@settings(max_examples=60, deadline=None)
def test_segment_round_trip_is_exact(fp: tuple[int, Pairs]) -> None:
    frames, pairs = fp
    seg = decode_segment(encode_segment(frames, pairs))
    assert seg.frames == frames
    for f in ("t", "lnf1", "df", "dt", "fdf", "fdt"):
        assert np.array_equal(getattr(seg.pairs, f), getattr(pairs, f)), f


@given(_pairs(), st.integers(0, 300))
@settings(max_examples=60, deadline=None)
def test_thinning_keeps_at_most_the_cap_in_order(fp: tuple[int, Pairs], keep: int) -> None:
    _, pairs = fp
    thin = thin_pairs(pairs, keep)
    assert len(thin) <= max(keep, 0) or len(pairs) <= keep
    assert len(thin) == min(len(pairs), keep)
    assert np.all(np.diff(thin.t) >= 0)


@given(st.binary(max_size=64))
def test_damaged_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(ArchiveSegmentError):
        decode_segment(b"XXXX" + data)


def test_replay_finds_the_plays_the_live_matcher_found() -> None:
    """Archive what a live matcher heard (not knowing the song); replay it later against
    an index of just the song: the airings come back with the live matcher's bounds."""
    target, other = song(7, 20), song(8, 20)
    gap = np.zeros(3 * SR, np.float32)
    program = np.concatenate([other, gap, target, gap, other, target, gap])
    prints = {
        1: pack_prints(fingerprint_samples(target)),
        2: pack_prints(fingerprint_samples(other)),
    }
    index_both = Index.build(prints.items())
    index_other = Index.build([(2, prints[2])])
    index_target = Index.build([(1, prints[1])])

    live = StreamingMatcher(index_both)
    heard = []
    for i in range(0, len(program), SR):
        heard.extend(live.feed(program[i : i + SR]))
    heard.extend(live.close())
    truth = [p for p in plays_from_events(heard) if p.track_id == 1]
    assert len(truth) == 2

    archiving = StreamingMatcher(index_other)
    got: list[tuple[Pairs, int]] = []
    archiving.on_pairs = lambda pairs, frames: got.append((pairs, frames))
    for i in range(0, len(program), SR):
        archiving.feed(program[i : i + SR])
    archiving.close()
    # cut into segments of ~10 s on the pairs' anchors, dated from a wall origin
    origin = 1_700_000_000.0
    all_pairs = [p for p, _ in got if len(p)]
    t = np.concatenate([p.t for p in all_pairs])
    segments = []
    seg_frames = int(10 * P.FRAMES_PER_S)
    for lo in range(0, int(t.max()) + 1, seg_frames):
        from airtrack.fingerprint.archive import concat_pairs, select_pairs, shift_pairs

        both = concat_pairs(all_pairs)
        mask = (both.t >= lo) & (both.t < lo + seg_frames)
        part = shift_pairs(select_pairs(both, mask), -lo)
        data = encode_segment(seg_frames, part)
        segments.append((origin + lo / P.FRAMES_PER_S, decode_segment(data)))
    found = replay_segments(segments, index_target)
    assert [p.track_id for p in found] == [1, 1]
    for f, p in zip(found, truth, strict=True):
        assert abs((f.start - origin) - p.start_s) < 1.0
        assert abs((f.end - origin) - p.end_s) < 2.0
