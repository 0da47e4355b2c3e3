"""Real processes: `airtrack orchestrator` and `airtrack worker` take catalog deltas live.

The worker matches a loopback station that loops a song not in the catalog. Adding the song
reaches the running worker as a delta (its log names the manifest it loaded and how few
bytes it downloaded) and the next airing gets a play, from the same worker process,
registered once. Removing the song reaches it as a tombstone: the worker loads the manifest
the orchestrator serves after the removal. Both processes are stopped by pid. (The
compaction fraction is raised: with one track in the base, one more would be a new base.)
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from airtrack.db import Database
from airtrack.fingerprint import fingerprint_samples, pack_prints
from airtrack.protocol import MANIFEST_PATH
from airtrack.settings import load_settings
from tests.integration.orch_support import ADMIN, WORKER
from tests.integration.test_catalog_delta_live import insert_song
from tests.support.orchestrator import Replica
from tests.support.processes import spawn
from tests.support.wait import until
from tests.unit._synth_music import song
from tests.unit.test_worker_support import StationServer, encode

SR = 8000


def _events(log: Path, name: str) -> list[dict[str, Any]]:
    out = []
    for line in log.read_text(errors="replace").splitlines():
        if f'"{name}"' in line:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return [e for e in out if e.get("event") == name]


def _in_db(db_url: str, name: str, fn: Callable[[Any], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        db = Database(db_url, load_settings(), min_size=0, max_size=1)
        await db.open()
        try:
            return await db.run(name, fn)
        finally:
            await db.close()

    return asyncio.run(go())


def _add_song(db_url: str, seed: int, audio: np.ndarray) -> int:
    async def fn(tx: Any) -> int:
        return await insert_song(tx, seed, audio)

    return int(_in_db(db_url, "test_add_song", fn))


def _remove(db_url: str, track_id: int) -> None:
    async def fn(tx: Any) -> None:
        await tx.execute_raw("DELETE FROM tracks WHERE id = %s", (track_id,))
        await tx.execute_raw("SELECT airtrack_catalog_bump()")

    _in_db(db_url, "test_remove", fn)


def test_worker_process_takes_a_delta_and_a_tombstone_live(db_url: str, tmp_path: Path) -> None:
    new_song = song(501, 30)
    program = np.concatenate([new_song, np.zeros(6 * SR, np.float32)])
    station = StationServer(encode(program, rate=SR), speed=2.0)
    station.__enter__()
    orch = Replica(
        db_url,
        tmp_path / "orch",
        tmp_path / "orch.log",
        {"AIRTRACK_CATALOG_WATCH_S": "0.3", "AIRTRACK_CATALOG_COMPACT_FRACTION": "10"},
    )
    worker: subprocess.Popen[bytes] | None = None
    wlog = tmp_path / "worker.log"
    admin = httpx.Client(base_url=orch.url, headers={"Authorization": f"Bearer {ADMIN}"})
    try:
        orch.wait_ready()
        other = _add_song(db_url, 1, song(500, 30))
        r = admin.post("/api/v1/streams", json={"name": "live", "url": station.url("/live.mp3")})
        assert r.status_code == 201, r.text
        env = {
            **os.environ,
            "AIRTRACK_HOME": str(tmp_path / "worker"),
            "AIRTRACK_WORKER_TOKEN": WORKER,
            "AIRTRACK_LOG_JSON": "true",
            "AIRTRACK_PLAY_END_GAP_S": "4",
        }
        with wlog.open("w") as fh:
            worker = spawn(
                [sys.executable, "-m", "airtrack", "worker", "--orchestrator", orch.url,
                 "--id", "w-proc", "--capacity", "2"],
                env=env, stdout=fh, stderr=subprocess.STDOUT,
            )  # fmt: skip
        first = until(lambda: _events(wlog, "catalog_segments_loaded"), 60, "first catalog")
        assert first[0]["segments"] == 1

        added = _add_song(db_url, 2, new_song)
        loaded = until(
            lambda: [e for e in _events(wlog, "catalog_segments_loaded") if e["segments"] == 2],
            60,
            "the delta",
        )
        # only the delta went over the wire: about the new track's prints
        assert (
            0 < loaded[0]["downloaded_bytes"] <= 2 * len(pack_prints(fingerprint_samples(new_song)))
        )

        def played() -> bool:
            rows = admin.get("/api/v1/plays", params={"limit": 100}).json()
            return any(row["track_id"] == added for row in rows)

        until(played, 150, "a play of the new track")
        assert worker.poll() is None and len(_events(wlog, "worker_registered")) == 1

        _remove(db_url, added)
        auth = {"Authorization": f"Bearer {WORKER}"}

        def removed_version() -> str | None:
            body = httpx.get(f"{orch.url}{MANIFEST_PATH}", headers=auth).json()
            return str(body["version"]) if added in body["removed"] else None

        version = until(removed_version, 30, "the tombstone in the manifest")
        until(
            lambda: any(e["version"] == version for e in _events(wlog, "catalog_segments_loaded")),
            30,
            "the worker loading the tombstone",
        )
        assert worker.poll() is None and len(_events(wlog, "worker_registered")) == 1
        assert other != added
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=5)
        admin.close()
        orch.stop()
        station.__exit__(None, None, None)
