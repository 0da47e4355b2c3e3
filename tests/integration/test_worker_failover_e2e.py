"""A backup URL takes over, with real processes: the orchestrator, an `airtrack worker`,
two Icecast-style servers (the station's main URL and its backup) on loopback.

The main server is stopped: the worker moves to the backup well before the station
would be declared down, so the station stays `up` (no `stream.down` event, no alert)
and `airtrack streams list` shows the backup in use. The main server comes back on the
same port: the worker's probe finds it and the worker returns to it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from airtrack.demo.cluster import Cluster
from tests.integration.test_worker_e2e_support import ADMIN, Api, cluster_env, events, until
from tests.support.processes import new_cluster

pytestmark = pytest.mark.e2e

DOWN_AFTER_S = 8.0  # the failover must beat this: it takes a second or two
PRIMARY_RETRY_S = 2.0


def _start_server(cluster: Cluster, name: str, port: int | None) -> str:
    proc = cluster.start_stations(
        stations=1, seed=3, catalog_size=2, name=name, port=port, extra=["--no-hls"]
    )
    return str(proc.info["mounts"]["station1"])


def _stream(api: Api, sid: int) -> dict[str, Any]:
    (row,) = [s for s in api.call("GET", "/streams") if s["id"] == sid]
    return dict(row)


def _downs(db_url: str) -> tuple[list[Any], list[Any]]:
    """The stream.down events and stream alerts ever written."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        evs = conn.execute(
            "SELECT type, data FROM outbound_events WHERE type = 'stream.down'"
        ).fetchall()
        alerts = conn.execute(
            "SELECT kind, subject FROM alerts WHERE kind LIKE 'stream%'"
        ).fetchall()
    return evs, alerts


def _streams_list(api: Api, home: Path) -> str:
    """`airtrack streams list` as an operator runs it against the API (remote mode)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRTRACK_")}
    env.update(
        AIRTRACK_HOME=str(home),
        AIRTRACK_ORCHESTRATOR_URL=api.url,
        AIRTRACK_ADMIN_TOKEN=ADMIN,
        COLUMNS="400",  # the table must not wrap the URLs
    )
    out = subprocess.run(
        [sys.executable, "-m", "airtrack", "streams", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_backup_url_takes_over_and_main_url_is_used_again_when_back(
    tmp_path: Path, db_url: str
) -> None:
    env = cluster_env(
        db_url,
        AIRTRACK_STREAM_DOWN_AFTER_S=str(DOWN_AFTER_S),
        AIRTRACK_STREAM_FAILOVER_AFTER="1",
        AIRTRACK_STREAM_PRIMARY_RETRY_S=str(PRIMARY_RETRY_S),
        AIRTRACK_STREAM_RECONNECT_BASE_S="0.2",
    )
    with new_cluster(tmp_path / "home", env=env) as cluster:
        main_url = _start_server(cluster, "main-server", None)  # port 0: the one it got
        main_port = int(cluster.procs["main-server"].info["port"])
        backup_url = _start_server(cluster, "backup-server", None)
        api = Api(cluster.start_orchestrator().info["url"])
        sid = int(
            api.call(
                "POST",
                "/streams",
                json={"name": "radio", "url": main_url, "backup_urls": [backup_url]},
            )["id"]
        )
        cluster.start_worker("fo-w1", capacity=2)

        def on(url: str) -> bool:
            s = _stream(api, sid)
            return bool(
                s["capture_status"] == "running" and s["url_in_use"] == url and s["health"] == "up"
            )

        until(lambda: on(main_url), 60, "the station is up on its main URL")

        cluster.procs["main-server"].stop()  # the main URL dies: refused from now on
        died_at = time.monotonic()
        until(lambda: on(backup_url), DOWN_AFTER_S, "the worker runs the backup URL")
        assert time.monotonic() - died_at < DOWN_AFTER_S
        moved = [e for e in events(cluster, "fo-w1") if e["event"] == "stream_url"]
        assert moved and moved[-1]["url"] == backup_url, moved

        listed = _streams_list(api, tmp_path / "cli-home")
        assert f"on backup {backup_url}" in listed, listed

        # Past the down threshold, counted from the main URL's death: still up.
        while time.monotonic() - died_at < DOWN_AFTER_S + 3:
            assert _stream(api, sid)["health"] == "up"
            time.sleep(0.5)
        assert _downs(db_url) == ([], [])

        _start_server(cluster, "main-server", main_port)  # back, same address
        until(lambda: on(main_url), 60, "the worker is back on the main URL")
        back = [e for e in events(cluster, "fo-w1") if e["event"] == "stream_url"]
        assert back[-1]["url"] == main_url and "again" in back[-1]["why"], back
        assert "on backup" not in _streams_list(api, tmp_path / "cli-home")
        assert _stream(api, sid)["health"] == "up"
        assert _downs(db_url) == ([], [])
