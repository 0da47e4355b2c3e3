"""`airtrack worker` as a process: real stations (Icecast MP3 and HLS), real orchestrator,
real recognition; the plays it logs are checked against the stations' ground truth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration import test_worker_e2e_support as support
from tests.integration.test_worker_e2e_support import (
    ADMIN,
    Api,
    check_plays,
    cluster_env,
    events,
    truth,
    ts,
    until,
)
from tests.support.processes import new_cluster

# Slow tier: it listens to real-time stations until three songs aired whole (a minute or
# two on a busy machine), and its timing tolerances need a machine that keeps up. The
# default tier shows the same parts faster: a real `airtrack worker` process logs a live
# song (test_catalog_delta_processes.py), HLS capture (tests/unit/test_worker_capture.py::
# test_hls_playlist), `airtrack plays --json` (test_stream_titles.py).
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

# the shared fixtures
catalog_songs = support.catalog_songs
catalog_template = support.catalog_template
e2e_db = support.e2e_db
stations = support.stations

#: Listen until this many catalog songs aired whole on the MP3 mounts, settled for
#: ``SETTLE_S`` (each is then checked against the plays), however long that takes, up
#: to ``LISTEN_MAX_S``. One more than the test needs: a station that falls behind on a
#: busy machine re-times what it airs next, which can push the last one out of the window.
WHOLE_AIRINGS = 3
SETTLE_S = 8.0
LISTEN_MAX_S = 150.0
WARM_UP_S = 10.0


def test_worker_logs_the_plays_that_aired_on_mp3_and_hls_streams(
    tmp_path: Path, e2e_db: str, stations: dict[str, Any]
) -> None:
    with new_cluster(tmp_path / "home", env=cluster_env(e2e_db)) as cluster:
        api = Api(cluster.start_orchestrator().info["url"])
        ids = {
            "station1": api.add_stream("station1", stations["mounts"]["station1"]),
            "station2": api.add_stream("station2", stations["mounts"]["station2"]),
            "station3": api.add_stream("station3-hls", stations["hls"]["station3"]),
        }
        cluster.start_worker("e2e-w1", capacity=5)

        def running() -> bool:
            ok = [e for e in events(cluster, "e2e-w1") if e["event"] == "stream_status"]
            return {e["stream_id"] for e in ok if e.get("status") == "running"} == set(ids.values())

        until(running, 60, "the worker runs the three streams")
        # the first seconds of a stream warm up (catalog, buffers): judge what airs after
        listening_from = time.time() + WARM_UP_S

        def heard_enough() -> bool:
            settled = time.time() - SETTLE_S
            whole = [
                a
                for m in ("station1", "station2")
                for a in truth(stations["truth"][m])
                if ts(a["started_at"]) >= listening_from and ts(a["ended_at"]) <= settled
            ]
            on_hls = any(p["stream_id"] == ids["station3"] for p in api.plays())
            return len(whole) >= WHOLE_AIRINGS and on_hls

        until(heard_enough, LISTEN_MAX_S, "whole airings on MP3 and a play over HLS", step=1.0)
        # A graceful stop closes the matchers (open plays end where the song was last
        # heard) and flushes the outbox before deregistering.
        stopped_at = time.time()
        assert cluster.procs["e2e-w1"].stop() == 0
        assert "worker_stopped" in [e["event"] for e in events(cluster, "e2e-w1")]
        plays = api.plays()
        checked = 0
        for mount, sid in ids.items():
            mine = [p for p in plays if p["stream_id"] == sid]
            hls = mount == "station3"  # HLS audio arrives a few segments (3 s) behind
            checked += check_plays(
                mine,
                truth(stations["truth"][mount]),
                listening_from=listening_from,
                settled_by=stopped_at - (15.0 if hls else 3.0),
                start_tol_s=8.0 if hls else 4.0,
                end_tol_s=12.0 if hls else 10.0,  # ends fade under the next item
            )
        window = {m: truth(stations["truth"][m]) for m in ids}
        assert checked >= 2, (listening_from, stopped_at, plays, window)
        assert any(p["stream_id"] == ids["station3"] for p in plays), "nothing heard over HLS"
        assert {p["worker_id"] for p in plays} == {"e2e-w1"}
        assert all(p["source"].endswith(".mp3") and p["artist"] for p in plays)
        assert all(p["ended_at"] is not None for p in plays)

        # `airtrack plays --json` prints the same thing (docs/architecture.md#contracts).
        out = subprocess.run(
            [sys.executable, "-m", "airtrack", "plays", "--json"],
            env={
                **os.environ,
                "AIRTRACK_HOME": str(tmp_path / "cli-home"),
                "AIRTRACK_DATABASE_URL": e2e_db,  # the CLI reads plays from the database
                "AIRTRACK_ORCHESTRATOR_URL": api.url,
                "AIRTRACK_ADMIN_TOKEN": ADMIN,
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        printed = json.loads(out.stdout)
        assert printed == plays  # the worker is stopped: nothing changes in between
        keys = {"stream_id", "stream", "track_id", "title", "artist", "source"}
        keys |= {"started_at", "ended_at", "confidence", "worker_id"}
        assert all(set(p) >= keys for p in printed)
