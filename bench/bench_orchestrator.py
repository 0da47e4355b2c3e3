"""Orchestrator benchmark: balancer, heartbeats/s, plays recorded/s, failover times.

Run: .venv/bin/python bench/bench_orchestrator.py [--quick] [--only PART] [--seconds S]
(PART: balancer, heartbeats, plays, failover; repeat --only to pick several).

Starts a private embedded PostgreSQL and a real `airtrack orchestrator` process,
drives it with simulated workers (plain HTTP), measures heartbeats with `wrk`
(apt package `wrk`; installed on demand), measures plays through POST /api/v1/plays
in batches of 50 from simulated workers that own their streams (bench/_plays.py),
and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from airtrack.db.embedded import ensure_server  # noqa: E402
from airtrack.demo.cluster import free_port  # noqa: E402
from airtrack.orchestrator.balancer import WorkerSlot, balance  # noqa: E402
from bench._plays import BATCH, SONG_S, TRACKS, ownership, run_plays  # noqa: E402

ADMIN, WORKER = "bench-admin", "bench-worker"


def bench_balancer(rows: list[tuple[str, str, str]]) -> None:
    streams = list(range(10_000))
    workers = [WorkerSlot(f"w{i:03d}", 40) for i in range(500)]
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        plan = balance(streams, workers, {})
        times.append(time.perf_counter() - t0)
    rows.append(
        (
            "balancer 10,000 streams × 500 workers, from empty",
            f"{statistics.median(times) * 1000:.1f} ms",
            "≤ 100 ms",
        )
    )
    current: dict[int, str | None] = dict(plan.target)
    joined = [*workers, WorkerSlot("w500", 40)]
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        plan2 = balance(streams, joined, current)
        times.append(time.perf_counter() - t0)
    rows.append(
        (
            "balancer join to balanced 10,000 × 500",
            f"{statistics.median(times) * 1000:.1f} ms, {len(plan2.moves)} moves",
            "moves = ⌊10,000/501⌋ = 19",
        )
    )


class Orchestrator:
    def __init__(self, home: Path, url: str, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(home / "orchestrator.log", "w")  # noqa: SIM115
        full = {
            **os.environ,
            "AIRTRACK_DATABASE_URL": url,
            "AIRTRACK_HOME": str(home),
            "AIRTRACK_ADMIN_TOKEN": ADMIN,
            "AIRTRACK_WORKER_TOKEN": WORKER,
            "AIRTRACK_LOG_LEVEL": "WARNING",
            # the bench registers hundreds of simulated workers in seconds
            "AIRTRACK_WORKER_NEW_IDS_PER_MIN": "100000",
            **env,
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "airtrack", "orchestrator", "--port", str(self.port)],
            env=full,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("orchestrator did not start")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


async def setup_fleet(url: str, workers: int, streams: int) -> dict[str, str]:
    """Register workers, add streams, converge; return each worker's heartbeat body."""
    admin = {"Authorization": f"Bearer {ADMIN}"}
    auth = {"Authorization": f"Bearer {WORKER}"}
    bodies: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=url, timeout=60) as c:
        for i in range(streams):
            await c.post(
                "/api/v1/streams",
                headers=admin,
                json={"name": f"b{i}", "url": f"http://127.0.0.1:9/{i}"},
            )
        running: dict[str, dict[int, int]] = {}
        for i in range(workers):
            wid = f"bench-w{i}"
            r = await c.post(
                "/api/v1/workers/register",
                headers=auth,
                json={"worker_id": wid, "capacity": streams // workers + 5},
            )
            running[wid] = {a["stream_id"]: a["epoch"] for a in r.json()["assignments"]}
        for _ in range(6):
            await asyncio.sleep(1.0)
            for wid in running:
                body = {
                    "streams": [
                        {"stream_id": s, "epoch": e, "status": "running"}
                        for s, e in running[wid].items()
                    ]
                }
                r = await c.post(f"/api/v1/workers/{wid}/heartbeat", headers=auth, json=body)
                running[wid] = {a["stream_id"]: a["epoch"] for a in r.json()["assignments"]}
        import json as _json

        for wid, m in running.items():
            bodies[wid] = _json.dumps(
                {
                    "streams": [
                        {"stream_id": s, "epoch": e, "status": "running"} for s, e in m.items()
                    ]
                }
            )
    return bodies


def write_lua(path: Path, bodies: dict[str, str]) -> None:
    lines = ["local bodies = {"]
    for wid, body in bodies.items():
        lines.append(f"  {{'{wid}', [[{body}]]}},")
    lines += [
        "}",
        "local counter = 0",
        "function setup(thread) thread:set('base', counter); counter = counter + 1 end",
        "function init(args) n = 0 end",
        "function request()",
        "  n = n + 1",
        "  local b = bodies[((base * 7919 + n) % #bodies) + 1]",
        "  return wrk.format('POST', '/api/v1/workers/' .. b[1] .. '/heartbeat',",
        f"    {{['Content-Type'] = 'application/json', ['Authorization'] = 'Bearer {WORKER}'}},",
        "    b[2])",
        "end",
    ]
    path.write_text("\n".join(lines))


def run_wrk(url: str, lua: Path, seconds: int, connections: int) -> tuple[float, str, str, int]:
    if shutil.which("wrk") is None:
        print("installing wrk (apt-get install wrk)…", file=sys.stderr)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "wrk"], check=True, stdout=subprocess.DEVNULL
        )
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(lua), url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"\s50%\s+(\S+)", out).group(1)  # type: ignore[union-attr]
    p99 = re.search(r"\s99%\s+(\S+)", out).group(1)  # type: ignore[union-attr]
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p50, p99, int(m.group(1)) if m else 0


async def failover(url: str, db_url: str, graceful: bool, streams: int, timeout: float) -> float:
    """Seconds from a worker's death (or deregister) until its streams are owned elsewhere."""
    admin = {"Authorization": f"Bearer {ADMIN}"}
    auth = {"Authorization": f"Bearer {WORKER}"}
    tag = "g" if graceful else "k"
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        for i in range(streams):
            await c.post(
                "/api/v1/streams",
                headers=admin,
                json={"name": f"f{tag}{i}", "url": f"http://127.0.0.1:9/f{tag}{i}"},
            )
        ids = [f"f{tag}-w{i}" for i in range(3)]
        running: dict[str, dict[int, int]] = {w: {} for w in ids}

        async def beat(wid: str) -> None:
            body = {"streams": [{"stream_id": s, "epoch": e} for s, e in running[wid].items()]}
            r = await c.post(f"/api/v1/workers/{wid}/heartbeat", headers=auth, json=body)
            if r.status_code == 200:
                running[wid] = {a["stream_id"]: a["epoch"] for a in r.json()["assignments"]}

        for wid in ids:
            await c.post(
                "/api/v1/workers/register", headers=auth, json={"worker_id": wid, "capacity": 1000}
            )
        settle_until = time.monotonic() + 60
        while time.monotonic() < settle_until:
            for wid in ids:
                await beat(wid)
            if all(running[w] for w in ids) and sum(len(m) for m in running.values()) >= streams:
                break
            await asyncio.sleep(0.5)
        victim = ids[0]
        mine = set(running[victim])
        if not mine:
            raise RuntimeError("the victim never received streams: cannot measure failover")
        t0 = time.monotonic()
        if graceful:
            await c.post(f"/api/v1/workers/{victim}/deregister", headers=auth)
        result = float("nan")
        while time.monotonic() - t0 < timeout:
            with psycopg.connect(db_url) as conn:
                rows = conn.execute(
                    "SELECT stream_id, worker_id FROM assignments WHERE state = 'assigned' "
                    "AND stream_id = ANY(%s)",
                    (list(mine),),
                ).fetchall()
            if len(rows) == len(mine) and all(w != victim for _, w in rows):
                result = time.monotonic() - t0
                break
            for wid in ids[1:]:
                await beat(wid)
            await asyncio.sleep(0.1)
        for wid in ids[1:]:  # leave cleanly so the next measurement starts from a clean fleet
            await c.post(f"/api/v1/workers/{wid}/deregister", headers=auth)
        return result


def fresh_db(server: str, name: str) -> str:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server.replace("/postgres?", f"/{name}?")


def add_tracks(db_url: str, n: int) -> list[int]:
    """Catalog rows for the plays to name (no audio needed: nothing is recognised)."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "INSERT INTO tracks (title, artist, source, duration_s, content_sha256) "
            "SELECT 'bench ' || i, 'bench', 'bench.mp3', %s, md5('bench' || i) "
            "FROM generate_series(1, %s) AS i RETURNING id",
            (SONG_S, n),
        ).fetchall()
    return [int(r[0]) for r in rows]


def bench_heartbeats(
    rows: list[tuple[str, str, str]], server: str, home: Path, args: argparse.Namespace
) -> None:
    orch = Orchestrator(home, fresh_db(server, "bench"))
    try:
        bodies = asyncio.run(setup_fleet(orch.url, args.workers, args.streams))
        lua = home / "hb.lua"
        write_lua(lua, bodies)
        secs = round(args.seconds) or (5 if args.quick else 15)  # wrk takes whole seconds
        for conns in (16, 64):
            rps, p50, p99, bad = run_wrk(orch.url, lua, secs, conns)
            rows.append(
                (
                    f"heartbeats/s, {args.workers} workers × "
                    f"{args.streams // args.workers} streams, {conns} connections",
                    f"{rps:.0f}/s  p50 {p50}  p99 {p99}  non-2xx {bad}",
                    "≥ 1,000/s at p99 ≤ 50 ms",
                )
            )
    finally:
        orch.stop()


def bench_plays(
    rows: list[tuple[str, str, str]], server: str, home: Path, args: argparse.Namespace
) -> None:
    db_url = fresh_db(server, "plays")
    orch = Orchestrator(home, db_url)
    try:
        workers = 20
        bodies = asyncio.run(setup_fleet(orch.url, workers, workers * 10))
        tracks = add_tracks(db_url, TRACKS)
        secs = args.seconds or (5 if args.quick else 15)
        for conns in (4, 16):
            res = asyncio.run(
                run_plays(
                    orch.url, WORKER, ownership(bodies), tracks, conns, secs, max_batches=20_000
                )
            )
            rows.append(
                (
                    f"plays recorded/s, batches of {BATCH}, {conns} workers posting at once",
                    res.summary(),
                    "—",
                )
            )
    finally:
        orch.stop()


def bench_failover(
    rows: list[tuple[str, str, str]], server: str, home: Path, args: argparse.Namespace
) -> None:
    db_url = fresh_db(server, "failover")  # a fleet of its own, defaults
    orch = Orchestrator(home, db_url)  # default lease 30 s, tick 2 s
    try:
        g = asyncio.run(failover(orch.url, db_url, True, 30, 30))
        rows.append(("graceful leave → streams owned elsewhere (defaults)", f"{g:.2f} s", "≤ 2 s"))
        if not args.quick:
            k = asyncio.run(failover(orch.url, db_url, False, 30, 90))
            rows.append(
                (
                    "worker killed → streams owned elsewhere (defaults: lease 30 s)",
                    f"{k:.1f} s",
                    "≤ 40 s",
                )
            )
    finally:
        orch.stop()


PARTS = ("balancer", "heartbeats", "plays", "failover")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="shorter runs")
    ap.add_argument("--workers", type=int, default=200)
    ap.add_argument("--streams", type=int, default=2000)
    ap.add_argument(
        "--only", action="append", choices=PARTS, help="run only this part (repeatable)"
    )
    ap.add_argument(
        "--seconds", type=float, default=0, help="duration of each load run (default 15, 5 quick)"
    )
    args = ap.parse_args()
    parts = set(args.only or PARTS)
    rows: list[tuple[str, str, str]] = []
    if "balancer" in parts:
        bench_balancer(rows)
    home = Path(tempfile.mkdtemp(prefix="airtrack-bench-"))
    try:
        if parts & {"heartbeats", "plays", "failover"}:
            server = ensure_server(home)
            if "heartbeats" in parts:
                bench_heartbeats(rows, server, home, args)
            if "plays" in parts:
                bench_plays(rows, server, home, args)
            if "failover" in parts:
                bench_failover(rows, server, home, args)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{width}}  {'result':<48}  target")
    print("-" * (width + 70))
    for name, result, target in rows:
        print(f"{name:<{width}}  {result:<48}  {target}")


if __name__ == "__main__":
    main()
