"""The orchestrator client against a real HTTP server: retries, breaker, typed errors."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from airtrack.errors import (
    OrchestratorRejected,
    OrchestratorUnavailable,
    SnapshotCorrupt,
    StaleEpoch,
    WorkerNotRegistered,
)
from airtrack.protocol import HeartbeatRequest, PlayIn, RegisterRequest
from airtrack.resilience import BreakerState
from airtrack.worker.client import OrchestratorClient
from tests.support.ports import refused_port
from tests.unit.test_worker_support import FakeOrchestrator


def _client(url: str, **kw: float) -> OrchestratorClient:
    opts: dict[str, float] = {"timeout_s": 1.0, "retry_base_s": 0.01, "retry_cap_s": 0.05}
    opts.update(kw)
    return OrchestratorClient(url, "tok", worker_id="w1", **opts)  # type: ignore[arg-type]


def _play(key: str, stream: int = 1) -> PlayIn:
    return PlayIn(
        key=key, stream_id=stream, epoch=1, track_id=2, started_at=datetime.now(UTC), confidence=0.9
    )


async def test_retries_through_transient_503s() -> None:
    with FakeOrchestrator() as orch:
        orch.fail_next = 2
        c = _client(orch.url)
        resp = await c.register(RegisterRequest(worker_id="w1", capacity=3))
        assert resp.worker_id == "w1" and len(orch.calls) == 3
        await c.aclose()


async def test_gives_up_after_retries_then_breaker_fails_fast_and_probes_back() -> None:
    with FakeOrchestrator() as orch:
        orch.fail_next = 100
        c = _client(orch.url, breaker_failures=3, breaker_open_s=0.3)
        with pytest.raises(OrchestratorUnavailable, match="503"):
            await c.heartbeat("w1", HeartbeatRequest())
        assert c.breaker.state is BreakerState.OPEN and len(orch.calls) == 3
        t0 = time.monotonic()
        with pytest.raises(OrchestratorUnavailable, match="circuit open"):
            await c.send_plays([_play("key-0001")])
        assert time.monotonic() - t0 < 0.05 and len(orch.calls) == 3, "no request while open"
        orch.fail_next = 0
        await asyncio.sleep(0.35)
        await c.send_plays([_play("key-0001")])  # the probe
        assert c.breaker.state is BreakerState.CLOSED
        await c.aclose()


async def test_heartbeat_probes_through_an_open_breaker_once_per_call() -> None:
    """The worker's lease runs while its breaker is open: every heartbeat is one probe, so
    the worker is heard as soon as the orchestrator is back, not after the open time."""
    with FakeOrchestrator() as orch:
        orch.fail_next = 100
        c = _client(orch.url, breaker_failures=3, breaker_open_s=3600)
        with pytest.raises(OrchestratorUnavailable, match="503"):
            await c.heartbeat("w1", HeartbeatRequest())
        assert c.breaker.state is BreakerState.OPEN and len(orch.calls) == 3
        with pytest.raises(OrchestratorUnavailable):
            await c.heartbeat("w1", HeartbeatRequest())
        assert len(orch.calls) == 4, "one probe, not the whole retry series"
        assert c.breaker.state is BreakerState.OPEN
        with pytest.raises(OrchestratorUnavailable, match="circuit open"):
            await c.send_plays([_play("key-0001")])  # other calls still fail fast
        assert len(orch.calls) == 4
        orch.fail_next = 0
        await c.heartbeat("w1", HeartbeatRequest())  # back: heard at once
        assert c.breaker.state is BreakerState.CLOSED
        await c.aclose()


async def test_unreachable_orchestrator_is_unavailable() -> None:
    with refused_port() as port:
        c = _client(f"http://127.0.0.1:{port}", breaker_failures=10)
        with pytest.raises(OrchestratorUnavailable, match="ConnectError"):
            await c.register(RegisterRequest(worker_id="w1", capacity=1))
        await c.aclose()


async def test_timeout_is_bounded() -> None:
    with FakeOrchestrator() as orch:
        orch.delay_s = 1.0
        c = _client(orch.url, timeout_s=0.2)
        t0 = time.monotonic()
        with pytest.raises(OrchestratorUnavailable, match="ReadTimeout"):
            await c.heartbeat("w1", HeartbeatRequest())
        assert time.monotonic() - t0 < 1.5  # 3 attempts × 0.2 s + backoff
        await c.aclose()


async def test_typed_errors() -> None:
    with FakeOrchestrator() as orch:
        c = _client(orch.url)
        orch.forget.add("w1")
        with pytest.raises(WorkerNotRegistered):
            await c.heartbeat("w1", HeartbeatRequest())
        orch.stale_streams.add(5)
        with pytest.raises(StaleEpoch):
            await c.send_plays([_play("k" * 10, stream=5)])
        mixed = await c.send_plays([_play("a" * 10, stream=5), _play("b" * 10, stream=6)])
        assert [r.status for r in mixed.results] == ["stale", "stored"]
        bad = OrchestratorClient(orch.url, "wrong", timeout_s=1.0)
        with pytest.raises(OrchestratorRejected) as info:
            await bad.register(RegisterRequest(worker_id="w1", capacity=1))
        assert info.value.status == 401 and bad.breaker.state is BreakerState.CLOSED
        await bad.aclose()
        await c.aclose()


async def test_snapshot_etag() -> None:
    with FakeOrchestrator() as orch:
        c = _client(orch.url)
        assert await c.download_snapshot(None) is None  # no catalog yet
        orch.snapshot = ("v7", b"\x00index")
        snap = await c.download_snapshot(None)
        assert snap is not None and snap.version == "v7" and snap.data == b"\x00index"
        assert await c.download_snapshot(snap.etag) is None
        await c.aclose()


async def test_a_damaged_snapshot_download_is_retried_never_returned() -> None:
    with FakeOrchestrator() as orch:
        c = _client(orch.url, retries=3)
        orch.snapshot = ("v7", b"\x00index" * 1000)
        orch.corrupt_snapshots = 2  # one cut short, one with a flipped byte
        snap = await c.download_snapshot(None)
        assert snap is not None and snap.data == b"\x00index" * 1000
        assert orch.snapshot_downloads == 3
        orch.corrupt_snapshots = 3  # damaged every time: refused, nothing handed on
        with pytest.raises(SnapshotCorrupt):
            await c.download_snapshot(None)
        assert orch.snapshot_downloads == 6
        await c.aclose()
