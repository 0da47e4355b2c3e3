"""Hostile streams against a real orchestrator and worker process.

A trickle of bytes, endless text served as ``audio/mpeg`` and a redirect loop used to
stay "starting" (or fail as an "internal error" with a traceback on every retry); each
must reach a classified failure within the configured bound, and stay visible in the
API and in ``airtrack status``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_worker_e2e_support import Api, cluster_env, events, until
from tests.support.processes import new_cluster
from tests.unit.test_worker_support import StationServer, encode, tone

pytestmark = pytest.mark.e2e

START_TIMEOUT_S = 2.0
HOSTILE = {"trickle": "/trickle.mp3", "text": "/text.mp3", "loop": "/redirect-loop"}


@pytest.fixture(scope="module")
def station() -> Iterator[StationServer]:
    with StationServer(encode(tone(10.0))) as s:
        yield s


def test_hostile_streams_fail_classified_within_the_bound_and_stay_visible(
    tmp_path: Path, db_url: str, station: StationServer
) -> None:
    env = cluster_env(db_url, AIRTRACK_STREAM_START_TIMEOUT_S=str(START_TIMEOUT_S))
    with new_cluster(tmp_path / "home", env=env) as cluster:
        api = Api(cluster.start_orchestrator().info["url"])
        sids = {name: api.add_stream(name, station.url(path)) for name, path in HOSTILE.items()}
        cluster.start_worker("w-hostile", capacity=5)

        def all_failed() -> dict[str, dict[str, Any]] | None:
            rows = {r["name"]: r for r in api.call("GET", "/streams")}
            if all(rows[n]["capture_status"] == "failed" for n in HOSTILE):
                return rows
            return None

        # 3 failed connections (fail_after) of at most the bound each, plus backoff
        rows = until(all_failed, 60, "every hostile stream failed with a reason")
        assert "no audio decoded within 2 s" in rows["trickle"]["last_error"]
        assert "the body is text" in rows["text"]["last_error"]
        assert rows["loop"]["last_error"].startswith("too many redirects")
        assert not any("internal error" in (r["last_error"] or "") for r in rows.values())

        status = subprocess.run(
            [sys.executable, "-m", "airtrack", "status"],
            env={**os.environ, **cluster.env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0, status.stderr
        assert "3 failed" in status.stdout, status.stdout
        for name in HOSTILE:
            assert f"failed: {name}:" in status.stdout, status.stdout

        def reconnects(sid: int) -> int:
            log = events(cluster, "w-hostile")
            return sum(e["event"] == "stream_reconnect" and e["stream_id"] == sid for e in log)

        until(lambda: all(reconnects(s) >= 3 for s in sids.values()), 60, "three retries each")
        log = events(cluster, "w-hostile")
        assert not [e for e in log if e["event"] == "pipeline_error"]
        for name, sid in sids.items():
            failed = [
                e
                for e in log
                if e["event"] == "stream_status"
                and e["stream_id"] == sid
                and e["status"] == "failed"
            ]
            assert len(failed) == 1, (name, failed)  # logged once per state change, not retry
