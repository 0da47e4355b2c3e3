"""Capture against real HTTP stations: good streams decode, bad ones fail fast and clearly."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from airtrack.worker.capture import CaptureOptions, StreamFailure, StreamInfo, capture
from tests.unit.test_worker_support import StationServer, encode, tone

OPTS = CaptureOptions(sample_rate=8000, read_timeout_s=1.0, connect_timeout_s=1.0)


@pytest.fixture(scope="module")
def station() -> Iterator[StationServer]:
    with StationServer(encode(tone(20.0))) as s:
        yield s


def _take(url: str, seconds: float, info: StreamInfo | None = None) -> tuple[float, str | None]:
    """(audio seconds received, failure kind or None) within ``seconds`` of wall time."""
    stop = threading.Event()
    got = 0
    t0 = time.monotonic()
    try:
        for block in capture(url, OPTS, stop, info):
            assert block.dtype == np.float32 and block.ndim == 1
            got += block.size
            if time.monotonic() - t0 > seconds:
                stop.set()
    except StreamFailure as exc:
        return got / OPTS.sample_rate, exc.kind
    return got / OPTS.sample_rate, None


@pytest.mark.parametrize("path", ["/live.mp3", "/redirect"])
def test_live_mp3_decodes_in_real_time(station: StationServer, path: str) -> None:
    info = StreamInfo()
    audio, kind = _take(station.url(path), 1.5, info)
    assert kind is None
    # the 2 s connect burst plus real time; far more would mean we are not reading live
    assert 2.0 <= audio <= 5.5
    assert info.codec is not None and "mp3" in info.codec
    assert info.final_url.endswith("/live.mp3") and info.icy_name == "Test FM"


@pytest.mark.parametrize(
    ("path", "kind", "text"),
    [
        ("/404", "not_found", "HTTP 404"),
        ("/html", "html", "HTML page"),
        ("/garbage", "not_audio", "not audio"),
    ],
)
def test_unplayable_streams_fail_at_once_with_a_clear_error(
    station: StationServer, path: str, kind: str, text: str
) -> None:
    stop = threading.Event()
    t0 = time.monotonic()
    with pytest.raises(StreamFailure, match=text) as info:
        for _ in capture(station.url(path), OPTS, stop):
            pass
    assert info.value.kind == kind and info.value.permanent
    assert time.monotonic() - t0 < 1.0


def test_truncated_stream_ends_after_its_audio(station: StationServer) -> None:
    audio, kind = _take(station.url("/truncated.mp3"), 10)
    assert kind == "ended" and 2.5 <= audio <= 3.2


@pytest.mark.parametrize("path", ["/stall.mp3", "/slow-headers"])
def test_stalled_socket_is_an_error_not_a_hang(station: StationServer, path: str) -> None:
    t0 = time.monotonic()
    _, kind = _take(station.url(path), 10)
    elapsed = time.monotonic() - t0
    assert kind == "stall"
    assert elapsed < OPTS.read_timeout_s + 2.5  # the 2 s of audio sent at once, then 1 s quiet


def test_hls_playlist(station: StationServer) -> None:
    info = StreamInfo()
    audio, kind = _take(station.url("/hls/index.m3u8"), 10, info)
    assert info.hls and kind == "ended"  # a VOD playlist: all segments, then the end
    assert 19.0 <= audio <= 20.5


def _failure(url: str, audio_timeout_s: float, within_s: float) -> tuple[StreamFailure, float]:
    """The failure capture raises, and after how long; fails the test if none within_s."""
    stop = threading.Event()
    watchdog = threading.Timer(within_s, stop.set)  # never hang the suite on a regression
    watchdog.start()
    t0 = time.monotonic()
    try:
        for _ in capture(url, OPTS, stop, audio_timeout_s=audio_timeout_s):
            pass
    except StreamFailure as exc:
        return exc, time.monotonic() - t0
    finally:
        watchdog.cancel()
    raise AssertionError(f"{url}: no classified failure within {within_s} s")


def test_trickle_fails_as_starved_within_the_bound(station: StationServer) -> None:
    """One byte a second kept the socket busy and the stream "starting"."""
    exc, elapsed = _failure(station.url("/trickle.mp3"), 2.0, within_s=20)
    assert exc.kind == "starved" and not exc.permanent
    assert "no audio decoded within 2 s" in str(exc)
    assert elapsed < 20


def test_text_served_as_audio_is_not_audio(station: StationServer) -> None:
    """Endless text as audio/mpeg kept FFmpeg probing for ever."""
    exc, _ = _failure(station.url("/text.mp3"), 30.0, within_s=20)
    assert exc.kind == "not_audio" and exc.permanent
    assert "the body is text" in str(exc) and "audio/mpeg" in str(exc)


def test_redirect_loop_is_a_classified_permanent_failure(station: StationServer) -> None:
    """A redirect loop was an "internal error: TooManyRedirects"."""
    exc, _ = _failure(station.url("/redirect-loop"), 30.0, within_s=20)
    assert exc.kind == "redirects" and exc.permanent
    assert str(exc).startswith("too many redirects")


def test_live_stream_is_not_starved_by_the_audio_bound(station: StationServer) -> None:
    stop = threading.Event()
    t0 = time.monotonic()
    got = 0
    for block in capture(station.url("/live.mp3"), OPTS, stop, audio_timeout_s=1.5):
        got += block.size
        if time.monotonic() - t0 > 4.0:  # well past the bound: it restarts with every block
            stop.set()
    assert got / OPTS.sample_rate >= 4.0
