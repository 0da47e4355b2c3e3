"""A real worker matching a live loopback stream takes a catalog delta without restarting.

The orchestrator (uvicorn on 127.0.0.1, real PostgreSQL) serves the catalog as segments; the
station loops a song that is not in the catalog.  Adding the song makes a delta segment: the
worker downloads it, swaps its matchers between two blocks and the next airing gets a play.
Removing the song makes a tombstone: the worker's catalog drops it within two heartbeats of
the manifest changing (counted, not timed).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from airtrack.catalog.store import ENGINE
from airtrack.fingerprint import fingerprint_samples, pack_prints
from airtrack.fingerprint.segments import SegmentedIndex
from airtrack.protocol import MANIFEST_PATH
from airtrack.worker.capture import CaptureOptions
from airtrack.worker.client import OrchestratorClient
from airtrack.worker.identity import worker_credential
from airtrack.worker.outbox import Outbox
from airtrack.worker.pipeline import PipelineConfig
from airtrack.worker.supervisor import Supervisor
from tests.integration.orch_support import WORKER, fast_settings
from tests.integration.test_worker_orchestrator import LiveOrchestrator
from tests.support.wait import until_async
from tests.unit._synth_music import song
from tests.unit.test_worker_support import StationServer, encode

SR = 8000


async def insert_song(tx: Any, seed: int, audio: np.ndarray) -> int:
    """Add a catalog track with ``audio``'s prints in transaction ``tx`` (bumps the catalog)."""
    blob = pack_prints(fingerprint_samples(audio))
    rows = await tx.execute_raw(
        "INSERT INTO tracks (title, source, duration_s, content_sha256) "
        "VALUES ('Song', 'x.wav', %s, %s) RETURNING id",
        (len(audio) / SR, f"song-{seed}"),
    )
    tid = int(rows[0]["id"])
    await tx.execute_raw(
        "INSERT INTO track_prints (track_id, engine, prints) VALUES (%s, %s, %s)",
        (tid, ENGINE, blob),
    )
    await tx.execute_raw("SELECT airtrack_catalog_bump()")
    return tid


async def _add_song(orch: LiveOrchestrator, seed: int, audio: np.ndarray) -> int:
    assert orch.db is not None

    async def fn(tx: Any) -> int:
        return await insert_song(tx, seed, audio)

    return int(await orch.db.run("test_add_song", fn))


def _index(sup: Supervisor) -> SegmentedIndex:
    assert sup.matcher_factory is not None
    index = sup.matcher_factory().index
    assert isinstance(index, SegmentedIndex)
    return index


async def test_a_delta_arrives_while_matching_and_a_removal_stops_matches(
    db_url: str, tmp_path: Path
) -> None:
    # one track more on a one-track base would be compacted at once: a delta is wanted here
    settings = fast_settings(tmp_path / "orch", catalog_watch_s=0.3, catalog_compact_fraction=10.0)
    orch = LiveOrchestrator(db_url, settings, serve_segments=True)
    await orch.start()
    new_song = song(401, 30)
    program = np.concatenate([new_song, np.zeros(6 * SR, np.float32)])
    station = StationServer(encode(program, rate=SR), speed=2.0)
    station.__enter__()
    stop = asyncio.Event()
    wid = "w-delta"
    wsettings = fast_settings(
        tmp_path / wid, orchestrator_url=orch.url, worker_id=wid, play_end_gap_s=4.0
    )
    client = OrchestratorClient(
        orch.url,
        WORKER,
        timeout_s=5.0,
        retry_base_s=0.02,
        retry_cap_s=0.1,
        credential=worker_credential(wsettings, wid),
    )
    sup = Supervisor(
        wsettings,
        worker_id=wid,
        client=client,
        outbox=Outbox(tmp_path / wid / "outbox.sqlite"),
        home=tmp_path / wid,
        pipeline_config=PipelineConfig(capture=CaptureOptions(sample_rate=SR, read_timeout_s=3)),
        shutdown_timeout_s=5.0,
    )
    heartbeats = 0
    beat = sup.heartbeat_once

    async def counted() -> None:
        nonlocal heartbeats
        heartbeats += 1
        await beat()

    sup.heartbeat_once = counted  # type: ignore[method-assign]
    # the heartbeat count at each catalog refresh the worker starts (a reply named a new
    # version): counted, so a busy machine's slower download does not read as a late notice
    refreshes: list[int] = []
    refresh = sup._schedule_catalog_refresh

    def noted() -> None:
        refreshes.append(heartbeats)
        refresh()

    sup._schedule_catalog_refresh = noted  # type: ignore[method-assign]
    task = None
    try:
        other = await _add_song(orch, 1, song(400, 30))  # the catalog before: another song
        r = await orch.admin(
            "POST", "/streams", json={"name": "live", "url": station.url("/live.mp3")}
        )
        assert r.status_code == 201, r.text
        task = asyncio.create_task(sup.run(stop))
        await until_async(
            lambda: sup.catalog_version is not None and len(sup.pipelines) == 1,
            30,
            "a catalog and the pipeline",
        )
        pipe = next(iter(sup.pipelines.values()))
        assert _index(sup).live_track_ids.tolist() == [other]

        added = await _add_song(orch, 2, new_song)
        await until_async(
            lambda: added in _index(sup).live_track_ids.tolist(), 30, "the delta in the index"
        )
        assert len(_index(sup).segments) == 2  # the base it had, and the delta
        assert sup.segments is not None and sup.segments.last_download_bytes > 0

        async def played() -> bool:
            rows = (await orch.admin("GET", "/plays", params={"limit": 100})).json()
            return any(row["track_id"] == added for row in rows)

        await until_async(played, 120, "a play of the added song")
        # no restart: the same registration, the same pipeline, never stopped
        assert sup.registrations == 1 and next(iter(sup.pipelines.values())) is pipe

        before = sup.catalog_version
        async with httpx.AsyncClient(base_url=orch.url, timeout=10) as http:
            auth = {"Authorization": f"Bearer {WORKER}"}

            async def manifest_version() -> str:
                return str((await http.get(MANIFEST_PATH, headers=auth)).json()["version"])

            async def remove(tx: Any) -> None:
                await tx.execute_raw("DELETE FROM tracks WHERE id = %s", (added,))
                await tx.execute_raw("SELECT airtrack_catalog_bump()")

            assert orch.db is not None
            await orch.db.run("test_remove", remove)
            while (await manifest_version()) == before:
                await asyncio.sleep(0.05)
            at_publish = heartbeats
        await until_async(lambda: sup.catalog_version != before, 30, "a new catalog version")
        # the first reply after the change started the refresh that dropped the track (the
        # heartbeat in flight when the manifest changed may already carry it: >=)
        noticed = [n for n in refreshes if n >= at_publish]
        assert noticed and noticed[0] - at_publish <= 2, (at_publish, refreshes)
        assert added not in _index(sup).live_track_ids.tolist()
        assert next(iter(sup.pipelines.values())) is pipe
    finally:
        stop.set()
        if task is not None:
            await asyncio.wait_for(task, 20)
        station.__exit__(None, None, None)
        await orch.stop()
