"""Discovery's pure core: sampled points, the window, alignment and components."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from airtrack.demo.music import render_jingle
from airtrack.demo.speech import render_talk
from airtrack.fingerprint import params as P
from airtrack.fingerprint.recurrence import (
    Link,
    Points,
    PrintWindow,
    Stretch,
    components,
    find_links,
    same_airing,
    sample_points,
)
from tests.support.archive import pairs_of
from tests.unit._synth_music import noise

SR = P.SAMPLE_RATE
_OPTS = {"min_hits": 10, "min_s": 5.0, "repeat_gap_s": 600.0}


def _points(rng: np.random.Generator, n: int, start: float, span: float, stream: int) -> Points:
    return Points(
        (rng.integers(0, 1 << 20, n) * 4).astype(np.uint32) & np.uint32((1 << 20) - 4),
        np.sort(rng.uniform(start, start + span, n)),
        np.full(n, stream, np.int64),
    )


def _aired(rec: Points, at: float, stream: int, keep: np.ndarray) -> Points:
    """``rec`` (times from 0) aired at ``at`` on ``stream``, only the points ``keep``."""
    return Points(rec.hashes[keep], rec.times[keep] + at, np.full(int(keep.sum()), stream))


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    length=st.floats(8.0, 60.0),
    at_a=st.floats(0.0, 40_000.0),
    at_b=st.floats(0.0, 40_000.0),
    lost=st.floats(0.0, 0.3),
)
def test_a_recording_aired_twice_is_linked_where_it_aired(
    seed: int, length: float, at_a: float, at_b: float, lost: float
) -> None:
    """The same points (a few lost) on two streams, among chance points: one link, its
    stretches where the recording aired; without the recording, nothing."""
    rng = np.random.default_rng(seed)
    rec = _points(rng, int(length * 5), 0.0, length, 0)
    rec = Points(rec.hashes, rec.times - rec.times[0], rec.streams)
    a = _aired(rec, at_a, 1, rng.random(len(rec)) >= lost)
    b = _aired(rec, at_b, 2, rng.random(len(rec)) >= lost)
    chance = [_points(rng, 4000, 0.0, 41_000.0, s) for s in (1, 2)]
    window = PrintWindow(86_400.0, 10**7)
    window.add(Points.concat([a, chance[0]]))
    new = Points.concat([b, chance[1]])
    window.add(new)
    links = find_links(new, window, **_OPTS)
    assert links, "the recording aired twice"
    for link in links:
        assert link.a.stream == 2 and link.b.stream == 1
        assert at_b - 1.0 <= link.a.start and link.a.end <= at_b + length + 2.0
        assert at_a - 1.0 <= link.b.start and link.b.end <= at_a + length + 2.0
    # chance alone never aligns
    window = PrintWindow(86_400.0, 10**7)
    window.add(chance[0])
    window.add(chance[1])
    assert find_links(chance[1], window, **_OPTS) == []


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), gap=st.floats(0.0, 579.0))
def test_one_stream_never_links_a_stretch_with_itself_or_a_near_repeat(
    seed: int, gap: float
) -> None:
    """A song's repeated section (closer than the repeat gap) is not a recurrence."""
    rng = np.random.default_rng(seed)
    rec = _points(rng, 100, 0.0, 20.0, 1)
    twice = Points.concat([rec, Points(rec.hashes, rec.times + 20.0 + gap, rec.streams)])
    window = PrintWindow(86_400.0, 10**7)
    window.add(twice)
    assert find_links(twice, window, **_OPTS) == []


_stretch = st.builds(
    lambda s, a, n: Stretch(s, a, a + n),
    st.integers(1, 3),
    st.floats(0.0, 500.0),
    st.floats(5.0, 60.0),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_stretch, _stretch), max_size=12))
def test_components_join_links_and_airings_and_keep_the_rest_apart(
    pairs: list[tuple[Stretch, Stretch]],
) -> None:
    links = [Link(x, y, 10) for x, y in pairs]
    groups = components(links)

    def homes(s: Stretch) -> set[int]:
        found = {
            g for g, group in enumerate(groups)
            if any(o.stream == s.stream and o.start <= s.start and s.end <= o.end for o in group)
        }  # fmt: skip
        assert found, f"{s} is covered by an airing of some component"
        return found

    for link in links:
        assert homes(link.a) & homes(link.b), "a link's stretches are in one component"
    for group in groups:
        for k, s in enumerate(group):
            # within a component, one stretch per airing
            assert not any(same_airing(s, o) for o in group[k + 1 :])
    flat = [(g, s) for g, group in enumerate(groups) for s in group]
    for g, s in flat:
        for h, o in flat:
            if g != h:
                assert not same_airing(s, o), "one airing belongs to one component"


@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    chunks=st.integers(1, 40),
    cap=st.integers(50, 3000),
    window_s=st.floats(10.0, 1000.0),
)
def test_the_window_keeps_the_newest_points_within_its_bounds_and_finds_them(
    seed: int, chunks: int, cap: int, window_s: float
) -> None:
    rng = np.random.default_rng(seed)
    window = PrintWindow(window_s, cap)
    every = []
    for c in range(chunks):
        pts = Points(
            rng.integers(0, 64, 50).astype(np.uint32),
            np.full(50, float(c * 30)) + rng.uniform(0, 30, 50),
            np.zeros(50, np.int64),
        )
        window.add(pts)
        every.append(pts)
    window.compact()
    assert len(window) <= cap
    kept = Points.concat(window.chunks)
    assert (kept.times >= window.newest - window_s).all()
    # a lookup finds exactly the points kept with that hash
    q = np.arange(64, dtype=np.uint32)
    rows, found = window.lookup(q)
    assert sorted(zip(found.hashes.tolist(), found.times.tolist(), strict=True)) == sorted(
        zip(kept.hashes.tolist(), kept.times.tolist(), strict=True)
    )
    assert (q[rows] == found.hashes).all()


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_speech_and_silence_do_not_recur(seed: int) -> None:
    """Two different stretches of speech never align; silence has no points; a held tone
    has only trivial pairs."""
    one = sample_points(pairs_of(render_talk(seed, 30, SR)), 0.0, 1, sample=4)
    two = sample_points(pairs_of(render_talk(seed + 1, 30, SR)), 5000.0, 2, sample=4)
    window = PrintWindow(86_400.0, 10**7)
    window.add(one)
    window.add(two)
    assert len(one) > 50 and find_links(two, window, **_OPTS) == []
    assert len(sample_points(pairs_of(np.zeros(10 * SR, np.float32)), 0.0, 1, sample=1)) == 0
    tone = 0.3 * np.sin(2 * np.pi * 440.0 * np.arange(10 * SR) / SR).astype(np.float32)
    assert len(sample_points(pairs_of(tone), 0.0, 1, sample=1)) == 0


def test_a_jingle_recurs_across_stations_under_noise() -> None:
    """A 7-s jingle between different speech on two stations is one link, where it aired."""
    jingle = render_jingle(5, 7, SR)
    a = np.concatenate([render_talk(1, 3, SR), jingle, render_talk(2, 5, SR)])
    b = np.concatenate([render_talk(3, 5, SR), 0.9 * jingle, render_talk(4, 3, SR)])
    pa = sample_points(pairs_of(a), 1000.0, 1, sample=4)
    pb = sample_points(pairs_of(noise(b, 25, 1)), 5000.0, 2, sample=4)
    window = PrintWindow(86_400.0, 10**7)
    window.add(pa)
    window.add(pb)
    links = find_links(pb, window, **_OPTS)
    assert len(links) == 1
    link = links[0]
    assert abs(link.a.start - 5005.0) < 1.5 and abs(link.a.end - 5012.0) < 1.5
    assert abs(link.b.start - 1003.0) < 1.5 and abs(link.b.end - 1010.0) < 1.5
