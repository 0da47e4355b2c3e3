"""End to end: the demo stations' titles (right, wrong, absent, cp1252)
through a real worker and orchestrator, classified by the metadata-check report
against the stations' ground truth."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from airtrack.demo.cluster import Cluster
from airtrack.metadata.match import looks_like_song, matches
from tests.integration import test_worker_e2e_support as support
from tests.integration.test_worker_e2e_support import Api, cluster_env, events, ts, until
from tests.support.processes import new_cluster

# Slow tier: it listens to real-time stations until enough titles aired, and matching
# titles to airings needs a machine that keeps up. The default tier shows the same parts
# faster: the classification (test_metadata_check.py::test_each_airing_is_classified),
# titles from a real worker (test_worker_titles.py), cp1252 ICY titles
# (tests/unit/test_metadata_icy.py).
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

catalog_songs = support.catalog_songs
catalog_template = support.catalog_template
e2e_db = support.e2e_db
stations = support.stations

#: Listen until this many airings the report can be checked on aired whole, however
#: long that takes, up to ``LISTEN_MAX_S``.
CHECKABLE_AIRINGS = 6
LISTEN_MAX_S = 150.0
WARM_UP_S = 10.0


def _expected(a: dict[str, Any]) -> str | None:
    """The class the truth says an airing deserves (None: not an airing to check)."""
    said = a["icy_title"]
    if a["kind"] == "song":
        if matches(said, a["artist"], a["title"], 0.8):
            return "confirmed"
        return "mismatch" if looks_like_song(said) else "fingerprint_only"
    if a["kind"] == "other" and looks_like_song(said):
        return "metadata_only"
    return None


def test_the_report_classifies_the_demo_stations_titles(
    tmp_path: Path, e2e_db: str, stations: dict[str, Any]
) -> None:
    mounts = ("station1", "station2")  # station2 writes its titles in cp1252
    with new_cluster(tmp_path / "home", env=cluster_env(e2e_db)) as cluster:
        api = Api(cluster.start_orchestrator().info["url"])
        for m in mounts:
            api.add_stream(m, stations["mounts"][m])
        cluster.start_worker("e2e-t1", capacity=5)

        def running() -> bool:
            ok = [e for e in events(cluster, "e2e-t1") if e["event"] == "stream_status"]
            return len({e["stream_id"] for e in ok if e.get("status") == "running"}) == 2

        until(running, 60, "the worker runs both streams")
        t0 = time.time() + WARM_UP_S  # judge what airs once the stream has warmed up

        def aired_enough() -> bool:
            settled = time.time() - 10.0  # the report's window ends 5 s before the stop
            checkable = [
                a
                for m in mounts
                for a in httpx.get(stations["truth"][m], timeout=10).json()["airings"]
                if _expected(a) is not None
                and ts(a["started_at"]) >= t0
                and ts(a["ended_at"]) <= settled
            ]
            return len(checkable) >= CHECKABLE_AIRINGS

        until(aired_enough, LISTEN_MAX_S, "airings to classify", step=1.0)
        assert cluster.procs["e2e-t1"].stop() == 0
        t1 = time.time() - 5.0
        frm = datetime.fromtimestamp(t0, UTC).isoformat()
        to = datetime.fromtimestamp(t1, UTC).isoformat()
        rows = api.call(
            "GET", "/reports/metadata-check", params={"from": frm, "to": to, "format": "json"}
        )
        assert {e["encoding"] for e in _titles(cluster)} >= {"utf-8", "cp1252"}
    checked: dict[str, int] = {}
    for m in mounts:
        aired = httpx.get(stations["truth"][m], timeout=10).json()["airings"]
        mine = [r for r in rows if r["station"] == m]
        assert mine, f"nothing classified on {m}"
        for r in mine:
            start, end = ts(r["start_utc"]), ts(r["end_utc"])
            # the airing the row is about: the one it overlaps most
            best = max(aired, key=lambda a: _overlap(a, start, end))
            want = _expected(best)
            if want is None or _overlap(best, start, end) < 0.6 * (end - start):
                continue  # a row straddling two airings: too close to call
            assert r["class"] == want, (m, r, best)
            checked[want] = checked.get(want, 0) + 1
    assert sum(checked.values()) >= 3, (checked, rows)


def _overlap(a: dict[str, Any], start: float, end: float) -> float:
    return max(0.0, min(ts(a["ended_at"]), end) - max(ts(a["started_at"]), start))


def _titles(cluster: Cluster) -> list[dict[str, Any]]:
    return [e for e in events(cluster, "e2e-t1") if e["event"] == "stream_title"]
