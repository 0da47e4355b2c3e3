"""Pure cores of the worker-trust bounds (docs/security.md): properties with hypothesis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Gauge
from pydantic import ValidationError

from airtrack.api.limits import TokenBucket
from airtrack.metrics import WorkerSeries
from airtrack.ops.ledger import FailureLedger, RecoveryOn
from airtrack.orchestrator.plays import out_of_bounds
from airtrack.orchestrator.streams import url_refusal
from airtrack.protocol import HeartbeatRequest, PlayIn, StreamCreate
from airtrack.settings import load_settings
from airtrack.startup.orchestrator import weak_token
from airtrack.worker.identity import worker_credential


@given(
    st.lists(st.floats(min_value=0, max_value=600), max_size=200),
    st.integers(min_value=1, max_value=10),
    st.integers(min_value=1, max_value=20),
)
def test_one_source_alone_never_turns_recovery_on(
    times: list[float], limit: int, window_limit: int
) -> None:
    limit = min(limit, window_limit)
    ledger = FailureLedger(window_limit=window_limit, source_limit=limit)
    decisions = []
    for t in sorted(times):
        decisions += ledger.failure("worker:bad", t, "plays.stale", source="bad")
    assert not any(isinstance(d, RecoveryOn) for d in decisions)
    assert ledger.failures_in_window(max(times, default=0.0)) <= limit


def test_many_sources_still_turn_recovery_on() -> None:
    ledger = FailureLedger(window_limit=10, source_limit=3)
    decisions = []
    for i in range(11):
        decisions += ledger.failure(f"worker:w{i}", float(i), "plays.stale", source=f"w{i}")
    assert any(isinstance(d, RecoveryOn) for d in decisions)


@given(
    st.integers(min_value=1, max_value=100),
    st.lists(st.floats(min_value=0, max_value=300), max_size=300),
)
def test_token_bucket_admits_at_most_its_rate(per_min: int, times: list[float]) -> None:
    now = [0.0]
    bucket = TokenBucket(per_min, clock=lambda: now[0])
    admitted = 0
    for t in sorted(times):
        now[0] = t
        admitted += bucket.take()
    span = max(times, default=0.0)
    assert admitted <= per_min + span * per_min / 60.0 + 1e-9


def test_token_bucket_refills() -> None:
    now = [0.0]
    bucket = TokenBucket(2, clock=lambda: now[0])
    assert bucket.take() and bucket.take() and not bucket.take()
    assert bucket.retry_after_s() == pytest.approx(30.0)
    now[0] = 30.0
    assert bucket.take()


SETTINGS = load_settings(home=Path("/nonexistent"))
NOW = datetime(2026, 6, 1, tzinfo=UTC)


@given(
    st.integers(min_value=-400 * 86400, max_value=400 * 86400),
    st.none() | st.integers(min_value=0, max_value=20 * 86400),
)
def test_play_bounds_follow_the_server_clock(offset_s: int, length_s: int | None) -> None:
    # whole seconds: the property compares exactly, without float rounding at the edges
    start = NOW + timedelta(seconds=offset_s)
    end = None if length_s is None else start + timedelta(seconds=length_s)
    play = PlayIn(
        key="k" * 10, stream_id=1, epoch=1, track_id=1, started_at=start, ended_at=end,
        confidence=0.9,
    )  # fmt: skip
    ok = -SETTINGS.play_max_age_s <= offset_s <= SETTINGS.play_max_future_s and (
        end is None
        or (
            offset_s + (length_s or 0) <= SETTINGS.play_max_future_s
            and (length_s or 0) <= SETTINGS.play_max_duration_s
        )
    )
    assert (out_of_bounds(play, SETTINGS, NOW) is None) == ok


def test_worker_series_keep_known_names_and_forget() -> None:
    gauge = Gauge("t_reported", "test", ["worker", "metric"], registry=CollectorRegistry())
    now = [0.0]
    series = WorkerSeries(gauge, {"a", "b"}, clock=lambda: now[0])
    series.record("w1", {"a": 1.0, "junk": 2.0})
    series.record("w2", {"b": 3.0})
    labels = {tuple(s.labels.values()) for m in gauge.collect() for s in m.samples}
    assert labels == {("w1", "a"), ("w2", "b")}
    series.forget("w1")
    now[0] = 100.0
    series.record("w2", {"a": 1.0})  # b no longer reported: its series goes
    labels = {tuple(s.labels.values()) for m in gauge.collect() for s in m.samples}
    assert labels == {("w2", "a")}
    now[0] = 200.0
    assert series.prune(50.0) == ["w2"]
    assert not [s for m in gauge.collect() for s in m.samples]


def test_heartbeat_metrics_are_bounded_and_finite() -> None:
    with pytest.raises(ValidationError):
        HeartbeatRequest(metrics={f"k{i}": 1.0 for i in range(65)})
    with pytest.raises(ValidationError):
        HeartbeatRequest(metrics={"cpu_s": float("nan")})


@pytest.mark.parametrize(
    ("host", "refused"),
    [
        ("169.254.169.254", True),
        ("[fe80::1]", True),
        ("::ffff:169.254.169.254", True),
        ("metadata.google.internal", True),
        ("0.0.0.0", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("radio.example", False),
        ("93.184.216.34", False),
    ],
)
def test_url_policy(host: str, refused: bool) -> None:
    assert (url_refusal(host, SETTINGS) is not None) == refused


def test_url_policy_opt_ins() -> None:
    opened = load_settings(home=Path("/nonexistent"), stream_allow_link_local=True)
    assert url_refusal("169.254.169.254", opened) is None
    closed = load_settings(home=Path("/nonexistent"), stream_allow_private=False)
    assert url_refusal("192.168.1.10", closed) is not None
    assert url_refusal("127.0.0.1", closed) is not None


@given(st.text(min_size=1, max_size=200))
def test_stream_names_are_printable(name: str) -> None:
    try:
        StreamCreate(name=name, url="http://radio.example/live")  # type: ignore[arg-type]
    except ValidationError:
        return
    assert "/" not in name and name == name.strip()
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in name)


def test_weak_tokens() -> None:
    assert weak_token("a", 32) is not None
    assert weak_token("a" * 64, 32) is not None
    assert weak_token("Jq3vX0-yQ9s_4dLk8mZpR2tB6wHnC1eF7gUaVoIiKj", 32) is None


def test_worker_credential_is_made_once_and_private(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path)
    first = worker_credential(settings, "w1")
    assert len(first) >= 32 and worker_credential(settings, "w1") == first
    path = tmp_path / "worker-w1" / "credential"
    assert path.stat().st_mode & 0o777 == 0o600
    assert worker_credential(settings, "w2") != first
