"""Properties of the streaming matcher (hypothesis): what must hold for any input.

* chunking invariance: the same audio fed in any block sizes gives identical events;
* time-shift equivariance: audio after a lead of silence, noise or a non-catalog song gives
  the same plays, shifted by the lead;
* no play from a non-catalog signal (noise, a tone, a synthetic song not in the catalog).

A small catalog (three 24-s synthetic songs) keeps each example to a fraction of a second.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st

from airtrack.fingerprint import (
    SAMPLE_RATE,
    Index,
    PlayEnded,
    PlayEvent,
    StreamingMatcher,
    fingerprint_samples,
    pack_prints,
    scan_samples,
)
from tests.unit._feeding import feed_in_blocks
from tests.unit._synth_music import noise, song

SR = SAMPLE_RATE
Audio = npt.NDArray[np.float32]
CATALOG_SEEDS = {1: 201, 2: 202, 3: 203}

# Tolerances of the shift property.  The STFT hop is 256 samples (32 ms): a lead that is not
# a multiple of it puts the frame grid elsewhere in the song, so peaks move by up to a frame.
# A start that snaps to the track's frame 0 is the median alignment of many hits (seen: ≤ 1
# frame); a mid-way start is estimated from the first anchors, an end from the last one, and
# an abrupt cut can gain or lose one anchor there (peaks are ≥ 8 frames = 0.26 s apart; seen:
# 0.28 s).  Hence 0.1 s on starts and offsets, 0.5 s on ends.
START_TOL_S = 0.1
END_TOL_S = 0.5


@functools.cache
def catalog() -> tuple[dict[int, Audio], Index]:
    songs = {tid: song(seed, 24) for tid, seed in CATALOG_SEEDS.items()}
    index = Index.build((tid, pack_prints(fingerprint_samples(x))) for tid, x in songs.items())
    return songs, index


@functools.cache
def station() -> Audio:
    """A catalog song from its start, a non-catalog song, a catalog song joined mid-way."""
    songs, _ = catalog()
    parts = [
        np.zeros(2 * SR, np.float32),
        songs[1][: 20 * SR],
        song(299, 12)[: 10 * SR],
        songs[2][14 * SR : 24 * SR],  # > snap_s into the song: a mid-way start
        np.zeros(3 * SR, np.float32),
    ]
    return noise(np.concatenate(parts), 20, seed=3)


def run(audio: Audio, cuts: list[int] | None = None) -> list[PlayEvent]:
    """Every event of a matcher fed ``audio`` in blocks of ``cuts`` sizes (cycled), then closed."""
    return feed_in_blocks(StreamingMatcher(catalog()[1]), audio, cuts)


@functools.cache
def reference() -> list[PlayEvent]:
    events = run(station())
    # the property is only worth stating if the station does produce its two plays
    assert [e.track_id for e in events if isinstance(e, PlayEnded)] == [1, 2]
    return events


@settings(max_examples=10, deadline=None)
@given(cuts=st.lists(st.integers(1, 3 * SR), min_size=1, max_size=20))
def test_block_sizes_do_not_change_the_events(cuts: list[int]) -> None:
    assert run(station(), cuts) == reference()


@st.composite
def leads(draw: st.DrawFn) -> Audio:
    """A lead of silence, white noise or a non-catalog song, 0–20 s, any sample count."""
    n = draw(st.integers(0, 20 * SR))
    kind = draw(st.sampled_from(["silence", "noise", "song"]))
    seed = draw(st.integers(0, 2**16))
    if kind == "silence":
        return np.zeros(n, np.float32)
    if kind == "noise":
        level = draw(st.floats(0.001, 0.3))
        return (np.random.default_rng(seed).standard_normal(n) * level).astype(np.float32)
    return song(1000 + seed, 21)[:n]


@settings(max_examples=10, deadline=None)
@given(lead=leads())
def test_a_lead_shifts_the_plays_by_its_length(lead: Audio) -> None:
    shift = lead.shape[0] / SR
    base = scan_samples(station(), catalog()[1])
    shifted = scan_samples(np.concatenate([lead, station()]), catalog()[1])
    assert [(p.track_id, p.speed) for p in shifted] == [(p.track_id, p.speed) for p in base]
    for a, b in zip(base, shifted, strict=True):
        assert abs(b.start_s - shift - a.start_s) <= START_TOL_S, (a, b, shift)
        assert abs(b.offset_s - a.offset_s) <= START_TOL_S, (a, b, shift)
        assert abs(b.end_s - shift - a.end_s) <= END_TOL_S, (a, b, shift)


@st.composite
def non_catalog(draw: st.DrawFn) -> Audio:
    """20 s of white noise, a tone (pure or with harmonics), or a synthetic song not in the
    catalog (the same generator as the catalog's, other seeds), at any level."""
    n = 20 * SR
    kind = draw(st.sampled_from(["noise", "tone", "song"]))
    level = draw(st.floats(0.001, 1.0))
    seed = draw(st.integers(0, 2**16))
    if kind == "noise":
        x = np.random.default_rng(seed).standard_normal(n)
    elif kind == "tone":
        f = draw(st.floats(60.0, 3900.0))
        t = np.arange(n) / SR
        harmonics = draw(st.integers(1, 4))
        x = sum(np.sin(2 * np.pi * f * h * t) / h for h in range(1, harmonics + 1))
    else:
        x = song(1000 + seed, 20).astype(np.float64)
        x /= max(1e-9, float(np.abs(x).max()))
    return (level * np.asarray(x)).astype(np.float32)


@settings(max_examples=15, deadline=None)
@given(audio=non_catalog())
def test_a_non_catalog_signal_gives_no_play(audio: Audio) -> None:
    assert run(audio, [SR]) == []
