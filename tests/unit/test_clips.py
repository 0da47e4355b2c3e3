"""Proof clips on the worker: the rolling buffer, the cutter and the Opus encoder.

A synthetic song goes through the cutter as a pipeline feeds it (blocks of half a
second, a play noticed seconds after it started); the clip cut from the buffer is
encoded to Ogg Opus with PyAV, decoded again from the file and recognised by a catalog
index of the song: the clip names its song.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from airtrack.fingerprint import fingerprint_samples, pack_prints
from airtrack.fingerprint import params as P
from airtrack.fingerprint.index import Index
from airtrack.fingerprint.matcher import identify
from airtrack.protocol import ClipWanted
from airtrack.worker.clip_upload import encode_opus
from airtrack.worker.clips import AudioRing, ClipCutter, ClipJob, ClipStats
from tests.unit._synth_music import song

SR = P.SAMPLE_RATE


class _Encoder:
    def __init__(self, room: int = 100) -> None:
        self.jobs: list[ClipJob] = []
        self.room = room

    def offer(self, job: ClipJob) -> bool:
        if len(self.jobs) >= self.room:
            return False
        self.jobs.append(job)
        return True


def _cutter(encoder: _Encoder, buffer_s: float = 60.0, clip_s: float = 10.0) -> ClipCutter:
    return ClipCutter(
        7,
        3,
        encoder,
        rate=SR,
        clip_s=clip_s,
        buffer_s=buffer_s,
        request_max_s=30.0,
        stats=ClipStats(),
    )


def _feed(cutter: ClipCutter, audio: np.ndarray, origin: float | None = None) -> None:
    for i in range(0, len(audio), SR // 2):
        cutter.heard(audio[i : i + SR // 2])
        cutter.step(origin)


@given(st.lists(st.integers(1, 700), min_size=1, max_size=30), st.integers(50, 600))
def test_the_ring_returns_exactly_the_samples_it_still_holds(sizes: list[int], cap: int) -> None:
    ring = AudioRing(cap / 100, 100)  # ``cap`` samples
    written = np.concatenate([np.full(n, i % 100, np.float32) / 100 for i, n in enumerate(sizes)])
    pos = 0
    for n in sizes:
        ring.write(written[pos : pos + n])
        pos += n
    assert ring.total == len(written)
    want = np.round(np.clip(written, -1, 1) * 32767).astype(np.int16)
    start = max(0, len(written) - ring.capacity)
    got = ring.read(start, len(written))
    assert got is not None and np.array_equal(got, want[start:])
    if start > 0:
        assert ring.read(start - 1, len(written)) is None
    assert ring.read(0, len(written) + 1) is None


def test_a_play_clip_is_cut_from_its_start_encoded_and_names_its_song(tmp_path: Path) -> None:
    track = song(41, 14)
    program = np.concatenate([np.zeros(3 * SR, np.float32), track, np.zeros(2 * SR, np.float32)])
    encoder = _Encoder()
    cutter = _cutter(encoder)
    start = datetime(2026, 3, 1, 12, 0, 3, tzinfo=UTC)
    # the matcher notices the play 6 s in: the buffer still holds its start
    _feed(cutter, program[: 9 * SR])
    cutter.play_started("k" * 32, start, 3.0)
    assert encoder.jobs == []  # the clip's end is not heard yet
    _feed(cutter, program[9 * SR :])
    assert len(encoder.jobs) == 1
    job = encoder.jobs[0]
    assert job.play_key == "k" * 32 and job.started_at == start and job.stream_id == 7
    assert job.pcm.size == 10 * SR
    expected = np.round(track[: 10 * SR] * 32767).astype(np.int16)
    assert np.abs(job.pcm.astype(int) - expected).max() <= 1

    data = encode_opus(job.pcm, job.rate, 16000)
    assert data[:4] == b"OggS" and len(data) < 40_000
    path = tmp_path / "clip.ogg"
    path.write_bytes(data)
    index = Index.build(
        [
            (1, pack_prints(fingerprint_samples(track))),
            (2, pack_prints(fingerprint_samples(song(42, 14)))),
        ]
    )
    match = identify(path, index)
    assert match is not None and match.track_id == 1


def test_a_clip_whose_start_left_the_buffer_is_missed_and_a_full_encoder_drops() -> None:
    encoder = _Encoder(room=0)
    cutter = _cutter(encoder, buffer_s=20.0, clip_s=5.0)
    _feed(cutter, song(5, 30))
    cutter.play_started("a" * 32, datetime.now(UTC), 2.0)  # 28 s ago: gone
    cutter.play_started("b" * 32, datetime.now(UTC), 24.0)
    _feed(cutter, np.zeros(SR, np.float32))
    assert (cutter.stats.missed, cutter.stats.dropped, cutter.stats.cut) == (1, 1, 0)


def test_a_request_in_wall_time_is_cut_from_the_buffer_once() -> None:
    encoder = _Encoder()
    cutter = _cutter(encoder)
    origin = 1_700_000_000.0  # the connection's first sample, wall clock
    _feed(cutter, song(6, 20), origin)
    start = datetime.fromtimestamp(origin + 4, UTC)
    wanted = ClipWanted(id=9, stream_id=7, start=start, end=start + timedelta(seconds=6))
    cutter.request(wanted)
    cutter.request(wanted)  # heartbeat replies repeat it until it is done
    _feed(cutter, np.zeros(SR, np.float32), origin)
    assert [(j.request_id, j.pcm.size, j.started_at) for j in encoder.jobs] == [(9, 6 * SR, start)]
    # a stretch the buffer no longer holds is missed
    gone = ClipWanted(id=10, stream_id=7, start=start - timedelta(seconds=600), end=start)
    cutter.request(gone)
    cutter.step(origin)
    assert cutter.stats.missed == 1 and len(encoder.jobs) == 1
