"""The mechanism: a second demo run in the same home finds its own stations.

The station server comes back on the same port when it is free, the cluster reads *this*
run's ready line from the appended log (not the first run's, which names the old port),
and the streams already in the database are pointed at this run's URLs.
(tests/e2e/test_demo_lifecycle.py runs the whole demo twice.)
"""

from __future__ import annotations

import socket
from pathlib import Path

from airtrack.db import Database
from airtrack.demo.cluster import port_or_free
from airtrack.demo.run import _point_streams
from airtrack.orchestrator.streams import list_streams
from airtrack.settings import load_settings
from tests.support.processes import new_cluster

#: Ports in stream URLs that nothing here listens on: only the URLs are compared.
FIRST_PORT, SECOND_PORT = 9, 19


def test_port_or_free_keeps_a_free_port_and_leaves_a_busy_one_to_port_0() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        busy.listen()
        assert port_or_free(port) == 0  # busy: the server binds port 0 and says which
    assert port_or_free(port) == port  # closed (never connected): free again
    assert port_or_free(0) == 0


def test_stations_restart_in_one_home_reports_this_runs_port(tmp_path: Path) -> None:
    home = tmp_path / "home"
    seen = []
    for _run in range(2):
        with new_cluster(home) as stations:
            port = port_or_free(seen[0]["port"]) if seen else None  # first run: port 0
            proc = stations.start_stations(stations=1, catalog_size=2, port=port, timeout=120)
            seen.append(proc.info)
            assert proc.info["pid"] == proc.pid, "the ready line is this run's"
    assert seen[1]["port"] == seen[0]["port"], "same port when it is free"
    assert (home / "logs" / "stations.log").read_text().count('"event": "ready"') == 2


async def test_streams_point_at_this_runs_stations(
    db_url: str, db: Database, tmp_path: Path
) -> None:
    settings = load_settings(home=tmp_path / "home", database_url=db_url)
    first = {
        "station1": f"http://127.0.0.1:{FIRST_PORT}/station1",
        "station2": f"http://127.0.0.1:{FIRST_PORT}/station2",
    }
    assert await _point_streams(settings, first) == []
    second = {m: u.replace(f":{FIRST_PORT}/", f":{SECOND_PORT}/") for m, u in first.items()}
    assert sorted(await _point_streams(settings, second)) == ["station1", "station2"]
    urls = {s["name"]: s["url"] for s in await list_streams(db)}
    assert urls == second
    assert await _point_streams(settings, second) == [], "no change, nothing moved"
