"""The real worker against the real orchestrator over real HTTP (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn

from airtrack.api import AppState, create_app, wrap
from airtrack.catalog.manifest import SegmentStore
from airtrack.catalog.store import ENGINE
from airtrack.db import Database
from airtrack.fingerprint import fingerprint_samples, pack_prints
from airtrack.orchestrator.control import ControlLoop
from airtrack.orchestrator.tokens import Tokens
from airtrack.protocol import SNAPSHOT_PATH, SNAPSHOT_SHA256_HEADER, PlayIn
from airtrack.settings import Settings
from airtrack.startup.orchestrator import _snapshot_fn
from airtrack.worker.capture import CaptureOptions
from airtrack.worker.client import OrchestratorClient
from airtrack.worker.identity import worker_credential
from airtrack.worker.outbox import Outbox, play_key
from airtrack.worker.pipeline import PipelineConfig
from airtrack.worker.supervisor import Supervisor
from tests.integration.orch_support import ADMIN, WORKER, fast_settings
from tests.support.wait import until_async
from tests.unit.test_worker_support import StationServer, encode, tone


class LiveOrchestrator:
    """The orchestrator app served by uvicorn in this event loop, on port 0 the first time;
    a restart comes back on the port it got."""

    def __init__(
        self,
        db_url: str,
        settings: Settings,
        *,
        serve_catalog: bool = False,
        serve_segments: bool = False,
    ) -> None:
        self.db_url, self.settings = db_url, settings
        self.serve_catalog, self.serve_segments = serve_catalog, serve_segments
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.db: Database | None = None

    async def start(self) -> None:
        self.db = Database(self.db_url, self.settings, min_size=1, max_size=8)
        await self.db.open()
        control = ControlLoop(self.db, self.settings, self.db_url)
        state = AppState(
            db=self.db,
            settings=self.settings,
            tokens=Tokens(ADMIN, WORKER, False, None),
            control=control,
        )
        if self.serve_catalog:
            state.snapshot = _snapshot_fn(state)
        if self.serve_segments:
            state.segments = SegmentStore(self.db, self.settings)
        app = wrap(create_app(state, lifespan_tasks=True), self.settings)
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:  # noqa: ASYNC110 - uvicorn offers only a flag
            await asyncio.sleep(0.02)
        self.port = int(self._server.servers[0].sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        assert self.port, "start it first: the URL has the port it got"
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await asyncio.wait_for(self._task, 15)
        if self.db is not None:
            await self.db.close()
        self._server = self._task = self.db = None

    async def admin(self, method: str, path: str, **kw: Any) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as http:
            return await http.request(
                method, f"/api/v1{path}", headers={"Authorization": f"Bearer {ADMIN}"}, **kw
            )


@pytest.fixture(scope="module")
def station() -> Iterator[StationServer]:
    with StationServer(encode(tone(20.0))) as s:
        yield s


@pytest.fixture
async def orch(db_url: str, tmp_path: Path) -> AsyncIterator[LiveOrchestrator]:
    # the lease outlasts the outage below; a longer outage moves the streams (stale epochs)
    o = LiveOrchestrator(
        db_url, fast_settings(tmp_path / "orch", lease_ttl_s=15.0, inactive_after_s=30.0)
    )
    await o.start()
    try:
        yield o
    finally:
        await o.stop()


def _supervisor(tmp_path: Path, orch: LiveOrchestrator, wid: str) -> Supervisor:
    settings = fast_settings(tmp_path / wid, orchestrator_url=orch.url, worker_id=wid)
    client = OrchestratorClient(
        orch.url,
        WORKER,
        timeout_s=2.0,
        retry_base_s=0.02,
        retry_cap_s=0.1,
        breaker_failures=3,
        breaker_open_s=0.5,
        credential=worker_credential(settings, wid),  # as `airtrack worker` does
    )
    return Supervisor(
        settings,
        worker_id=wid,
        client=client,
        outbox=Outbox(tmp_path / wid / "outbox.sqlite"),
        home=tmp_path / wid,
        pipeline_config=PipelineConfig(capture=CaptureOptions(sample_rate=8000, read_timeout_s=2)),
        shutdown_timeout_s=5.0,
    )


async def _until(cond: Callable[[], Any], within: float = 10.0) -> None:
    """Kept for tests written against it: :func:`tests.support.wait.until_async`."""
    await until_async(cond, within, "condition", step=0.1)


async def _track(orch: LiveOrchestrator) -> int:
    assert orch.db is not None

    async def fn(tx: Any) -> int:
        rows = await tx.execute_raw(
            "INSERT INTO tracks (title, artist, source, duration_s, content_sha256) "
            "VALUES ('Song', 'Artist', 'x.mp3', 180, md5(random()::text)) RETURNING id"
        )
        return int(rows[0]["id"])

    return int(await orch.db.run("test_add_track", fn))


async def test_worker_runs_streams_survives_an_outage_and_leaves_gracefully(
    orch: LiveOrchestrator, station: StationServer, tmp_path: Path
) -> None:
    for i in range(3):
        r = await orch.admin(
            # one station, three streams: distinct URLs (one URL is one stream)
            "POST",
            "/streams",
            json={"name": f"st{i}", "url": station.url(f"/live.mp3?copy={i}")},
        )
        assert r.status_code == 201, r.text
    tracks = [await _track(orch) for _ in range(5)]  # same track back to back = one airing
    sup = _supervisor(tmp_path, orch, "wk-1")
    stop = asyncio.Event()
    task = asyncio.create_task(sup.run(stop))
    try:
        await until_async(
            lambda: (
                len(sup.pipelines) == 3
                and all(p.status == "running" for p in sup.pipelines.values())
            ),
            10,
            "three pipelines running",
        )

        async def owned() -> bool:
            rows = (await orch.admin("GET", "/assignments")).json()
            return sorted(a["worker_id"] for a in rows if a["state"] == "assigned") == ["wk-1"] * 3

        await until_async(owned, 10, "the three streams assigned to wk-1")
        sid, pipe = next(iter(sup.pipelines.items()))
        epoch = pipe.assignment.epoch
        t0 = datetime.now(UTC) - timedelta(minutes=30)

        def play(i: int, end: bool = False) -> PlayIn:
            start = t0 + timedelta(minutes=4 * i)
            return PlayIn(
                key=play_key(sid, epoch, tracks[i], start),
                stream_id=sid,
                epoch=epoch,
                track_id=tracks[i],
                started_at=start,
                confidence=0.9,
                ended_at=start + timedelta(minutes=3) if end else None,
            )

        sup.put(play(0))
        await until_async(lambda: len(sup.outbox) == 0, 10, "the play delivered")
        await orch.stop()  # the orchestrator goes down: local mode
        await until_async(lambda: sup.local_mode, 10, "local mode")
        sup.put(play(0, end=True))
        for i in range(1, 5):
            sup.put(play(i, end=True))
        await asyncio.sleep(1.0)
        assert len(sup.outbox) == 5
        assert all(p.status == "running" for p in sup.pipelines.values())
        await orch.start()
        await until_async(
            lambda: len(sup.outbox) == 0 and not sup.local_mode, 20, "the outbox delivered"
        )
        rows = (await orch.admin("GET", "/plays", params={"limit": 100})).json()
        assert len(rows) == 5, rows  # one row per airing, the first one now ended
        assert all(r["ended_at"] is not None for r in rows)
        assert {r["worker_id"] for r in rows} == {"wk-1"}
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 15) == 0
    rows = (await orch.admin("GET", "/workers")).json()
    assert [w["state"] for w in rows if w["id"] == "wk-1"] != ["active"]


async def test_the_snapshot_carries_its_checksum_and_the_worker_loads_it(
    db_url: str, tmp_path: Path
) -> None:
    o = LiveOrchestrator(db_url, fast_settings(tmp_path / "orch"), serve_catalog=True)
    await o.start()
    try:
        track_id = await _track(o)
        rng = np.random.default_rng(5)
        blob = pack_prints(fingerprint_samples(rng.standard_normal(8000 * 8).astype(np.float32)))

        async def fn(tx: Any) -> None:
            await tx.execute_raw(
                "INSERT INTO track_prints (track_id, engine, prints) VALUES (%s, %s, %s)",
                (track_id, ENGINE, blob),
            )
            await tx.execute_raw("SELECT airtrack_catalog_bump()")

        assert o.db is not None
        await o.db.run("test_prints", fn)
        async with httpx.AsyncClient(base_url=o.url, timeout=30) as http:
            raw = await http.get(SNAPSHOT_PATH, headers={"Authorization": f"Bearer {WORKER}"})
        assert raw.status_code == 200
        assert raw.headers[SNAPSHOT_SHA256_HEADER] == hashlib.sha256(raw.content).hexdigest()
        sup = _supervisor(tmp_path, o, "w-sum")
        assert await sup.refresh_catalog(), "the verified snapshot is loaded"
        assert sup.catalog_etag == raw.headers["ETag"]
        await sup.client.aclose()
    finally:
        await o.stop()
