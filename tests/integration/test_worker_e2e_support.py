"""Shared pieces of the worker end-to-end tests: real processes, real HTTP, real audio.

A demo catalog is rendered once per session and ingested with ``airtrack catalog add``
into a database that each test clones (``CREATE DATABASE … TEMPLATE``). The built-in
Icecast-style server plays those songs (short airings) on a few mounts, with MP3 and
HLS; the orchestrator and workers run as subprocesses (:class:`airtrack.demo.cluster`)
and write JSON logs that the tests read as events. No test functions live here.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from airtrack.demo.catalog import write_catalog
from airtrack.demo.cluster import Cluster
from tests.support.processes import new_cluster, run
from tests.support.shared import shared_dir
from tests.support.wait import until

__all__ = ["until"]  # re-exported: the e2e tests import it from here

ADMIN = "e2e-admin-token"
WORKER = "e2e-worker-token"
CATALOG_SIZE = 6
MAX_SONG_S = 15.0  # short airings: several songs per minute on each mount


def _with_db(url: str, dbname: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = dbname
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in info.items() if v is not None})


@pytest.fixture(scope="session")
def catalog_songs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo catalog as MP3s, rendered once per run (shared by the xdist workers)."""
    return shared_dir(
        tmp_path_factory, "e2e-songs", lambda folder: write_catalog(folder, CATALOG_SIZE, "mp3")
    )


@pytest.fixture(scope="session")
def catalog_template(
    pg_server_url: str,
    pg_template: str,
    pg_template_name: str,
    catalog_songs: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """A migrated database holding the demo catalog (added by the real CLI)."""
    name = "wkcat_" + uuid.uuid4().hex[:10]
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {pg_template_name}")
    env = {
        **os.environ,
        "AIRTRACK_HOME": str(tmp_path_factory.mktemp("e2e-catalog-home")),
        "AIRTRACK_DATABASE_URL": _with_db(pg_server_url, name),
    }
    proc = run(
        [sys.executable, "-m", "airtrack", "catalog", "add", str(catalog_songs)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    yield name
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def e2e_db(pg_server_url: str, catalog_template: str) -> Iterator[str]:
    """A fresh database with the catalog, for one test's orchestrator."""
    name = "wk_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {catalog_template}")
    yield _with_db(pg_server_url, name)
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def stations(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The station server (3 mounts, MP3 + HLS); its ready line: mounts, hls, truth URLs."""
    server = new_cluster(tmp_path_factory.mktemp("e2e-stations"))
    try:
        proc = server.start_stations(
            stations=3,
            seed=1,
            catalog_size=CATALOG_SIZE,
            extra=["--max-song-s", str(MAX_SONG_S)],
        )
        yield proc.info
    finally:
        server.close()


def cluster_env(db_url: str, **extra: str) -> dict[str, str]:
    env = {
        "AIRTRACK_DATABASE_URL": db_url,
        "AIRTRACK_ADMIN_TOKEN": ADMIN,
        "AIRTRACK_WORKER_TOKEN": WORKER,
        "AIRTRACK_HEARTBEAT_INTERVAL_S": "1",
        "AIRTRACK_LEASE_TTL_S": "60",
        "AIRTRACK_INACTIVE_AFTER_S": "120",
        "AIRTRACK_CONTROL_TICK_S": "0.5",
        "AIRTRACK_START_GRACE_S": "0",
        "AIRTRACK_HTTP_TIMEOUT_S": "3",
        "AIRTRACK_BREAKER_OPEN_S": "1",
        # airings of at most MAX_SONG_S between 3-s jingles: more title changes a minute
        # than a real station makes, every one of them ground truth
        "AIRTRACK_TITLE_CHANGES_PER_MIN": "60",
    }
    env.update(extra)
    return env


@dataclass
class Api:
    """Admin calls to the real orchestrator."""

    url: str

    def call(self, method: str, path: str, **kw: Any) -> Any:
        r = httpx.request(
            method,
            f"{self.url}/api/v1{path}",
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=10,
            **kw,
        )
        r.raise_for_status()
        return r.json()

    def add_stream(self, name: str, url: str) -> int:
        return int(self.call("POST", "/streams", json={"name": name, "url": url})["id"])

    def plays(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self.call("GET", "/plays", params={"limit": 1000})
        return out

    def owners(self) -> dict[int, tuple[str | None, int, str]]:
        rows = self.call("GET", "/assignments")
        return {int(a["stream_id"]): (a["worker_id"], int(a["epoch"]), a["state"]) for a in rows}


def events(cluster: Cluster, name: str) -> list[dict[str, Any]]:
    """The JSON log events of one cluster process, in order."""
    path = cluster.logs / f"{name}.log"
    out = []
    if not path.exists():
        return out
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def outbox_rows(home: Path, worker_id: str) -> list[dict[str, Any]]:
    """The plays waiting in a worker's durable outbox (read-only look at its SQLite file)."""
    path = home / f"worker-{worker_id}" / "outbox.sqlite"
    if not path.exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT * FROM plays ORDER BY seq").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()
    return [dict(r) for r in rows]


def truth(url: str) -> list[dict[str, Any]]:
    airings: list[dict[str, Any]] = httpx.get(url, timeout=10).json()["airings"]
    return [a for a in airings if a["kind"] == "song"]


def ts(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def check_plays(
    plays: list[dict[str, Any]],
    aired: list[dict[str, Any]],
    *,
    listening_from: float,
    settled_by: float,
    start_tol_s: float,
    end_tol_s: float,
) -> int:
    """Every catalog airing heard whole and settled is one play with the right title and
    times; every play is an airing of its title. Returns the number of airings checked."""
    checked = 0
    for a in aired:
        if ts(a["started_at"]) < listening_from or ts(a["ended_at"]) > settled_by:
            continue
        hits = [
            p
            for p in plays
            if p["title"] == a["title"]
            and ts(p["started_at"]) < ts(a["ended_at"])
            and (p["ended_at"] is None or ts(p["ended_at"]) > ts(a["started_at"]))
        ]
        assert len(hits) == 1, f"airing {a} → plays {hits}"
        p = hits[0]
        assert abs(ts(p["started_at"]) - ts(a["started_at"])) <= start_tol_s, (a, p)
        assert p["ended_at"] is not None, (a, p)
        assert abs(ts(p["ended_at"]) - ts(a["ended_at"])) <= end_tol_s, (a, p)
        checked += 1
        print(  # shown with -s / on failure: how close the worker got
            f"{p['stream']}: {a['title']} start {ts(p['started_at']) - ts(a['started_at']):+.1f} s"
            f" end {ts(p['ended_at']) - ts(a['ended_at']):+.1f} s"
        )
    for p in plays:
        assert any(
            a["title"] == p["title"]
            and ts(p["started_at"]) < ts(a["ended_at"]) + 2
            and ts(p["ended_at"] or p["started_at"]) > ts(a["started_at"]) - 2
            for a in aired
        ), f"play of something that did not air: {p}"
    return checked
