"""Stream pipelines on real HTTP stations with the real streaming matcher."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly
from structlog.testing import capture_logs

from airtrack.demo.music import render_song
from airtrack.fingerprint.index import Index
from airtrack.fingerprint.landmarks import fingerprint_samples, pack_prints
from airtrack.fingerprint.matcher import StreamingMatcher
from airtrack.protocol import Assignment
from airtrack.worker.capture import CaptureOptions
from airtrack.worker.outbox import Outbox
from airtrack.worker.pipeline import PipelineConfig, StreamPipeline
from tests.support import until
from tests.unit.test_worker_support import RATE, StationServer, encode, tone

SPEED = 8.0  # the station plays 8× faster than real time; the pipeline's clock runs 8× too


def _config(**kw: float) -> PipelineConfig:
    opts = {"reconnect_base_s": 0.1, "reconnect_cap_s": 0.3, "fail_after": 2}
    opts.update(kw)
    return PipelineConfig(
        capture=CaptureOptions(sample_rate=8000, read_timeout_s=1.0, connect_timeout_s=1.0),
        **opts,  # type: ignore[arg-type]
    )


def _assignment(url: str, sid: int = 1) -> Assignment:
    return Assignment(stream_id=sid, name=f"s{sid}", url=url, epoch=3)


def _wait(cond: Callable[[], bool], timeout: float) -> bool:
    """Kept for tests written against it (``assert _wait(...)``): :func:`until`."""
    try:
        until(cond, timeout, "condition")
    except AssertionError:
        return False
    return True


@pytest.fixture(scope="module")
def station() -> Iterator[StationServer]:
    with StationServer(encode(tone(20.0))) as s:
        yield s


def test_plays_from_a_live_station_with_wall_clock_times(tmp_path: Path) -> None:
    song = render_song(1, 25.0, sr=RATE)
    before, after = render_song(50, 10.0, sr=RATE), render_song(51, 12.0, sr=RATE)
    index = Index.build(
        (
            tid,
            pack_prints(
                fingerprint_samples(
                    resample_poly(render_song(seed, 25.0, sr=RATE), 80, 441).astype(np.float32)
                )
            ),
        )
        for tid, seed in ((1, 1), (2, 2))
    )
    air = np.concatenate([before, song, after])
    box = Outbox(tmp_path / "o.sqlite")
    server = StationServer(encode(air), speed=SPEED, burst_s=0.5)
    t0 = time.time()

    def clock() -> float:
        return t0 + (time.time() - t0) * SPEED

    with server as s:
        p = StreamPipeline(
            _assignment(s.url("/once.mp3")),
            box,
            lambda: StreamingMatcher(index),
            _config(reconnect_base_s=30),  # play the programme once
            wall=clock,
        )
        p.start()
        until(lambda: p.plays_ended >= 1, 20, "a play ended")
        p.stop()
        assert p.join(3)
    plays = [q.play for q in box.batch(100)]
    assert [(pl.track_id, pl.stream_id, pl.epoch) for pl in plays] == [(1, 1, 3)]
    (play,) = plays
    assert play.ended_at is not None
    start = play.started_at.timestamp() - t0
    length = (play.ended_at - play.started_at).total_seconds()
    # the song airs 10 s into the programme; the upper margin is the worker's connection
    # and first reads, later on a busy machine (times follow the arrival of the audio)
    assert 8.0 <= start <= 16.0, start
    assert 21.0 <= length <= 28.0, length
    assert play.confidence >= 0.5
    box.close()


def test_a_broken_station_does_not_delay_a_good_one(station: StationServer, tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    bad = ["/stall.mp3", "/slow-headers", "/404", "/html", "/garbage", "/truncated.mp3"]
    # The bad stations hang for up to 3 s before they fail: the good one must be running
    # while the one that never answers still hangs (an order, not a speed).
    slow = CaptureOptions(sample_rate=8000, read_timeout_s=3.0, connect_timeout_s=3.0)
    pipes = [
        StreamPipeline(
            _assignment(station.url(path), sid), box, None, replace(_config(), capture=slow)
        )
        for sid, path in enumerate(bad, start=2)
    ]
    good = StreamPipeline(_assignment(station.url("/live.mp3")), box, None, _config())
    hanging = pipes[bad.index("/slow-headers")]
    try:
        for p in [*pipes, good]:
            p.start()
        t0 = time.monotonic()
        until(lambda: good.status == "running", 10, "the good station runs")
        assert hanging.status != "failed", "the good station waited for a hanging one"
        # Each bad stream must reach "failed"; a truncated one reconnects and may be
        # "running" again for a moment, so remember each one's failure when it is seen.
        errors: dict[str, str] = {}

        def all_seen_failed() -> bool:
            for p in pipes:
                if p.status == "failed":
                    errors.setdefault(p.assignment.url.rsplit("/", 1)[1], p.error or "")
            return len(errors) == len(pipes)

        until(all_seen_failed, 30, "every bad station fails")
        assert "HTTP 404" in errors["404"]
        assert "HTML" in errors["html"]
        assert "not audio" in errors["garbage"]
        assert "stall" in errors["stall.mp3"] and "stall" in errors["slow-headers"]
        assert "ended" in errors["truncated.mp3"]
        rep = good.report()
        assert rep.status == "running" and rep.error is None
        assert rep.lag_s is not None and rep.lag_s < 1.0
        assert rep.cpu_s is not None and rep.cpu_s > 0
        # kept up in real time (within one block of audio, whatever the machine's load)
        assert good.audio_s >= 1.0 + (time.monotonic() - t0) * 0.8
    finally:
        for p in [*pipes, good]:
            p.stop()
    assert all(p.join(5.0) for p in [*pipes, good])
    assert good.report().status == "stopped"
    box.close()


def test_reconnects_with_backoff_after_a_drop(station: StationServer, tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    p = StreamPipeline(_assignment(station.url("/truncated.mp3")), box, None, _config(fail_after=5))
    p.start()
    try:
        until(lambda: p.connections >= 3, 8.0, "three connections")
        assert p.status in ("retrying", "running") and "ended" in (p.error or "ended")
    finally:
        p.stop()
    assert p.join(2.0)
    box.close()


def test_endless_silence_marks_the_stream_failed(station: StationServer, tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    p = StreamPipeline(
        _assignment(station.url("/silence.mp3")), box, None, _config(silence_fail_s=1.5)
    )
    p.start()
    until(lambda: p.status == "failed", 4.0, "the stream fails")
    assert "silence" in (p.error or "") and p.connections == 1  # still listening
    p.stop()
    assert p.join(2.0)
    box.close()


def test_hostile_streams_reach_a_classified_failure_and_log_it_once(
    station: StationServer, tmp_path: Path
) -> None:
    """A trickle and text-as-MP3 stayed "starting" with no error; a redirect
    loop logged an "internal error" traceback on every retry."""
    box = Outbox(tmp_path / "o.sqlite")
    paths = {2: "/trickle.mp3", 3: "/text.mp3", 4: "/redirect-loop"}
    with capture_logs() as logs:
        pipes = {
            sid: StreamPipeline(
                _assignment(station.url(path), sid),
                box,
                None,
                replace(
                    _config(start_timeout_s=1.5),
                    capture=CaptureOptions(
                        sample_rate=8000, read_timeout_s=5.0, connect_timeout_s=5.0
                    ),
                ),
            )
            for sid, path in paths.items()
        }
        for p in pipes.values():
            p.start()
        try:
            until(lambda: all(p.connections >= 4 for p in pipes.values()), 30, "4 connections each")
            reports = {sid: p.report() for sid, p in pipes.items()}
        finally:
            for p in pipes.values():
                p.stop()
        assert all(p.join(3.0) for p in pipes.values())
    box.close()
    assert all(r.status == "failed" for r in reports.values()), reports
    assert "no audio decoded within 1.5 s" in (reports[2].error or "")
    assert "the body is text" in (reports[3].error or "")
    assert (reports[4].error or "").startswith("too many redirects")
    assert not [e for e in logs if e["event"] == "pipeline_error"]
    assert not [e for e in logs if "internal error" in str(e.get("error"))]
    for sid in paths:
        mine = [
            e
            for e in logs
            if e["event"] == "stream_status"
            and e.get("status") == "failed"
            and e.get("stream_id") == sid
        ]
        # several reconnects, one log line: the state changed once
        assert len(mine) == 1, (sid, mine)
