"""Heartbeat replies carry the current catalog version, so workers refresh without a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from airtrack.api import watch_catalog
from airtrack.catalog.store import ENGINE
from airtrack.fingerprint import fingerprint_samples, pack_prints
from airtrack.startup.orchestrator import _snapshot_fn

from .orch_support import SimWorker, fast_settings, orchestrator


async def _add_track(orch: object, seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(8000 * 20) / 8000
    x = sum(np.sin(2 * np.pi * f * t) * (t % 1 < 0.5) for f in rng.uniform(300, 3000, 12))
    blob = pack_prints(fingerprint_samples((x / 12).astype(np.float32)))

    async def fn(tx: object) -> None:
        rows = await tx.execute_raw(  # type: ignore[attr-defined]
            "INSERT INTO tracks (title, source, duration_s, content_sha256) "
            "VALUES ('t', 't.mp3', 20, %s) RETURNING id",
            (f"sha-{seed}",),
        )
        await tx.execute_raw(  # type: ignore[attr-defined]
            "INSERT INTO track_prints (track_id, engine, prints) VALUES (%s, %s, %s)",
            (rows[0]["id"], ENGINE, blob),
        )
        await tx.execute_raw(  # type: ignore[attr-defined]
            "UPDATE catalog_state SET revision = revision + 1, changed_at = now()"
        )

    await orch.db.run("test_add_track", fn)  # type: ignore[attr-defined]


async def test_heartbeat_reply_follows_catalog_changes(db_url: str, tmp_path: Path) -> None:
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        orch.state.snapshot = _snapshot_fn(orch.state)
        stop = asyncio.Event()
        watcher = asyncio.create_task(watch_catalog(orch.state, stop))
        try:
            w = SimWorker(orch, "w1", 5)
            await w.register()
            await _add_track(orch, 1)
            first = None
            for _ in range(100):
                r = await w.heartbeat()
                first = r.json().get("catalog_version")  # absent until a snapshot exists
                if first:
                    break
                await asyncio.sleep(0.1)
            assert first, "the reply names the catalog version"
            await _add_track(orch, 2)
            stop.set()
            await watcher
            stop.clear()
            watcher = asyncio.create_task(watch_catalog(orch.state, stop))
            for _ in range(100):
                second = (await w.heartbeat()).json().get("catalog_version")
                if second != first:
                    break
                await asyncio.sleep(0.1)
            assert second != first, "a catalog change changes the version workers see"
            snap = await orch.http.get(
                "/api/v1/catalog/snapshot",
                headers={"Authorization": "Bearer worker-token-for-tests"},
            )
            assert snap.status_code == 200 and snap.headers["ETag"] == f'"{second}"'
        finally:
            stop.set()
            await watcher
