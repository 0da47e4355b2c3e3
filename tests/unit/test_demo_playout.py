"""Station programme: deterministic audio, a sound schedule, and truth that matches the audio."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airtrack.demo.catalog import demo_catalog
from airtrack.demo.music import render_song
from airtrack.demo.playout import Airing, Programme, ProgrammeConfig

SR = 22050
CATALOG = demo_catalog(5, min_s=20.0, max_s=30.0)
CONFIG = ProgrammeConfig(
    talk_s=(4.0, 8.0), jingle_s=(2.0, 4.0), other_song_s=(15.0, 25.0), mid_start_prob=0.4
)


def programme(seed: int = 7) -> Programme:
    return Programme(seed, CATALOG, CONFIG)


@pytest.fixture(scope="module")
def aired() -> tuple[np.ndarray, list[Airing]]:
    p = programme()
    audio = p.read(SR * 420)
    return audio, p.airings(until_s=420.0)


def test_same_seed_same_audio_whatever_the_read_sizes() -> None:
    a = programme().read(SR * 40)
    p = programme()
    sizes = [1, 999, 22050, 5, 4410 * 3]
    parts = [p.read(k) for k in sizes]
    parts.append(p.read(SR * 40 - sum(sizes)))
    assert np.array_equal(a, np.concatenate(parts))
    assert not np.array_equal(a, Programme(8, CATALOG, CONFIG).read(SR * 40))


def test_audio_is_continuous_and_in_range(aired: tuple[np.ndarray, list[Airing]]) -> None:
    audio, _ = aired
    assert audio.dtype == np.float32
    assert np.max(np.abs(audio)) <= 1.0
    frame = SR // 2
    rms = np.sqrt(np.mean(audio[: len(audio) // frame * frame].reshape(-1, frame) ** 2, axis=1))
    assert rms.min() > 0.003  # never dead air (noise floor and overlaps keep it going)


def test_schedule_is_a_radio_programme(aired: tuple[np.ndarray, list[Airing]]) -> None:
    _, items = aired
    kinds = [a.kind for a in items]
    assert {"song", "other", "talk", "jingle"} <= set(kinds)
    starts = [a.start_s for a in items]
    assert starts == sorted(starts) and starts[0] == 0.0
    names = {s.name for s in CATALOG}
    for prev, cur in itertools.pairwise(items):
        assert cur.start_s <= prev.end_s + 1e-6, "gap between items"
        overlap = prev.end_s - cur.start_s
        assert 0.0 <= overlap <= 6.5
        if prev.kind in ("song", "other") and cur.kind in ("song", "other"):
            assert 1.0 <= overlap <= 3.01  # 2–3 s crossfades (shorter only for very short items)
    for a in items:
        assert (a.song_id in names) if a.kind == "song" else a.song_id is None
        assert a.end_s > a.start_s
    assert any(a.offset_s > 0 for a in items if a.kind == "song"), "no song joined mid-way"
    # Talk over an intro: a song that starts before the talk ends.
    assert any(
        p.kind == "talk" and c.kind in ("song", "other") and p.end_s - c.start_s >= 2.9
        for p, c in itertools.pairwise(items)
    )


def test_truth_matches_the_audio(aired: tuple[np.ndarray, list[Airing]]) -> None:
    """In the clear middle of each catalog airing, the audio is that song at that offset."""
    audio, items = aired
    checked = 0
    for i, a in enumerate(items):
        if a.kind != "song" or a.end_s - a.start_s < 12:
            continue
        spec = next(s for s in CATALOG if s.name == a.song_id)
        ref = render_song(spec.seed, spec.duration_s, SR)
        t = a.start_s + (a.end_s - a.start_s) / 2  # far from both crossfades
        if i + 1 < len(items) and t + 2 > items[i + 1].start_s:
            continue
        seg = audio[int(t * SR) : int((t + 2) * SR)].astype(np.float64)
        k = int((t - a.start_s + a.offset_s) * SR)
        r = np.corrcoef(seg, ref[k : k + len(seg)])[0, 1]
        assert r > 0.9, (a, r)
        # and not the same song one second off
        r_off = np.corrcoef(seg, ref[k + SR : k + SR + len(seg)])[0, 1]
        assert r_off < 0.5
        checked += 1
    assert checked >= 3


def test_now_playing_follows_the_truth(aired: tuple[np.ndarray, list[Airing]]) -> None:
    _, items = aired
    p = programme()
    p.read(SR * 100)
    for a in p.airings(until_s=90):
        mid = (a.start_s + a.end_s) / 2
        now = p.now_playing(mid)
        assert now is not None and now.start_s <= mid < now.end_s
    assert [x.as_tuple() for x in p.airings(until_s=90)] == [
        x.as_tuple() for x in items if x.start_s < 90
    ]


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_any_seed_gives_a_gapless_schedule(seed: int) -> None:
    p = Programme(seed, CATALOG, ProgrammeConfig(other_song_s=(10.0, 15.0), max_song_s=12.0))
    p.read(SR * 60)
    items = p.airings(until_s=60.0)
    assert items[0].start_s == 0.0
    for prev, cur in itertools.pairwise(items):
        assert prev.start_s < cur.start_s <= prev.end_s
    assert items[-1].end_s >= 60.0


def test_airing_json_has_wall_clock_times() -> None:
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    a = Airing("song", "demo-001", 10.0, 70.5, 3.0, "T", "A")
    j = a.to_json(lambda s: t0 + timedelta(seconds=s / 2))
    assert j["started_at"] == "2026-01-01T00:00:05+00:00"
    assert j["ended_at"] == "2026-01-01T00:00:35.250000+00:00"
    assert j["song_id"] == "demo-001" and j["offset_s"] == 3.0
    assert a.as_tuple() == ("song", "demo-001", 10.0, 70.5)
