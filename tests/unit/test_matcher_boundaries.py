"""Properties of play boundaries (hypothesis), as a royalty auditor reads an as-run log:

* a song aired again from an earlier point right after itself (a repeat, a DJ rewind) is
  two plays, the first ending and the second starting where it went back, even when it
  went back into a stretch the song repeats (the audio sounds like the song going on);
* a song that jumps forward inside one airing (a radio edit's splice) is one play;
* a song cut short (the station cut away, an outage) ends where its audio stopped.

The catalog is the properties' own (three 24-s synthetic songs that repeat no section),
plus one song built to repeat a section for the rewind into it.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt
from hypothesis import example, given, settings
from hypothesis import strategies as st

from airtrack.fingerprint import (
    SAMPLE_RATE,
    Index,
    Play,
    fingerprint_samples,
    pack_prints,
    scan_samples,
)
from tests.unit._synth_music import noise, song
from tests.unit.test_matcher_properties import catalog

SR = SAMPLE_RATE
Audio = npt.NDArray[np.float32]
#: Boundaries at a hard splice.  A start is put 1 s before its first anchor (for a
#: fade-in), and at a splice the first anchor sits on it (seen: 1.14 s early); an end is the
#: last anchor with two more within ±1 s, plus 0.5 s, and on these sparse synthetic songs
#: under 20 dB noise the last such anchor came up to 1.6 s before the cut (seen: 1.08 s
#: early).  The benchmark's target (median ≤ 1.5 s on real music) sets the bound.
EDGE_TOL_S = 1.5
#: A restart's start is its lead before the new line's first anchor; on one of these
#: synthetic songs that anchor came 0.82 s before the splice (cut 14.5 s, back 10 s: the
#: second play started 1.82 s early, with engine v1 as with v2), so a random draw near it
#: failed the 1.5-s bound.  The benchmark's target for real music is max 3 s.
SPLICE_START_TOL_S = 2.0


def scan(*parts: Audio, seed: int = 7, index: Index | None = None) -> list[Play]:
    audio = np.concatenate([np.zeros(2 * SR, np.float32), *parts, np.zeros(4 * SR, np.float32)])
    return scan_samples(noise(audio, 20, seed=seed), index or catalog()[1])


@settings(max_examples=8, deadline=None)
@given(cut=st.floats(12.0, 22.0), back=st.floats(4.0, 12.0))
@example(cut=14.5, back=10.0)
def test_a_song_that_goes_back_is_two_plays(cut: float, back: float) -> None:
    x = catalog()[0][1]
    again = max(0.0, cut - back)
    plays = scan(x[: int(cut * SR)], x[int(again * SR) :])
    assert [p.track_id for p in plays] == [1, 1], plays
    first, second = plays
    assert abs(first.start_s - 2.0) <= EDGE_TOL_S, plays
    assert abs(first.end_s - (2.0 + cut)) <= EDGE_TOL_S, plays
    assert abs(second.start_s - (2.0 + cut)) <= SPLICE_START_TOL_S, plays
    assert abs(second.offset_s - again) <= SPLICE_START_TOL_S, plays


@functools.cache
def repeating_song(at: int, since: int, length: int) -> tuple[Audio, Index]:
    """A 30-s synthetic song with its [``since``, ``since + length``) s copied in at ``at`` s."""
    x = song(301, 30)
    y = np.concatenate([x[: at * SR], x[since * SR : (since + length) * SR], x[at * SR :]])
    return y, Index.build([(1, pack_prints(fingerprint_samples(y)))])


#: Boundaries at a rewind into a repeated stretch: both plays turn 1 s before the new
#: line's run of hits (as any start), and on these synthetic songs that run began between
#: 0.6 s before and 0.4 s after the cut (seen: 1.58 s early).  Before the rule the turn came
#: where the two copies diverge, ``length`` (≥ 5 s) late.
REWIND_TOL_S = 2.0


@settings(max_examples=6, deadline=None)
@given(since=st.integers(2, 6), length=st.integers(5, 9))
def test_a_rewind_into_a_repeated_stretch_turns_where_it_went_back(since: int, length: int) -> None:
    """Cut at the repeat's start (18 s) back to its first copy: the audio after the cut equals
    the song going on for ``length`` s, then the two diverge; the boundary is the cut, not
    the divergence.  (A cut later inside the repeat would sound the same as this one.  The
    rewound song reaches the copy again 18 - ``since`` s after the cut, a third line of the
    song; ``since`` ≤ 6 keeps that after the split is decided.)"""
    at = 18
    y, index = repeating_song(at, since, length)
    plays = scan(y[: at * SR], y[since * SR :], index=index)
    assert [p.track_id for p in plays] == [1, 1], plays
    first, second = plays
    assert abs(first.start_s - 2.0) <= EDGE_TOL_S, plays
    assert abs(first.end_s - (2.0 + at)) <= REWIND_TOL_S, plays
    assert abs(second.start_s - (2.0 + at)) <= REWIND_TOL_S, plays
    assert abs(second.offset_s - since) <= REWIND_TOL_S, plays


@settings(max_examples=8, deadline=None)
@given(cut=st.floats(8.0, 12.0), skip=st.floats(4.0, 6.0))
def test_a_song_that_jumps_forward_is_one_play(cut: float, skip: float) -> None:
    x = catalog()[0][1]
    plays = scan(x[: int(cut * SR)], x[int((cut + skip) * SR) :])
    assert [p.track_id for p in plays] == [1], plays
    aired = (x.shape[0] / SR) - skip
    assert abs(plays[0].start_s - 2.0) <= EDGE_TOL_S, plays
    assert abs(plays[0].end_s - (2.0 + aired)) <= EDGE_TOL_S, plays


@settings(max_examples=8, deadline=None)
@given(length=st.floats(10.0, 22.0), after=st.sampled_from(["silence", "other song"]))
def test_a_song_cut_short_ends_where_its_audio_stopped(length: float, after: str) -> None:
    songs = catalog()[0]
    tail = np.zeros(10 * SR, np.float32) if after == "silence" else songs[2][: 10 * SR]
    plays = scan(songs[1][: int(length * SR)], tail)
    mine = [p for p in plays if p.track_id == 1]
    assert len(mine) == 1, plays
    assert abs(mine[0].end_s - (2.0 + length)) <= EDGE_TOL_S, plays


@functools.cache
def twice_repeating_song(m_len: int) -> tuple[Audio, Index]:
    """A 41-s song (segments of one 30-s synthetic song) in which a stretch M comes twice
    and the stretch N that follows M's first copy also comes earlier, after other music:
    x0-3, N, x3-6, M, N, x6-10, M, x16-20, x25-30 (N = x20-25, M = x10-10+``m_len``)."""
    x = song(301, 30)

    def seg(a: float, b: float) -> Audio:
        return x[int(a * SR) : int(b * SR)]

    m, n = seg(10, 10 + m_len), seg(20, 25)
    y = np.concatenate([seg(0, 3), n, seg(3, 6), m, n, seg(6, 10), m, seg(16, 20), seg(25, 30)])
    return y, Index.build([(1, pack_prints(fingerprint_samples(y)))])


@settings(max_examples=4, deadline=None)
@given(m_len=st.integers(5, 6), before=st.integers(1, 2))
def test_a_rewind_read_as_a_jump_to_a_later_copy_turns_where_it_went_back(
    m_len: int, before: int
) -> None:
    """Cut ``before`` s short of M's second copy, back to M's first copy: the audio after
    the cut reads as the song going back or as it jumping forward to M's second copy (the
    matcher follows the forward reading, a radio edit's splice).  When the copies diverge
    the song goes on in N, whose strongest line is N's earlier copy, whose run of hits began
    only there: the turn is still the cut, not the divergence ``m_len`` s later."""
    y, index = twice_repeating_song(m_len)
    at = 3 + 5 + 3 + m_len + 5 + 4 - before  # the cut, inside x6-10
    back = 3 + 5 + 3  # M's first copy
    plays = scan(y[: at * SR], y[back * SR :], index=index)
    assert [p.track_id for p in plays] == [1, 1], plays
    first, second = plays
    assert abs(first.start_s - 2.0) <= EDGE_TOL_S, plays
    assert abs(first.end_s - (2.0 + at)) <= REWIND_TOL_S, plays
    assert abs(second.start_s - (2.0 + at)) <= REWIND_TOL_S, plays
