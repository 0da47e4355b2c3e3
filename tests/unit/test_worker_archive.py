"""The worker's archive recorder: segments tile the stream without gaps or overlaps, every
pair lands in exactly one, and the bytes cap thins (and counts) instead of growing."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from airtrack.fingerprint import params as P
from airtrack.fingerprint.archive import decode_segment
from airtrack.fingerprint.landmarks import Pairs
from airtrack.protocol import ArchiveIn
from airtrack.worker.archive import ArchiveRecorder, ArchiveStats

ORIGIN = datetime(2026, 1, 1, tzinfo=UTC)
LAG = P.PEAK_DT + P.DT_MAX


class Sink:
    def __init__(self) -> None:
        self.got: list[ArchiveIn] = []

    def put_archive(self, segment: ArchiveIn) -> None:
        self.got.append(segment)


def _steps(draw: st.DrawFn) -> list[tuple[Pairs, int]]:
    """Matcher steps: each tells pairs anchored between the last and this decision point."""
    steps, frames, known = [], 0, 0
    for _ in range(draw(st.integers(1, 30))):
        frames += draw(st.integers(1, 400))
        upto = max(known, frames - LAG)
        n = draw(st.integers(0, 80)) if upto > known else 0
        t = np.sort(
            np.asarray(
                draw(st.lists(st.integers(known, max(known, upto - 1)), min_size=n, max_size=n)),
                np.int64,
            )
        )
        f = np.full(n, 0.5, np.float32)
        steps.append((Pairs(t, f, f, np.full(n, 5, np.int64), f, np.zeros(n, np.int64)), frames))
        known = upto
    return steps


@given(st.data(), st.integers(5, 60))
@settings(max_examples=50, deadline=None)
def test_segments_tile_the_stream_and_keep_every_pair(data: st.DataObject, seg_s: int) -> None:
    steps = data.draw(st.composite(_steps)())
    sink = Sink()
    rec = ArchiveRecorder(
        1, 1, sink, lambda s: ORIGIN + timedelta(seconds=s), segment_s=seg_s, max_bytes_per_s=10**9
    )
    for pairs, frames in steps:
        rec.on_pairs(pairs, frames)
    rec.close(steps[-1][1])
    total = sum(len(p) for p, _ in steps)
    at = ORIGIN
    kept = 0
    for seg in sink.got:
        assert abs((seg.started_at - at).total_seconds()) < 1e-3  # no gap, no overlap
        decoded = decode_segment(base64.b64decode(seg.data))
        assert decoded.frames <= int(seg_s * P.FRAMES_PER_S) + 1 or seg is sink.got[-1]
        assert len(decoded.pairs) == seg.pairs
        kept += seg.pairs
        at = seg.started_at + timedelta(seconds=seg.duration_s)
    assert kept == total


def test_the_bytes_cap_thins_and_counts() -> None:
    sink, stats = Sink(), ArchiveStats()
    rec = ArchiveRecorder(
        1, 1, sink, lambda s: ORIGIN + timedelta(seconds=s), segment_s=10,
        max_bytes_per_s=100, stats=stats,
    )  # fmt: skip
    rng = np.random.default_rng(1)
    n = 3000  # far more pairs than 100 B/s holds
    frames = int(10 * P.FRAMES_PER_S)
    t = np.sort(rng.integers(0, frames, n)).astype(np.int64)
    f = rng.random(n).astype(np.float32)
    rec.on_pairs(Pairs(t, f, f, np.full(n, 9, np.int64), f, np.zeros(n, np.int64)), frames + LAG)
    (seg,) = sink.got
    assert len(base64.b64decode(seg.data)) <= 100 * seg.duration_s
    assert stats.thinned_pairs == n - seg.pairs > 0
