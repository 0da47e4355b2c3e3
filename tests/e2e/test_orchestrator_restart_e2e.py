"""Restarting the only orchestrator costs nothing, with real processes and the DEFAULT
lease, heartbeat, tick and breaker settings: an orchestrator, an `airtrack worker`, a
demo station on loopback.

The orchestrator is stopped (SIGTERM) for about 7 s, as for an upgrade, and started
again on the same port and database. Past a whole lease after that, the worker still
owns its stream with the same epoch, never restarted its pipeline nor registered
again, the new leader expired nobody, and the coverage report shows no gap after the
stream was first monitored. Listens in real time for about a minute and a half, so
it is slow; tests/integration/test_leader_grace.py checks the grace in seconds.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from airtrack.demo.cluster import Cluster, free_port
from airtrack.settings import load_settings
from tests.integration.test_worker_e2e_support import ADMIN, WORKER, Api, events, until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

OUTAGE_S = 7.0
WID = "restart-w1"


def _stream(api: Api, sid: int) -> dict[str, Any]:
    (row,) = [s for s in api.call("GET", "/streams") if s["id"] == sid]
    return dict(row)


def _gaps_after(api: Api, since: float) -> list[dict[str, Any]]:
    """Coverage gaps of today (and yesterday, around midnight) that end after ``since``."""
    today = datetime.now(UTC).date()
    params = {
        "format": "json",
        "stream": "radio",
        "tz": "UTC",
        "from": (today - timedelta(days=1)).isoformat(),
        "to": today.isoformat(),
    }
    rows: list[dict[str, Any]] = api.call("GET", "/reports/coverage", params=params)
    if isinstance(rows, dict):  # {"rows": [...]} or the like
        rows = next(v for v in rows.values() if isinstance(v, list))
    return [
        r
        for r in rows
        if r.get("gap_end") and datetime.fromisoformat(r["gap_end"]).timestamp() > since + 1
    ]


def test_orchestrator_restart_keeps_owners_epochs_pipelines_and_coverage(
    tmp_path: Path, db_url: str
) -> None:
    defaults = load_settings()
    lease, beat = defaults.lease_ttl_s, defaults.heartbeat_interval_s
    env = {
        "AIRTRACK_DATABASE_URL": db_url,
        "AIRTRACK_ADMIN_TOKEN": ADMIN,
        "AIRTRACK_WORKER_TOKEN": WORKER,
    }
    t0 = time.monotonic()
    with Cluster(tmp_path / "home", env=env) as cluster:
        station = cluster.start_stations(
            stations=1, seed=5, catalog_size=2, name="station", extra=["--no-hls"]
        )
        port = free_port()
        api = Api(cluster.start_orchestrator(port=port).info["url"])
        sid = api.add_stream("radio", str(station.info["mounts"]["station1"]))
        cluster.start_worker(WID, capacity=2)
        until(
            lambda: (
                api.owners().get(sid, (None,))[0] == WID
                and _stream(api, sid)["capture_status"] == "running"
            ),
            3 * beat + 30,
            "the worker owns the stream and reports it running",
        )
        monitored_from = time.time()
        print(f"monitored after {time.monotonic() - t0:.1f} s")
        before = api.owners()[sid]

        cluster.procs["orchestrator"].stop()  # SIGTERM, as an upgrade does
        time.sleep(OUTAGE_S)  # the outage itself
        cluster.start_orchestrator(name="orchestrator-again", port=port)
        back_at = time.monotonic()
        print(f"back after {back_at - t0:.1f} s")

        # Past a whole lease (and a heartbeat, and a few ticks) of the new leader: the
        # worker is heard within the grace, so nothing is ever expired or moved.
        while time.monotonic() - back_at < lease + beat + 3 * defaults.control_tick_s:
            assert api.owners()[sid] == before, "the stream moved or changed epoch"
            time.sleep(1.0)
        assert api.owners()[sid] == before
        assert _stream(api, sid)["capture_status"] == "running"

        workers = {w["id"]: w for w in api.call("GET", "/workers")}
        assert workers[WID]["state"] == "active"
        orch = [e["event"] for e in events(cluster, "orchestrator-again")]
        assert "worker.suspect" not in orch and "leader.grace" in orch, orch
        evs = events(cluster, WID)
        starts = [e for e in evs if e["event"] == "stream_start"]
        assert len(starts) == 1, f"the pipeline restarted: {starts}"
        assert [e["event"] for e in evs].count("worker_registered") == 1
        assert not [e for e in evs if e["event"] == "stream_stop"]

        gaps = _gaps_after(api, monitored_from)
        assert gaps == [], f"coverage shows a gap while the worker captured: {gaps}"
        httpx.get(f"{api.url}/healthz", timeout=5).raise_for_status()
