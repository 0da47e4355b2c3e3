"""The supervisor against a real HTTP orchestrator stand-in: reconcile, recovery, outbox."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from airtrack.fingerprint.index import Index
from airtrack.fingerprint.landmarks import fingerprint_samples, pack_prints
from airtrack.protocol import ArchiveIn, PlayIn, TitleIn
from airtrack.settings import Settings, load_settings
from airtrack.worker.capture import CaptureOptions
from airtrack.worker.catalog_cache import CatalogCache
from airtrack.worker.client import OrchestratorClient, Snapshot
from airtrack.worker.outbox import Outbox, play_key, title_key
from airtrack.worker.pipeline import PipelineConfig
from airtrack.worker.supervisor import Supervisor
from tests.support.processes import spawn
from tests.support.wait import until, until_async
from tests.unit.test_worker_support import FakeOrchestrator, StationServer, encode, tone

WID = "w-test"


@pytest.fixture(scope="module")
def station() -> Iterator[StationServer]:
    with StationServer(encode(tone(20.0))) as s:
        yield s


@pytest.fixture
def orch() -> Iterator[FakeOrchestrator]:
    with FakeOrchestrator() as o:
        yield o


def _settings(home: Path, url: str) -> Settings:
    return load_settings(home=home, orchestrator_url=url, worker_token="tok", worker_id=WID)


def _assign(station: StationServer, sid: int, epoch: int) -> dict[str, object]:
    return {"stream_id": sid, "name": f"s{sid}", "url": station.url("/live.mp3"), "epoch": epoch}


class Running:
    def __init__(self, sup: Supervisor, task: asyncio.Task[int], stop: asyncio.Event) -> None:
        self.sup, self.task, self.stop = sup, task, stop


@pytest.fixture
async def running(tmp_path: Path, orch: FakeOrchestrator) -> AsyncIterator[Running]:
    settings = _settings(tmp_path, orch.url)
    client = OrchestratorClient(
        orch.url,
        "tok",
        timeout_s=1.0,
        retry_base_s=0.01,
        retry_cap_s=0.05,
        breaker_failures=3,
        breaker_open_s=0.3,
    )
    sup = Supervisor(
        settings,
        worker_id=WID,
        client=client,
        outbox=Outbox(tmp_path / "outbox.sqlite"),
        home=tmp_path,
        pipeline_config=PipelineConfig(capture=CaptureOptions(sample_rate=8000, read_timeout_s=1)),
        shutdown_timeout_s=3.0,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(sup.run(stop))
    yield Running(sup, task, stop)
    stop.set()
    await asyncio.wait_for(task, 10)


async def _until(cond: Callable[[], bool], within: float = 5.0) -> None:
    """Kept for tests written against it: :func:`tests.support.wait.until_async`."""
    await until_async(cond, within, "condition")


def _last_report(orch: FakeOrchestrator) -> dict[int, tuple[int, str]]:
    if not orch.heartbeats:
        return {}
    return {s["stream_id"]: (s["epoch"], s["status"]) for s in orch.heartbeats[-1]["streams"]}


def _play(sid: int, i: int, epoch: int = 1) -> PlayIn:
    start = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=i)
    return PlayIn(
        key=play_key(sid, epoch, 9, start),
        stream_id=sid,
        epoch=epoch,
        track_id=9,
        started_at=start,
        confidence=0.8,
    )


async def test_reconciles_assignments_and_shuts_down_gracefully(
    orch: FakeOrchestrator, station: StationServer, running: Running
) -> None:
    orch.assignments[WID] = [_assign(station, 1, 1)]
    await until_async(
        lambda: _last_report(orch).get(1) == (1, "running"),
        15,
        "_last_report(orch).get(1) == (1, 'running')",
    )
    orch.assignments[WID] = [_assign(station, 1, 2), _assign(station, 2, 1)]
    await until_async(
        lambda: _last_report(orch) == {1: (2, "running"), 2: (1, "running")},
        15,
        "_last_report(orch) == {1: (2, 'running'), 2: (1, 'running')}",
    )
    orch.assignments[WID] = [_assign(station, 2, 1)]
    await until_async(lambda: set(_last_report(orch)) == {2}, 15, "set(_last_report(orch)) == {2}")
    # the reply to that report is read after the orchestrator saw it: it agrees
    await until_async(lambda: running.sup.disagreements == 0, 15, "the reply agrees")
    assert orch.registers == [WID]
    t0 = time.monotonic()
    running.stop.set()
    assert await asyncio.wait_for(running.task, 5) == 0
    assert time.monotonic() - t0 < 3.0 and orch.deregistered == [WID]
    assert running.sup.pipelines == {}


async def test_persistent_disagreement_forces_reregistration(
    orch: FakeOrchestrator, station: StationServer, running: Running
) -> None:
    orch.assignments[WID] = [_assign(station, 1, 1)]
    await until_async(lambda: bool(orch.heartbeats), 15, "bool(orch.heartbeats)")
    orch.bump_epochs = True  # every reply asks for an epoch the worker never reported
    await until_async(lambda: len(orch.registers) >= 2, 10, "len(orch.registers) >= 2")
    calls = [c.split("/")[-1] for c in orch.calls]
    second = len(calls) - 1 - calls[::-1].index("register")
    first = calls.index("register")
    beats = [c for c in calls[first + 1 : second] if c == "heartbeat"]
    # 1 agreeing heartbeat, then 3 reconcile attempts, the 4th disagreeing reply re-registers
    assert len(beats) - 1 == running.sup.settings.reconcile_attempts + 1


async def test_unknown_worker_reregisters(orch: FakeOrchestrator, running: Running) -> None:
    await until_async(lambda: len(orch.heartbeats) >= 1, 15, "len(orch.heartbeats) >= 1")
    orch.forget.add(WID)
    await until_async(lambda: len(orch.registers) == 2, 15, "len(orch.registers) == 2")
    await until_async(lambda: len(orch.heartbeats) >= 3, 15, "len(orch.heartbeats) >= 3")


async def test_local_mode_queues_plays_and_delivers_them_once_back(
    orch: FakeOrchestrator, station: StationServer, running: Running
) -> None:
    orch.assignments[WID] = [_assign(station, 1, 1)]
    await until_async(
        lambda: _last_report(orch).get(1) == (1, "running"),
        15,
        "_last_report(orch).get(1) == (1, 'running')",
    )
    orch.stop()  # the orchestrator goes away
    await until_async(lambda: running.sup.local_mode, 15, "running.sup.local_mode")
    for i in range(250):
        running.sup.put(_play(1, i))
    running.sup.put(_play(1, 0).model_copy(update={"ended_at": datetime(2025, 1, 2, tzinfo=UTC)}))
    await asyncio.sleep(0.5)
    assert len(running.sup.outbox) == 250
    assert running.sup.pipelines[1].status == "running", "streams keep running in local mode"
    orch.start()  # back on the same port
    await until_async(lambda: len(running.sup.outbox) == 0, 10, "len(running.sup.outbox) == 0")
    assert len(orch.plays) == 250
    assert orch.plays[_play(1, 0).key]["ended_at"] is not None
    await until_async(lambda: not running.sup.local_mode, 15, "not running.sup.local_mode")


async def test_a_stop_with_plays_still_queued_does_not_deregister(
    orch: FakeOrchestrator, station: StationServer, running: Running
) -> None:
    """Deregistering moves the streams at once (new epochs): the plays still queued would
    then be refused as stale. The worker keeps its streams instead (back with the same id
    it delivers them; gone, its lease expires)."""
    orch.assignments[WID] = [_assign(station, 1, 1)]
    await until_async(lambda: _last_report(orch).get(1) == (1, "running"), 15, "the stream runs")
    # a backlog the stop's flush cannot send in time: the orchestrator answers slowly
    orch.plays_delay_s = 0.8
    running.sup.outbox.put_many([_play(1, i) for i in range(600)])
    running.stop.set()
    assert await asyncio.wait_for(running.task, 15) == 0
    left = Outbox(running.sup.outbox.path)  # the worker closed its own
    try:
        assert len(left) > 0, "the flush sent everything: nothing tested"
    finally:
        left.close()
    assert orch.deregistered == []


async def test_a_disk_that_refuses_the_outbox_loses_no_play_and_stops_nothing(
    orch: FakeOrchestrator, station: StationServer, running: Running
) -> None:
    """The outbox's disk turns read-only (as a full one refuses) with plays queued: they
    and a title heard meanwhile still reach the orchestrator, acknowledged plays are not
    sent again, the worker reports the deletes it could not make, and it makes them
    once the disk takes writes again."""
    orch.assignments[WID] = [_assign(station, 1, 1)]
    await until_async(lambda: _last_report(orch).get(1) == (1, "running"), 15, "the stream runs")
    orch.stop()  # plays queue on disk meanwhile
    await until_async(lambda: running.sup.local_mode, 15, "local mode")
    for i in range(30):
        running.sup.put(_play(1, i))
    box = running.sup.outbox
    box._db.execute("PRAGMA query_only = ON")  # SQLite's own refusal, on the real file
    at = datetime(2025, 1, 1, tzinfo=UTC)
    running.sup.put_title(
        TitleIn(key=title_key(1, 1, at, "A - B"), stream_id=1, epoch=1, at=at, title="A - B")
    )
    orch.start()
    await until_async(lambda: len(orch.plays) == 30, 15, "every play delivered")
    await until_async(lambda: len(orch.titles) == 1, 10, "the title delivered")
    assert len(box) == 0, "acknowledged: nothing is sent again"
    await until_async(
        lambda: (orch.heartbeats[-1].get("metrics") or {}).get("outbox_unsaved", 0) >= 30,
        10,
        "the worker reports the deletes it could not make",
    )
    assert not running.task.done() and running.sup.pipelines[1].status == "running"

    box._db.execute("PRAGMA query_only = OFF")
    running.sup.put(_play(1, 99))
    await until_async(lambda: box.unsaved == 0 and len(box) == 0, 10, "all written, all acked")
    assert len(orch.plays) == 31 and len(orch.titles) == 1
    with sqlite3.connect(box.path) as other:
        assert other.execute("SELECT COUNT(*) FROM plays").fetchone() == (0,)


async def test_stale_epoch_drops_the_stream_and_its_plays(
    orch: FakeOrchestrator, station: StationServer, running: Running
) -> None:
    orch.assignments[WID] = [_assign(station, 1, 1), _assign(station, 2, 1)]
    await until_async(
        lambda: len(running.sup.pipelines) == 2, 15, "len(running.sup.pipelines) == 2"
    )
    orch.stale_streams.add(1)
    orch.assignments[WID] = [_assign(station, 2, 1)]
    for i in range(3):
        running.sup.put(_play(1, i))
    running.sup.put(_play(2, 0))
    await until_async(lambda: len(running.sup.outbox) == 0, 15, "len(running.sup.outbox) == 0")
    assert set(running.sup.pipelines) == {2}
    assert [p["stream_id"] for p in orch.plays.values()] == [2]
    assert running.sup.plays_dropped == 3


async def test_stale_titles_stop_the_stream_as_stale_plays_do(
    orch: FakeOrchestrator, station: StationServer, running: Running
) -> None:
    """A stale title and a stale play are one case: the sender stops the stream, the items
    leave the outbox (the orchestrator keeps them for review), counted the same way."""
    orch.assignments[WID] = [_assign(station, s, 1) for s in (1, 2, 3)]
    await _until(lambda: len(running.sup.pipelines) == 3)
    stopped: list[tuple[int, int]] = []
    sender = running.sup.sender
    stop_stale = sender._stop_stale_stream  # the supervisor's: observed, still called

    def observe(sid: int, epoch: int) -> None:
        stopped.append((sid, epoch))
        stop_stale(sid, epoch)

    sender._stop_stale_stream = observe
    orch.stale_streams.update({1, 3})
    running.sup.put(_play(1, 0))
    at = datetime(2025, 1, 1, tzinfo=UTC)
    for sid in (3, 2):
        running.sup.put_title(
            TitleIn(
                key=title_key(sid, 1, at, "A - B"), stream_id=sid, epoch=1, at=at, title="A - B"
            )
        )
    await _until(lambda: len(running.sup.outbox) == 0 and len(running.sup.outbox.titles) == 0)
    assert sorted(stopped) == [(1, 1), (3, 1)]
    assert (sender.plays.stale, sender.titles.stale) == (1, 1)
    assert (sender.plays.acked, sender.titles.acked) == (0, 1)
    assert [t["stream_id"] for t in orch.titles] == [2]


def _segment(i: int) -> ArchiveIn:
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=5 * i)
    return ArchiveIn(
        key=f"{i:032d}", stream_id=1, epoch=1, started_at=at, duration_s=5, pairs=0, data="QQ=="
    )


async def test_archive_segments_go_in_their_own_lane_and_a_failed_store_degrades(
    orch: FakeOrchestrator, running: Running
) -> None:
    """Segments go after plays, through the same fenced path; when the store cannot take
    them ("unarchived") they leave the outbox (no archive) and plays go on unharmed."""
    running.sup.put_archive(_segment(0))
    running.sup.put(_play(1, 0))
    await _until(lambda: len(running.sup.outbox) == 0 and len(running.sup.outbox.archive) == 0)
    assert [a["key"] for a in orch.archive] == [_segment(0).key]
    orch.archive_down = True
    running.sup.put_archive(_segment(1))
    running.sup.put(_play(1, 1))
    await _until(lambda: len(running.sup.outbox) == 0 and len(running.sup.outbox.archive) == 0)
    assert len(orch.plays) == 2 and len(orch.archive) == 1


def _index_bytes(tmp: Path, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    idx = Index.build(
        [(seed, pack_prints(fingerprint_samples(rng.standard_normal(8000 * 5).astype(np.float32))))]
    )
    path = tmp / f"i{seed}.idx"
    idx.save(path)
    return path.read_bytes()


async def test_catalog_is_cached_and_hot_swapped(
    orch: FakeOrchestrator, station: StationServer, running: Running, tmp_path: Path
) -> None:
    orch.snapshot = ("v1", _index_bytes(tmp_path, 1))
    orch.catalog_version = "v1"
    orch.assignments[WID] = [_assign(station, 1, 1)]
    await until_async(
        lambda: running.sup.catalog_version == "v1", 15, "running.sup.catalog_version == 'v1'"
    )
    pipe = running.sup.pipelines[1]
    first = running.sup.matcher_factory
    assert first is not None
    orch.snapshot = ("v2", _index_bytes(tmp_path, 2))
    orch.catalog_version = "v2"
    await until_async(
        lambda: running.sup.catalog_version == "v2", 15, "running.sup.catalog_version == 'v2'"
    )
    assert running.sup.pipelines[1] is pipe, "swapped without a restart"
    assert pipe._factory is running.sup.matcher_factory and pipe._factory is not first
    assert sorted(p.name for p in (tmp_path / "catalog").glob("snapshot-*")) == ["snapshot-v2.idx"]


async def test_a_damaged_snapshot_is_never_loaded(
    orch: FakeOrchestrator, station: StationServer, running: Running, tmp_path: Path
) -> None:
    orch.snapshot = ("v1", _index_bytes(tmp_path, 1))
    orch.catalog_version = "v1"
    orch.assignments[WID] = [_assign(station, 1, 1)]
    await until_async(
        lambda: running.sup.catalog_version == "v1", 15, "running.sup.catalog_version == 'v1'"
    )
    first = running.sup.matcher_factory
    orch.corrupt_snapshots = 10**6  # every download of v2 arrives damaged
    orch.snapshot = ("v2", _index_bytes(tmp_path, 2))
    orch.catalog_version = "v2"
    await until_async(lambda: orch.snapshot_downloads >= 6, 15, "orch.snapshot_downloads >= 6")
    assert running.sup.catalog_version == "v1" and running.sup.matcher_factory is first
    assert sorted(p.name for p in (tmp_path / "catalog").glob("snapshot-*")) == ["snapshot-v1.idx"]
    orch.corrupt_snapshots = 0  # the line heals: the next refresh loads v2
    await until_async(
        lambda: running.sup.catalog_version == "v2", 15, "running.sup.catalog_version == 'v2'"
    )


def test_a_cached_snapshot_damaged_on_disk_is_not_used(tmp_path: Path) -> None:
    cache = CatalogCache(tmp_path / "catalog")
    data = _index_bytes(tmp_path, 3)
    path = cache.store(Snapshot("v3", '"v3"', data))
    assert cache.current() == ("v3", '"v3"', path)
    path.write_bytes(data[:-10])
    assert cache.current() is None


def test_sigterm_is_graceful(
    tmp_path: Path, orch: FakeOrchestrator, station: StationServer
) -> None:
    orch.assignments[WID] = [_assign(station, 1, 1)]
    env = {
        **os.environ,
        "AIRTRACK_HOME": str(tmp_path),
        "AIRTRACK_ORCHESTRATOR_URL": orch.url,
        "AIRTRACK_WORKER_TOKEN": "tok",
        "AIRTRACK_WORKER_ID": WID,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    code = (
        "import asyncio, sys\n"
        "from airtrack.settings import load_settings\n"
        "from airtrack.worker import run_worker\n"
        "sys.exit(asyncio.run(run_worker(load_settings(), shutdown_timeout_s=5)))\n"
    )
    proc = spawn([sys.executable, "-c", code], env=env, stderr=subprocess.DEVNULL)
    try:
        until(
            lambda: _last_report(orch).get(1) == (1, "running") or proc.poll() is not None,
            60,
            "the worker process runs the stream",
        )
        assert proc.poll() is None, "the worker exited"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(8) == 0
        assert time.monotonic() - t0 < 6
        assert orch.deregistered == [WID]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
