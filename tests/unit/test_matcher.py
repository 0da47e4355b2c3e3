"""The streaming matcher over a generated station: crossfades, noise, talk, non-catalog music."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from airtrack.fingerprint import (
    SAMPLE_RATE,
    Index,
    PlayEnded,
    PlayStarted,
    StreamingMatcher,
    fingerprint_samples,
    pack_prints,
    scan_samples,
)
from tests.unit._synth_music import noise, song

SR = SAMPLE_RATE


def _station() -> tuple[np.ndarray, list[tuple[int | None, float]], Index]:
    catalog = {1: song(101, 45), 2: song(102, 45), 3: song(103, 45)}
    index = Index.build((tid, pack_prints(fingerprint_samples(x))) for tid, x in catalog.items())
    # (track or None for non-catalog, offset into the song, seconds played)
    program = [(1, 0.0, 40.0), (None, 0.0, 30.0), (2, 15.0, 28.0), (3, 0.0, 40.0), (1, 0.0, 30.0)]
    out = np.zeros(int(200 * SR), np.float32)
    truth: list[tuple[int | None, float]] = []
    t = 3.0
    rng = np.random.default_rng(4)
    for tid, offset, played in program:
        x = catalog[tid] if tid else song(999, 45)
        piece = x[int(offset * SR) : int((offset + played) * SR)].copy()
        ramp = np.linspace(0, 1, int(2.5 * SR), dtype=np.float32)
        piece[: ramp.shape[0]] *= ramp
        piece[-ramp.shape[0] :] *= ramp[::-1]
        i0 = int(t * SR)
        out[i0 : i0 + piece.shape[0]] += piece
        truth.append((tid, t))
        t += played - 2.5  # 2.5 s crossfade
    speech_like = 0.1 * rng.standard_normal(int(4 * SR)) * np.sin(np.linspace(0, 40, int(4 * SR)))
    out[int(t * SR) : int((t + 4) * SR)] += speech_like.astype(np.float32)
    return noise(out[: int((t + 6) * SR)], 15, seed=5), truth, index


@pytest.fixture(scope="module")
def station() -> tuple[np.ndarray, list[tuple[int | None, float]], Index]:
    return _station()


def test_station_scan_finds_each_airing_once(station) -> None:  # type: ignore[no-untyped-def]
    audio, truth, index = station
    plays = scan_samples(audio, index)
    expected = [(tid, start) for tid, start in truth if tid is not None]
    assert [p.track_id for p in plays] == [tid for tid, _ in expected]
    for play, (_, start) in zip(plays, expected, strict=True):
        assert abs(play.start_s - start) <= 2.0
        assert 0.5 <= play.confidence <= 1.0
        assert play.end_s > play.start_s


def test_events_are_paired_and_block_size_does_not_matter(station) -> None:  # type: ignore[no-untyped-def]
    """Live streams (small blocks) and file scans (16-s blocks) give the very same events."""
    audio, _, index = station
    rng = np.random.default_rng(7)
    irregular = np.cumsum(rng.integers(1, int(9 * SR), size=audio.shape[0] // SR))
    cuts = {
        "0.5 s": list(range(0, audio.shape[0], int(0.5 * SR))),
        "7 s": list(range(0, audio.shape[0], 7 * SR)),
        "16 s (files)": list(range(0, audio.shape[0], 16 * SR)),
        "irregular": [0, *[int(c) for c in irregular if c < audio.shape[0]]],
    }
    results = {}
    for name, starts_at in cuts.items():
        m = StreamingMatcher(index)
        events = []
        bounds = [*starts_at, audio.shape[0]]
        for a, b in itertools.pairwise(bounds):
            events.extend(m.feed(audio[a:b]))
        events.extend(m.close())
        starts = [e for e in events if isinstance(e, PlayStarted)]
        ends = [e for e in events if isinstance(e, PlayEnded)]
        assert len(starts) == len(ends)
        assert {(e.track_id, e.start_s) for e in starts} == {(e.track_id, e.start_s) for e in ends}
        results[name] = events
    first = next(iter(results.values()))
    for name, events in results.items():
        assert events == first, name
