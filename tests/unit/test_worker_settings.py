"""Worker and recognition policy comes from settings: no second set of numbers."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import httpx
import pytest

from airtrack.errors import ConfigError, OrchestratorUnavailable
from airtrack.fingerprint import (
    DEFAULT_THRESHOLD,
    SAMPLE_RATE,
    Index,
    StreamingMatcher,
    fingerprint_samples,
    pack_prints,
)
from airtrack.protocol import HeartbeatRequest
from airtrack.settings import load_settings
from airtrack.worker.capture import CaptureOptions
from airtrack.worker.catalog_cache import fingerprint_matcher_builder
from airtrack.worker.client import OrchestratorClient, http_timeouts
from airtrack.worker.pipeline import PipelineConfig
from tests.unit._synth_music import song
from tests.unit.test_worker_support import FakeOrchestrator


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("AIRTRACK_"):
            monkeypatch.delenv(name)


def test_capture_resamples_to_the_engine_rate(clean_env: None) -> None:
    """One resampling, to what the matcher eats (it used to default to 11025 Hz)."""
    assert CaptureOptions().sample_rate == SAMPLE_RATE
    assert CaptureOptions.from_settings(load_settings()).sample_rate == SAMPLE_RATE


def test_config_defaults_are_the_settings_defaults(clean_env: None) -> None:
    s = load_settings()
    assert PipelineConfig() == PipelineConfig.from_settings(s)
    assert CaptureOptions() == CaptureOptions.from_settings(s)


def test_pipeline_config_follows_settings(clean_env: None) -> None:
    s = load_settings(
        silence_fail_s=40,
        silence_rms=0.01,
        stream_reconnect_base_s=2,
        stream_reconnect_cap_s=9,
        stream_fail_after=7,
        stream_healthy_after_s=3,
        capture_block_s=0.5,
        stream_read_timeout_s=6,
        http_timeout_s=4,
    )
    cfg = PipelineConfig.from_settings(s)
    assert (cfg.silence_fail_s, cfg.silence_rms) == (40, 0.01)
    assert (cfg.reconnect_base_s, cfg.reconnect_cap_s) == (2, 9)
    assert (cfg.fail_after, cfg.healthy_after_s) == (7, 3)
    cap = cfg.capture
    assert (cap.block_s, cap.read_timeout_s, cap.sample_rate) == (0.5, 6, SAMPLE_RATE)
    assert cap.connect_timeout_s == 4, "a connect never outlasts the HTTP timeout"


def test_http_timeouts_per_phase_fall_back_to_http_timeout(clean_env: None) -> None:
    t = http_timeouts(load_settings(http_timeout_s=7, worker_connect_timeout_s=2))
    assert (t.connect, t.read, t.write, t.pool) == (2, 7, 7, 7)
    t = http_timeouts(load_settings(worker_read_timeout_s=3, worker_pool_timeout_s=4))
    assert (t.connect, t.read, t.write, t.pool) == (30, 3, 30, 4)


async def test_client_from_settings_uses_the_read_timeout_and_attempts(clean_env: None) -> None:
    """A reply slower than WORKER_READ_TIMEOUT_S fails as a read timeout, once per attempt."""
    with FakeOrchestrator() as orch:
        orch.delay_s = 1.0
        s = load_settings(
            orchestrator_url=orch.url,
            worker_token="tok",
            worker_read_timeout_s=0.2,  # HTTP_TIMEOUT_S stays 30: only this setting can fire
            worker_call_attempts=2,
            worker_retry_base_s=0.01,
            worker_retry_cap_s=0.02,
        )
        client = OrchestratorClient.from_settings(s)
        try:
            with pytest.raises(OrchestratorUnavailable, match="after 2 attempts: ReadTimeout"):
                await client.heartbeat("w1", HeartbeatRequest())
            assert len(orch.calls) == 2
        finally:
            await client.aclose()


def test_client_accepts_an_httpx_timeout() -> None:
    client = OrchestratorClient("http://127.0.0.1:1", None, timeout_s=httpx.Timeout(1, read=9))
    assert client._http.timeout.read == 9 and client._http.timeout.connect == 1


def test_worker_matchers_use_the_recognition_settings(clean_env: None, tmp_path: Path) -> None:
    index = Index.build([(1, pack_prints(fingerprint_samples(song(5, 12))))])
    index.save(tmp_path / "c.idx")
    build = fingerprint_matcher_builder(load_settings(match_threshold=0.8, play_end_gap_s=7))
    matcher = build(tmp_path / "c.idx")()
    assert isinstance(matcher, StreamingMatcher)
    assert matcher.threshold == 0.8
    assert matcher.min_evidence == StreamingMatcher(index, threshold=0.8).min_evidence
    assert matcher._airings._end_gap == StreamingMatcher(index, end_gap_s=7)._airings._end_gap


def test_recognition_defaults_agree_with_the_engine(clean_env: None) -> None:
    """``airtrack scan`` (engine defaults) and a worker (settings) recognise alike."""
    s = load_settings()
    params = inspect.signature(StreamingMatcher).parameters
    assert s.match_threshold == DEFAULT_THRESHOLD == params["threshold"].default
    assert s.play_end_gap_s == params["end_gap_s"].default


@pytest.mark.parametrize(
    "pair",
    [
        ("worker_retry_base_s", "worker_retry_cap_s"),
        ("heartbeat_retry_base_s", "heartbeat_retry_cap_s"),
        ("stream_reconnect_base_s", "stream_reconnect_cap_s"),
    ],
)
def test_a_backoff_base_above_its_cap_is_refused_in_one_line(
    clean_env: None, pair: tuple[str, str]
) -> None:
    base, cap = pair
    with pytest.raises(ConfigError) as info:
        load_settings(**{base: 10.0, cap: 5.0})
    assert base in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [("match_threshold", 1.0), ("silence_rms", -1), ("worker_read_timeout_s", 0)],
)
def test_out_of_range_policy_is_refused(clean_env: None, name: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"AIRTRACK_{name.upper()}"):
        load_settings(**{name: value})
