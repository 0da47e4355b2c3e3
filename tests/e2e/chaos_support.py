"""A whole airtrack system under chaos, and the invariants it must keep.

Shared by ``tests/e2e/test_chaos*.py`` and ``bench/bench_chaos.py``. Everything is real:
the embedded PostgreSQL, the built-in Icecast-style stations, orchestrator replicas and
worker processes (``airtrack.demo.cluster``), and a fault proxy process between one worker
and the orchestrator. Faults are signals to pids this module started.

Ground truth and what counts
----------------------------
Each station reports what it aired (``GET /truth/<mount>``) with wall-clock times. A
scenario has an *observation window* ``[fault − PRE_S, recovered + POST_S]``. An airing is
**expected** when all of these hold:

* it is a catalog song (``kind == "song"``) that aired entirely inside the window;
* it was audible for at least ``MIN_COVER_S`` seconds *continuously* while one healthy
  worker owned the stream under one epoch, counting from ``CONNECT_S`` seconds after that
  owner was first seen holding it (it needs to connect and fill its matcher). A worker is
  *unhealthy* while it is killed, stopped (SIGSTOP) or cut off by the fault proxy. While the
  orchestrator or the database is down the last ownership seen is assumed to hold: workers
  keep processing and queue plays in their outbox (R5.2), so nothing may be lost there.

A play **matches** an airing when it is on the same station, has the same title, and its
``[started_at, ended_at]`` overlaps the airing widened by ``SLACK_S`` on each side. An
expected airing with no matching play is **lost**; every airing (expected or not) with more
than one matching play counts the extra ones as **duplicated** (one airing, one play: rule 6
of the assignment protocol in docs/architecture.md). Plays that match no catalog airing at
all are reported as ``unmatched`` (recognition false positives, not a fencing issue).

Fencing (R3.3, protocol rule 4 in docs/architecture.md): in the ``plays`` table no
``(stream, epoch)`` has plays from two workers, and every play's worker is the owner the
sampler saw holding that epoch.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

from airtrack.db import ensure_server
from airtrack.db.embedded import start_server, stop_server
from airtrack.demo.catalog import write_catalog
from airtrack.demo.cluster import Proc
from airtrack.orchestrator.tokens import load_or_create_tokens
from airtrack.settings import load_settings
from airtrack.testing.faultproxy import FaultProxyProcess
from tests.e2e.icecast2_support import MISSING, Icecast2
from tests.support.processes import new_cluster
from tests.support.wait import until

CATALOG_SIZE = 12
PRE_S = 20.0
POST_S = 45.0
MIN_COVER_S = 20.0
CONNECT_S = 3.0
SLACK_S = 5.0
OWNED_WITHIN_S = 60.0
FLUSH_S = 12.0  # after the window: time for outboxes to deliver the last plays

#: Short timers so that a scenario takes seconds, not minutes (defaults come from the bench).
FAST_ENV = {
    "AIRTRACK_HEARTBEAT_INTERVAL_S": "1",
    "AIRTRACK_LEASE_TTL_S": "4",
    "AIRTRACK_CONTROL_TICK_S": "0.5",
    "AIRTRACK_START_GRACE_S": "3",
    "AIRTRACK_INACTIVE_AFTER_S": "60",
    "AIRTRACK_HTTP_TIMEOUT_S": "3",
    "AIRTRACK_BREAKER_OPEN_S": "3",
    # Faults trip recovery mode (R4.3), which freezes voluntary moves until it is quiet
    # this long; short, so that balance can be checked after each scenario.
    "AIRTRACK_RECOVERY_QUIET_S": "15",
}
DB_ERROR = re.compile(r"40P01|55P03|deadlock detected|lock timeout", re.IGNORECASE)


def now() -> float:
    return time.time()


def _ts(iso: str | None) -> float | None:
    if iso is None:
        return None
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def music_dir(cache: Path) -> Path:
    """The demo catalog as MP3 files, generated once into ``cache``."""
    folder = cache / "music"
    with open(cache / "music.lock", "w") as lock:  # xdist workers may share the cache
        fcntl.flock(lock, fcntl.LOCK_EX)
        if len(list(folder.glob("*.mp3"))) < CATALOG_SIZE:
            tmp = cache / "music.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            write_catalog(tmp, CATALOG_SIZE, "mp3")
            shutil.rmtree(folder, ignore_errors=True)
            tmp.rename(folder)
    return folder


# -- ownership over time ---------------------------------------------------------------


@dataclass
class Sample:
    t: float
    owners: dict[int, tuple[str, int, str]]  # stream → (worker, epoch, state)
    workers: dict[str, str]  # worker → state
    ok: bool  # the database answered
    api: bool = True  # the replica the workers use answered /healthz


@dataclass
class Impairment:
    worker: str
    t0: float
    t1: float = float("inf")


class Sampler(threading.Thread):
    """Reads ownership straight from the database every ``period_s`` (so it sees the truth
    while an orchestrator is down) and probes the API replica the workers use."""

    def __init__(self, system: System, period_s: float = 0.5) -> None:
        super().__init__(daemon=True, name="chaos-sampler")
        self.system, self.period_s = system, period_s
        self.samples: list[Sample] = []
        self.halt = threading.Event()
        self.lock = threading.Lock()

    def _read(self, conn: psycopg.Connection[Any]) -> tuple[dict[int, Any], dict[str, str]]:
        a = conn.execute("SELECT stream_id, worker_id, epoch, state FROM assignments").fetchall()
        w = conn.execute("SELECT id, state FROM workers").fetchall()
        return {r[0]: (r[1], r[2], r[3]) for r in a}, {r[0]: r[1] for r in w}

    def run(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        with httpx.Client(timeout=1) as http:
            while not self.halt.wait(self.period_s):
                t = now()
                api = False
                # KeyError: a replica being restarted has no URL until it reports one, and
                # that is the API being down, not a reason for the sampler to stop sampling.
                with contextlib.suppress(httpx.HTTPError, KeyError):
                    api = http.get(f"{self.system.api_url}/healthz").status_code == 200
                try:
                    if conn is None or conn.closed:
                        conn = psycopg.connect(
                            self.system.db_url, autocommit=True, connect_timeout=2
                        )
                    owners, workers = self._read(conn)
                    s = Sample(t, owners, workers, True, api)
                except psycopg.Error:
                    if conn is not None:
                        with contextlib.suppress(Exception):
                            conn.close()
                    conn = None
                    s = Sample(t, {}, {}, False, api)
                with self.lock:
                    self.samples.append(s)
        if conn is not None:
            conn.close()

    def snapshot(self) -> list[Sample]:
        with self.lock:
            return list(self.samples)

    def epoch_owners(self) -> dict[tuple[int, int], set[str]]:
        out: dict[tuple[int, int], set[str]] = {}
        for s in self.snapshot():
            for sid, (wid, ep, _state) in s.owners.items():
                if wid is not None:
                    out.setdefault((sid, ep), set()).add(wid)
        return out


# -- the system ------------------------------------------------------------------------


@dataclass
class SystemConfig:
    workers: int = 3
    capacity: int = 4
    stations: int = 4
    replicas: int = 1
    proxied_worker: str | None = "w3"  # this worker reaches the orchestrator via the proxy
    max_song_s: float = 35.0
    icecast2: bool = True  # add a real icecast2 mount fed by ffmpeg when both are installed
    env: dict[str, str] = field(default_factory=lambda: dict(FAST_ENV))
    stations_extra: list[str] = field(default_factory=list)


class System:
    """A running airtrack system with its own home; ``close()`` stops every process."""

    def __init__(self, config: SystemConfig, music: Path, home: Path | None = None) -> None:
        self.config = config
        self.music = music
        self.home = home or Path(tempfile.mkdtemp(prefix="airtrack-e2e-"))
        self.cluster = new_cluster(self.home, env=config.env)
        self.proxy: FaultProxyProcess | None = None
        self.icecast2: Icecast2 | None = None
        self.impairments: list[Impairment] = []
        self.sampler = Sampler(self)
        self.replicas: list[str] = []
        self.api_replica = ""
        self.db_url = ""
        self.mounts: dict[str, str] = {}
        self.truth_urls: dict[str, str] = {}
        self.stream_ids: dict[str, int] = {}
        self.admin_headers: dict[str, str] = {}
        self.started_at = 0.0

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> System:
        self.db_url = ensure_server(self.home)  # this process keeps the server attached
        settings = load_settings(home=self.home)
        env = {**os.environ, "AIRTRACK_HOME": str(self.home)}
        out = subprocess.run(
            [sys.executable, "-m", "airtrack", "catalog", "add", str(self.music)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if out.returncode != 0:
            raise RuntimeError(f"catalog add failed: {out.stdout[-1500:]} {out.stderr[-1500:]}")
        tokens = load_or_create_tokens(settings)
        self.admin_headers = {"Authorization": f"Bearer {tokens.admin}"}
        if self.config.stations:
            self.start_stations()
        if self.config.icecast2 and not MISSING:
            self.icecast2 = Icecast2(self.music, mounts=["live"]).start()
            self.mounts.update({f"ice-{m}": u for m, u in self.icecast2.urls.items()})
        for i in range(self.config.replicas):
            name = "orchestrator" if i == 0 else f"orchestrator-{i + 1}"
            self.cluster.start_orchestrator(name=name)
            self.replicas.append(name)
            if i == 0:
                self.wait_for(lambda: self.leader() == "orchestrator", 30, "first leader")
        self.api_replica = self.replicas[-1]
        with self.http() as http:
            have = {s["name"] for s in http.get("/api/v1/streams").json()}
            for mount, url in self.mounts.items():
                if mount not in have:
                    http.post(
                        "/api/v1/streams", json={"name": mount, "url": url}
                    ).raise_for_status()
            self.stream_ids = {s["name"]: s["id"] for s in http.get("/api/v1/streams").json()}
        if self.config.proxied_worker:
            self.proxy = FaultProxyProcess(upstream=("127.0.0.1", self.api_port))
            self.proxy.start()
        for i in range(self.config.workers):
            self.start_worker(f"w{i + 1}")
        self.sampler.start()
        self.started_at = now()
        self.wait_owned(90)
        return self

    def start_stations(self) -> None:
        extra = ["--no-hls", *self.config.stations_extra]
        if self.config.max_song_s:
            extra += ["--max-song-s", str(self.config.max_song_s)]
        st = self.cluster.start_stations(
            stations=self.config.stations, catalog_size=CATALOG_SIZE, extra=extra
        )
        self.mounts = dict(st.info["mounts"])
        self.truth_urls = dict(st.info["truth"])

    def close(self) -> None:
        self.sampler.halt.set()
        self.cluster.close()
        if self.proxy is not None:
            self.proxy.stop()
        if self.icecast2 is not None:
            self.icecast2.stop()
        if (self.home / "pg" / "postmaster.pid").exists():
            with contextlib.suppress(Exception):
                stop_server(self.home)

    # -- parts --------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return str(self.cluster.procs[self.api_replica].info["url"])

    @property
    def api_port(self) -> int:
        return int(self.cluster.procs[self.api_replica].info["port"])

    def http(self, url: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=url or self.api_url, headers=self.admin_headers, timeout=10)

    def worker_names(self) -> list[str]:
        return [n for n in self.cluster.procs if re.fullmatch(r"w\d+", n)]

    def start_worker(self, wid: str) -> Proc:
        via = self.api_url
        if wid == self.config.proxied_worker and self.proxy is not None:
            via = f"http://127.0.0.1:{self.proxy.port}"
        return self.cluster.start_worker(wid, capacity=self.config.capacity, orchestrator=via)

    def restart_replica(self, name: str) -> None:
        port = self.cluster.procs[name].info["port"]
        self.cluster.start_orchestrator(name=name, port=port)

    def leader(self) -> str | None:
        """Which replica runs the control loop (``airtrack_is_leader 1`` in /metrics)."""
        for name in self.replicas:
            proc = self.cluster.procs.get(name)
            if proc is None or not proc.alive():
                continue
            with contextlib.suppress(httpx.HTTPError):
                text = httpx.get(
                    f"{proc.info['url']}/metrics", headers=self.admin_headers, timeout=3
                ).text
                if re.search(r"^airtrack_is_leader 1(\.0)?$", text, re.MULTILINE):
                    return name
        return None

    # -- impairments ----------------------------------------------------------------------

    def impair(self, worker: str) -> Impairment:
        imp = Impairment(worker, now())
        self.impairments.append(imp)
        return imp

    def healthy(self, worker: str, t: float) -> bool:
        return not any(i.worker == worker and i.t0 <= t < i.t1 for i in self.impairments)

    # -- observations ---------------------------------------------------------------------

    def all_owned(self, s: Sample) -> bool:
        """Every stream is assigned to a healthy, active worker."""
        if not s.ok or not s.api or len(s.owners) < len(self.mounts):
            return False
        for wid, _ep, state in s.owners.values():
            if state != "assigned" or wid is None or not self.healthy(wid, s.t):
                return False
            if s.workers.get(wid) != "active":
                return False
        return True

    def wait_owned(self, timeout: float, since: float | None = None) -> float:
        """Seconds from ``since`` until a sample shows every stream owned; raises on timeout."""
        since = since or now()
        deadline = since + timeout
        while now() < deadline:
            for s in self.sampler.snapshot():
                if s.t >= since and self.all_owned(s):
                    return s.t - since
            time.sleep(0.3)
        last = self.sampler.snapshot()[-1:]
        raise AssertionError(f"streams not all owned within {timeout} s; last sample {last}")

    def loads(self) -> dict[str, int]:
        with self.http() as http:
            r = http.get("/api/v1/workers")
            r.raise_for_status()  # e.g. 503 while the orchestrator reconnects to the database
            workers = r.json()
        return {w["id"]: int(w["streams"]) for w in workers if w["state"] == "active"}

    def wait_balanced(self, timeout: float = 90.0) -> dict[str, int]:
        """Streams per active worker, once max − min ≤ 1 and every stream is owned."""
        deadline = now() + timeout
        loads: dict[str, int] = {}
        while now() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                loads = self.loads()
                s = self.sampler.snapshot()[-1]
                running = {w for w in self.worker_names() if self.cluster.procs[w].alive()}
                if (
                    loads
                    and running <= set(loads)
                    and max(loads.values()) - min(loads.values()) <= 1
                    and self.all_owned(s)
                ):
                    return loads
            time.sleep(1)
        raise AssertionError(f"not balanced within {timeout} s: {loads}")

    def wait_for(self, cond: Callable[[], bool], timeout: float, what: str) -> None:
        until(cond, timeout, what, step=0.3)

    def truth(self) -> dict[str, list[dict[str, Any]]]:
        """Per stream name: airings as ``{kind, title, start, end}`` (Unix seconds)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for m, u in self.truth_urls.items():
            out[m] = [
                {
                    "kind": a["kind"],
                    "title": a["title"],
                    "start": _ts(a["started_at"]),
                    "end": _ts(a["ended_at"]),
                }
                for a in httpx.get(u, timeout=10).json()["airings"]
            ]
        if self.icecast2 is not None:
            for mount in self.icecast2.mounts:
                out[f"ice-{mount}"] = self.icecast2.truth(mount)
        return out

    def harness_problems(self) -> list[str]:
        """Sources of ground truth that went off air (then "lost" plays are not airtrack's)."""
        if self.icecast2 is None:
            return []
        return [p for m in self.icecast2.mounts if (p := self.icecast2.feed_problem(m))]

    def ice_offsets(self) -> list[tuple[float, str, float]]:
        """Per ``ice-*`` play that matches an airing: (airing start, title, play start − airing
        start) — how well the measured ground truth lines up with what the workers heard."""
        out = []
        truth = self.truth()
        for p in self.plays():
            if not p["stream"].startswith("ice-"):
                continue
            hits = [
                a
                for a in truth.get(p["stream"], [])
                if a["title"] == p["title"] and abs(p["start"] - a["start"]) < SLACK_S + 15
            ]
            if hits:
                a = min(hits, key=lambda a: abs(p["start"] - a["start"]))
                out.append((a["start"], p["title"], p["start"] - a["start"]))
        return out

    def plays(self) -> list[dict[str, Any]]:
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            cur = conn.execute(
                "SELECT p.id, s.name, p.stream_id, p.epoch, p.worker_id, t.title, "
                "extract(epoch FROM p.started_at), extract(epoch FROM p.ended_at), p.confidence "
                "FROM plays p JOIN streams s ON s.id = p.stream_id "
                "LEFT JOIN tracks t ON t.id = p.track_id "
                # what the stations' ICY titles claimed is not what was heard: the
                # verdict is about fingerprint plays (metadata ones: docs/metadata.md)
                "WHERE p.source = 'fingerprint' ORDER BY p.started_at"
            )
            cols = ["id", "stream", "stream_id", "epoch", "worker", "title", "start", "end", "conf"]
            rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
        for r in rows:
            r["start"] = float(r["start"])
            r["end"] = float(r["end"]) if r["end"] is not None else None
        return rows

    def alerts(self) -> list[dict[str, Any]]:
        with self.http() as http:
            out: list[dict[str, Any]] = http.get("/api/v1/alerts", params={"all": "true"}).json()
        return out

    def log_lines(self, pattern: re.Pattern[str]) -> list[str]:
        """Lines of the orchestrator logs and of the PostgreSQL log matching ``pattern``."""
        hits = []
        paths = [self.cluster.logs / f"{r}.log" for r in self.replicas]
        paths += [p for p in (self.home / "pg").glob("log*") if p.is_file()]
        for path in paths:
            if path.exists():
                for line in path.read_text(errors="replace").splitlines():
                    if pattern.search(line):
                        hits.append(f"{path.name}: {line[:300]}")
        return hits

    def count_log(self, event: str, since_bytes: dict[str, int] | None = None) -> int:
        n = 0
        for r in self.replicas:
            path = self.cluster.logs / f"{r}.log"
            if path.exists():
                text = path.read_text(errors="replace")[(since_bytes or {}).get(r, 0) :]
                n += text.count(f'"event": "{event}"')
        return n

    def log_sizes(self) -> dict[str, int]:
        out = {}
        for r in self.replicas:
            path = self.cluster.logs / f"{r}.log"
            out[r] = path.stat().st_size if path.exists() else 0
        return out


# -- evaluation ------------------------------------------------------------------------


@dataclass
class Airing:
    stream: str
    title: str
    start: float
    end: float


@dataclass
class Verdict:
    expected: int
    logged: int
    lost: list[Airing]
    duplicated: list[tuple[Airing, list[dict[str, Any]]]]
    unmatched: list[dict[str, Any]]
    fencing: list[str]


def _owner_runs(system: System, samples: list[Sample], sid: int) -> list[tuple[float, float]]:
    """Intervals in which one healthy worker held ``sid`` under one epoch (minus CONNECT_S)."""
    runs: list[tuple[float, float]] = []
    cur: tuple[str, int] | None = None
    t0 = 0.0
    last = None
    for s in samples:
        if s.ok:
            o = s.owners.get(sid)
            last = (o[0], o[1]) if o and o[2] in ("assigned", "revoking") and o[0] else None
        owner = last if last and system.healthy(last[0], s.t) else None
        if owner != cur:
            if cur is not None:
                runs.append((t0 + CONNECT_S, s.t))
            cur, t0 = owner, s.t
    if cur is not None and samples:
        runs.append((t0 + CONNECT_S, samples[-1].t))
    return runs


def evaluate(system: System, w0: float, w1: float, streams: set[str] | None = None) -> Verdict:
    """Match plays to ground truth inside ``[w0, w1]`` (see the module docstring)."""
    samples = system.sampler.snapshot()
    truth = system.truth()
    plays = system.plays()
    if streams is not None:
        truth = {m: a for m, a in truth.items() if m in streams}
        plays = [p for p in plays if p["stream"] in streams]
    airings = [
        Airing(m, a["title"], a["start"], a["end"])
        for m, items in truth.items()
        for a in items
        if a["kind"] == "song"
    ]
    inside = [a for a in airings if a.start >= w0 and a.end <= w1]
    runs = {m: _owner_runs(system, samples, sid) for m, sid in system.stream_ids.items()}

    def covered(a: Airing) -> bool:
        return any(
            min(a.end, r1) - max(a.start, r0) >= MIN_COVER_S for r0, r1 in runs.get(a.stream, [])
        )

    def matches(a: Airing, p: dict[str, Any]) -> bool:
        end = p["end"] if p["end"] is not None else p["start"]
        return bool(
            p["stream"] == a.stream
            and p["title"] == a.title
            and p["start"] <= a.end + SLACK_S
            and end >= a.start - SLACK_S
        )

    expected = [a for a in inside if covered(a)]
    lost = [a for a in expected if not any(matches(a, p) for p in plays)]
    logged = sum(1 for a in expected if any(matches(a, p) for p in plays))
    dups = []
    for a in inside:
        hits = [p for p in plays if matches(a, p)]
        if len(hits) > 1:
            dups.append((a, hits))
    in_window = [p for p in plays if w0 <= p["start"] <= w1]
    unmatched = [p for p in in_window if not any(matches(a, p) for a in airings)]
    return Verdict(len(expected), logged, lost, dups, unmatched, fencing_errors(system, plays))


def fencing_errors(system: System, plays: list[dict[str, Any]]) -> list[str]:
    """No (stream, epoch) with plays from two workers; each play by the epoch's owner."""
    errors = []
    by_epoch: dict[tuple[int, int], set[str]] = {}
    for p in plays:
        by_epoch.setdefault((p["stream_id"], p["epoch"]), set()).add(p["worker"])
    for key, ws in by_epoch.items():
        if len(ws) > 1:
            errors.append(f"stream {key[0]} epoch {key[1]} has plays from {sorted(ws)}")
    owners = system.sampler.epoch_owners()
    for p in plays:
        seen = owners.get((p["stream_id"], p["epoch"]))
        if seen and p["worker"] not in seen:
            errors.append(
                f"play {p['id']} on stream {p['stream_id']} epoch {p['epoch']} by "
                f"{p['worker']}, but that epoch belonged to {sorted(seen)}"
            )
    return errors


# -- scenarios -------------------------------------------------------------------------


@dataclass
class ScenarioResult:
    name: str
    fault_at: float
    owned_after_s: float
    window: tuple[float, float]
    verdict: Verdict | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)
    balance: dict[str, int] = field(default_factory=dict)
    db_errors: list[str] = field(default_factory=list)
    stale_refused: int = 0
    notes: list[str] = field(default_factory=list)
    harness: list[str] = field(default_factory=list)  # the test rig broke, not airtrack

    def row(self) -> dict[str, Any]:
        v = self.verdict
        return {
            "scenario": self.name,
            "owned_again_s": round(self.owned_after_s, 1),
            "expected": v.expected if v else None,
            "logged": v.logged if v else None,
            "lost": len(v.lost) if v else None,
            "duplicated": sum(len(h) - 1 for _, h in v.duplicated) if v else None,
            "unmatched": len(v.unmatched) if v else None,
            "fencing_errors": len(v.fencing) if v else None,
            "stale_refused": self.stale_refused,
            "alerts": sorted({f"{a['severity']}:{a['kind']}" for a in self.alerts}),
            "balance": self.balance,
        }

    def problems(self) -> list[str]:
        """Every broken invariant, as text (empty when the scenario passed)."""
        out = []
        if self.owned_after_s > OWNED_WITHIN_S:
            out.append(f"streams owned again only after {self.owned_after_s:.1f} s")
        v = self.verdict
        if v is not None:
            out += [f"lost: {a}" for a in v.lost]
            out += [f"duplicated: {a} -> {h}" for a, h in v.duplicated]
            out += [f"fencing: {e}" for e in v.fencing]
        if self.balance and max(self.balance.values()) - min(self.balance.values()) > 1:
            out.append(f"unbalanced: {self.balance}")
        out += [f"db error: {e}" for e in self.db_errors]
        out += [f"harness: {e}" for e in self.harness]
        return out


class Scenario:
    """Run a fault, measure recovery, then judge the window (the shape of every scenario)."""

    def __init__(self, system: System, name: str, post_s: float = POST_S) -> None:
        self.system, self.name, self.post_s = system, name, post_s
        self.alerts_before: set[int] = set()
        self.log_before: dict[str, int] = {}
        self.fault_at = 0.0

    def __enter__(self) -> Scenario:
        s = self.system
        with contextlib.suppress(httpx.HTTPError):
            self.alerts_before = {a["id"] for a in s.alerts()}
        self.log_before = s.log_sizes()
        self.fault_at = now()
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def finish(self, owned_after_s: float, *, rebalance: bool = True) -> ScenarioResult:
        s = self.system
        balance = s.wait_balanced() if rebalance else {}
        w1 = now() + self.post_s
        time.sleep(self.post_s + FLUSH_S)
        w0 = self.fault_at - PRE_S
        res = ScenarioResult(self.name, self.fault_at, owned_after_s, (w0, w1))
        res.verdict = evaluate(s, w0, w1)
        res.balance = balance
        with contextlib.suppress(httpx.HTTPError):
            res.alerts = [a for a in s.alerts() if a["id"] not in self.alerts_before]
        res.db_errors = s.log_lines(DB_ERROR)
        res.stale_refused = s.count_log("plays.stale_refused", self.log_before)
        res.harness = s.harness_problems()
        return res


def run_worker_sigkill(s: System) -> ScenarioResult:
    """SIGKILL the busiest worker; its streams move; it comes back under the same id."""
    victim = max(s.loads().items(), key=lambda kv: kv[1])[0]
    with Scenario(s, "worker SIGKILL") as sc:
        imp = s.impair(victim)
        s.cluster.procs[victim].kill()
        owned = s.wait_owned(OWNED_WITHIN_S + 30, since=sc.fault_at)
        time.sleep(5)
        s.start_worker(victim)
        imp.t1 = now()
        return sc.finish(owned)


def run_worker_zombie(s: System, stop_s: float = 12.0) -> ScenarioResult:
    """SIGSTOP a worker for longer than the lease, then SIGCONT: a zombie wakes up."""
    victim = max(s.loads().items(), key=lambda kv: kv[1])[0]
    with Scenario(s, "worker SIGSTOP > lease, SIGCONT") as sc:
        imp = s.impair(victim)
        s.cluster.procs[victim].signal(signal.SIGSTOP)
        owned = s.wait_owned(OWNED_WITHIN_S + 30, since=sc.fault_at)
        time.sleep(max(0.0, sc.fault_at + stop_s - now()))
        s.cluster.procs[victim].signal(signal.SIGCONT)
        imp.t1 = now()
        res = sc.finish(owned)
        res.notes.append(f"{victim} stopped for {stop_s:.0f} s")
        return res


def run_blackhole(s: System, hold_s: float = 120.0) -> ScenarioResult:
    """Blackhole the proxied worker's link to the orchestrator for ``hold_s`` seconds."""
    assert s.proxy is not None and s.config.proxied_worker
    victim = s.config.proxied_worker
    with Scenario(s, f"blackhole worker↔orchestrator {hold_s:.0f} s") as sc:
        imp = s.impair(victim)
        s.proxy.set_mode("blackhole")
        owned = s.wait_owned(OWNED_WITHIN_S + 30, since=sc.fault_at)
        time.sleep(max(0.0, sc.fault_at + hold_s - now()))
        s.proxy.set_mode("reset")  # drop the stuck connections, then let traffic through
        time.sleep(0.5)
        s.proxy.set_mode("pass")
        imp.t1 = now()
        return sc.finish(owned)


def run_orchestrator_restart(s: System, down_s: float = 8.0) -> ScenarioResult:
    """SIGKILL the orchestrator the workers talk to; start it again on the same port."""
    name = s.api_replica
    with Scenario(s, "orchestrator SIGKILL + restart") as sc:
        s.cluster.procs[name].kill()
        time.sleep(down_s)
        s.restart_replica(name)
        owned = s.wait_owned(OWNED_WITHIN_S + 30, since=sc.fault_at)
        return sc.finish(owned)


def run_leader_failover(s: System) -> ScenarioResult:
    """SIGKILL the leader replica and a worker together: the other replica must take over
    the control loop and move the dead worker's streams."""
    leader = s.leader()
    assert leader is not None, "no leader"
    victim = max(s.loads().items(), key=lambda kv: kv[1])[0]
    with Scenario(s, "leader failover (2 replicas) + worker SIGKILL") as sc:
        imp = s.impair(victim)
        s.cluster.procs[leader].kill()
        s.cluster.procs[victim].kill()
        if leader == s.api_replica:  # the workers' replica: bring it back at once
            s.restart_replica(leader)
        owned = s.wait_owned(OWNED_WITHIN_S + 30, since=sc.fault_at)
        new_leader = s.leader()
        s.start_worker(victim)
        imp.t1 = now()
        if leader != s.api_replica:
            s.restart_replica(leader)
        res = sc.finish(owned)
        res.notes.append(f"leader {leader} killed; new leader {new_leader}")
        return res


def run_pg_restart(s: System, down_s: float = 8.0) -> ScenarioResult:
    """Stop the embedded PostgreSQL (fast shutdown), keep it down, start it again."""
    with Scenario(s, "PostgreSQL restart") as sc:
        stop_server(s.home)
        time.sleep(down_s)
        start_server(s.home)
        owned = s.wait_owned(OWNED_WITHIN_S + 30, since=sc.fault_at)
        return sc.finish(owned)


def run_worker_join(s: System) -> ScenarioResult:
    """A new worker joins while every stream is busy: streams move to it, no airing doubles."""
    n = len(s.worker_names()) + 1
    wid = f"w{n}"
    with Scenario(s, "worker joins under load") as sc:
        s.start_worker(wid)
        s.wait_for(lambda: s.loads().get(wid, 0) >= 1, OWNED_WITHIN_S, f"{wid} takes a stream")
        owned = s.wait_owned(OWNED_WITHIN_S, since=sc.fault_at)
        return sc.finish(owned)


SCENARIOS: dict[str, Callable[[System], ScenarioResult]] = {
    "worker_sigkill": run_worker_sigkill,
    "worker_zombie": run_worker_zombie,
    "orchestrator_restart": run_orchestrator_restart,
    "leader_failover": run_leader_failover,
    "pg_restart": run_pg_restart,
    "blackhole": run_blackhole,
    "blackhole_short": lambda s: run_blackhole(s, 25.0),
    "worker_join": run_worker_join,
}


def table(results: list[ScenarioResult]) -> str:
    """A Markdown table of scenario results."""
    head = (
        "| scenario | owned again (s) | expected | logged | lost | duplicated | unmatched "
        "| fencing errors | stale refused | alerts raised | balance after |"
    )
    lines = [head, "|" + "---|" * 11]
    for r in results:
        x = r.row()
        lines.append(
            f"| {x['scenario']} | {x['owned_again_s']} | {x['expected']} | {x['logged']} "
            f"| {x['lost']} | {x['duplicated']} | {x['unmatched']} | {x['fencing_errors']} "
            f"| {x['stale_refused']} | {', '.join(x['alerts']) or '–'} "
            f"| {' '.join(f'{k}:{v}' for k, v in sorted(x['balance'].items())) or '–'} |"
        )
    return "\n".join(lines)


@contextlib.contextmanager
def running_system(config: SystemConfig, cache: Path) -> Iterator[System]:
    system = System(config, music_dir(cache))
    try:
        system.start()
        yield system
    finally:
        system.close()
        if not os.environ.get("AIRTRACK_E2E_KEEP"):
            shutil.rmtree(system.home, ignore_errors=True)


def dump(results: list[ScenarioResult]) -> str:
    return json.dumps([r.row() for r in results], indent=1)
