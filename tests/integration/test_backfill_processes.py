"""Real processes: the fingerprint archive and back-fill of a song registered late.

A loopback station loops [catalog song A, gap, song B, gap]; B is not in the catalog.
The `airtrack worker` process archives what it hears (matched or not) through its
outbox to the `airtrack orchestrator` process. Then B is added to the catalog: the
leader back-fills B's past airings from the archive, once each, as plays of source
`backfill` (the events say so), each starting within 3 s of where B really began (the
heard A of the same loop + A's length + the gap). A hand re-run (`airtrack catalog
backfill`) changes nothing, and no two plays of B overlap (the worker hears B live too
once it has the song). Every process is stopped by pid.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.integration.orch_support import ADMIN
from tests.integration.test_catalog_delta_processes import _add_song, _in_db
from tests.integration.test_orchestrator_replicas import Replica
from tests.support.processes import spawn_worker
from tests.support.wait import until as _until
from tests.unit._synth_music import song
from tests.unit.test_worker_support import StationServer, encode

SR = 8000
SONG_S, GAP_S = 8.0, 1.0
#: what lame makes of 8 kHz mono: the station paces by it, so the program runs in real time
BITRATE = 32_000


def _plays(admin: httpx.Client, track: int) -> list[dict[str, Any]]:
    rows = admin.get("/api/v1/plays", params={"limit": 500, "track_id": track}).json()
    assert isinstance(rows, list), rows
    return sorted(rows, key=lambda r: r["started_at"])


def _t(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _archived_until(db_url: str) -> float:
    async def fn(tx: Any) -> float:
        rows = await tx.execute_raw(
            "SELECT extract(epoch FROM max(started_at + make_interval(secs => duration_s)))"
            " AS t FROM fingerprint_archive"
        )
        return float(rows[0]["t"] or 0)

    return float(_in_db(db_url, "test_archived_until", fn))


def _backfill_events(db_url: str) -> list[dict[str, Any]]:
    async def fn(tx: Any) -> list[dict[str, Any]]:
        rows = await tx.execute_raw(
            "SELECT type, data FROM outbound_events WHERE (data->>'backfilled')::boolean"
        )
        return [dict(r) for r in rows]

    return list(_in_db(db_url, "test_backfill_events", fn))


@pytest.mark.slow  # listens to about four airings in real time (~75 s)
@pytest.mark.e2e
def test_a_song_added_late_is_backfilled_from_the_archive_once(db_url: str, tmp_path: Path) -> None:
    a, b = song(601, SONG_S), song(602, SONG_S)
    gap = np.zeros(int(GAP_S * SR), np.float32)
    station = StationServer(
        encode(np.concatenate([a, gap, b, gap]), rate=SR, bitrate=BITRATE), bitrate=BITRATE
    )
    station.__enter__()
    orch = Replica(
        db_url,
        tmp_path / "orch",
        tmp_path / "orch.log",
        {
            "AIRTRACK_CATALOG_WATCH_S": "0.3",
            "AIRTRACK_CATALOG_COMPACT_FRACTION": "10",
            "AIRTRACK_ARCHIVE_JOB_S": "0.5",
            "AIRTRACK_BACKFILL_DELAY_S": "2",
        },
    )
    worker: subprocess.Popen[bytes] | None = None
    admin = httpx.Client(base_url=orch.url, headers={"Authorization": f"Bearer {ADMIN}"})
    try:
        orch.wait_ready()
        track_a = _add_song(db_url, 1, a)
        r = admin.post("/api/v1/streams", json={"name": "live", "url": station.url("/live.mp3")})
        assert r.status_code == 201, r.text
        worker = spawn_worker(
            orch.url, tmp_path, "w-archive", play_end_gap_s="4", archive_segment_s="5"
        )
        # three airings of A heard: B aired (at least) twice in between, unheard
        heard_a = _until(
            lambda: len(_plays(admin, track_a)) >= 3 and _plays(admin, track_a), 150, "A"
        )
        third_a = _t(heard_a[2]["started_at"])
        _until(
            lambda: _archived_until(db_url) >= third_a + 2, 60, "the archive past B's 2nd airing"
        )
        assert not [p for p in _plays(admin, track_a) if p["play_source"] != "fingerprint"]

        track_b = _add_song(db_url, 2, b)

        def backfilled() -> list[dict[str, Any]]:
            # the job stores play by play: read them once it has finished
            if "backfill.finished" not in (tmp_path / "orch.log").read_text(errors="replace"):
                return []
            rows = [p for p in _plays(admin, track_b) if p["play_source"] == "backfill"]
            return rows if len(rows) >= 2 else []

        found = _until(backfilled, 90, "B's past airings back-filled")
        # where B really began: after the A of the same loop, A's length and the gap
        a_starts = [_t(p["started_at"]) for p in _plays(admin, track_a)]
        for p in found:
            start = _t(p["started_at"])
            truth = min((s + SONG_S + GAP_S for s in a_starts), key=lambda t: abs(t - start))
            assert abs(start - truth) <= 3.0, (p, truth)
        events = _backfill_events(db_url)
        ids = {p["id"] for p in found}
        assert {e["type"] for e in events if e["data"]["play_id"] in ids} == {
            "play.started",
            "play.ended",
        }

        # a hand re-run changes nothing
        rerun = subprocess.run(
            [sys.executable, "-m", "airtrack", "catalog", "backfill", str(track_b), "--json"],
            env={**os.environ, "AIRTRACK_DATABASE_URL": db_url, "AIRTRACK_HOME": str(tmp_path)},
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert rerun.returncode == 0, rerun.stderr
        result = json.loads(rerun.stdout)
        assert result["stored"] == 0 and result["found"] >= 2, result
        # never twice: no two plays of B (heard or back-filled) overlap
        plays_b = _plays(admin, track_b)
        assert len([p for p in plays_b if p["play_source"] == "backfill"]) == len(found)
        for x, y in itertools.pairwise(plays_b):
            assert _t(y["started_at"]) >= _t(x["ended_at"] or x["started_at"]) - 2.0, (x, y)
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
