"""200 simulated workers heartbeating at once: no deadlock, no lock timeout, no 5xx (R2.1).

Only behaviour is asserted, never a rate or a latency: the machine that runs the suite
is shared, so a heartbeat may take seconds. Each worker sends a fixed number of
heartbeats (not "as many as fit in N seconds"), every wait has a generous deadline,
and the figures themselves live in ``bench/bench_orchestrator.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from .orch_support import ADMIN, WORKER
from .test_orchestrator_replicas import Replica

WORKERS, STREAMS, CAPACITY = 200, 400, 10
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}"}
WORKER_AUTH = {"Authorization": f"Bearer {WORKER}"}


@dataclass
class Fleet:
    client: httpx.AsyncClient
    codes: Counter[int] = field(default_factory=Counter)
    running: dict[str, dict[int, int]] = field(default_factory=dict)
    beats_ok: Counter[str] = field(default_factory=Counter)

    async def register(self, wid: str) -> None:
        r = await self.client.post(
            "/api/v1/workers/register",
            headers=WORKER_AUTH,
            json={"worker_id": wid, "capacity": CAPACITY},
        )
        self.codes[r.status_code] += 1
        if r.status_code == 200:
            self.running[wid] = {a["stream_id"]: a["epoch"] for a in r.json()["assignments"]}

    async def heartbeat(self, wid: str) -> None:
        body = {
            "streams": [
                {"stream_id": s, "epoch": e, "status": "running"}
                for s, e in sorted(self.running.get(wid, {}).items())
            ]
        }
        r = await self.client.post(
            f"/api/v1/workers/{wid}/heartbeat", headers=WORKER_AUTH, json=body
        )
        self.codes[r.status_code] += 1
        if r.status_code == 200:
            self.beats_ok[wid] += 1
            self.running[wid] = {a["stream_id"]: a["epoch"] for a in r.json()["assignments"]}
        elif r.status_code == 404:
            # The protocol's answer to a worker silent past its lease: register again.
            await self.register(wid)

    async def assignments(self) -> list[dict[str, Any]]:
        r = await self.client.get("/api/v1/assignments", headers=ADMIN_AUTH)
        self.codes[r.status_code] += 1
        rows: list[dict[str, Any]] = r.json()
        return rows


async def _load(fleet: Fleet, beats: int) -> None:
    for i in range(STREAMS):
        r = await fleet.client.post(
            "/api/v1/streams",
            headers=ADMIN_AUTH,
            json={"name": f"load{i}", "url": f"http://127.0.0.1:9/{i}"},
        )
        fleet.codes[r.status_code] += 1

    async def worker(wid: str) -> None:
        await fleet.register(wid)
        for _ in range(beats):
            await fleet.heartbeat(wid)
            await asyncio.sleep(1.0)

    async with asyncio.TaskGroup() as group:  # a failure cancels the others
        for i in range(WORKERS):
            group.create_task(worker(f"load-w{i:03d}"))


def _consistent(fleet: Fleet, rows: list[dict[str, Any]]) -> str | None:
    """Why the store and the workers disagree, or None when every stream has one owner."""
    if len(rows) != STREAMS or len({r["stream_id"] for r in rows}) != STREAMS:
        return f"{len(rows)} assignment rows for {STREAMS} streams"
    unsettled = [r for r in rows if r["state"] != "assigned" or r["worker_id"] is None]
    if unsettled:
        return f"{len(unsettled)} streams not (yet) assigned, e.g. {unsettled[0]}"
    store: dict[str, dict[int, int]] = {}
    for r in rows:
        store.setdefault(r["worker_id"], {})[r["stream_id"]] = r["epoch"]
    for wid, mine in fleet.running.items():
        if store.get(wid, {}) != mine:
            return f"{wid} runs {mine}, the store says {store.get(wid, {})}"
    return None


async def _settle(fleet: Fleet, deadline_s: float) -> str | None:
    """Heartbeat rounds until workers and store agree; the last disagreement if never."""
    why: str | None = "never checked"
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while loop.time() < end:
        await asyncio.gather(*(fleet.heartbeat(w) for w in sorted(fleet.running)))
        why = _consistent(fleet, await fleet.assignments())
        if why is None:
            return None
        await asyncio.sleep(1.0)
    return why


def _db_failures(log: Path) -> list[dict[str, object]]:
    out = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            if event.get("event") == "db.failure":
                out.append(event)
    return out


# Above the sum of the deadlines below (load 600 s + beats, settle 300 s): a slow machine
# shows up as a clear assertion about what did not happen, not as a pytest-timeout.
@pytest.mark.timeout(1800)
@pytest.mark.parametrize(
    "beats",
    [pytest.param(5, id="5-beats"), pytest.param(60, id="60-beats", marks=pytest.mark.slow)],
)
async def test_200_workers_heartbeating(db_url: str, tmp_path: Path, beats: int) -> None:
    # a whole fleet joins at once: well within the new-id rate of a real first start
    env = {"AIRTRACK_WORKER_NEW_IDS_PER_MIN": "1000"}
    replica = Replica(db_url, tmp_path / "home", tmp_path / "orchestrator.log", env)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    try:
        await asyncio.to_thread(replica.wait_ready)
        # Generous on purpose: a slow request is not a failure here, a wrong answer is.
        async with httpx.AsyncClient(base_url=replica.url, timeout=120, limits=limits) as client:
            fleet = Fleet(client)
            async with asyncio.timeout(beats * 1.0 + 600):
                await _load(fleet, beats)
            # A worker that fell behind may still report a stream that moved on (its next
            # heartbeat drops it, and the epoch fences its writes meanwhile); two workers
            # holding one stream with the same epoch would be a real double owner.
            owned = [(s, e) for m in fleet.running.values() for s, e in m.items()]
            assert len(owned) == len(set(owned)), "a (stream, epoch) is held by two workers"
            unsettled = await _settle(fleet, deadline_s=300)
    finally:
        replica.stop()
    assert not [c for c in fleet.codes if c >= 500], fleet.codes
    assert set(fleet.codes) <= {200, 201, 404}, fleet.codes
    assert sorted(fleet.running) == [f"load-w{i:03d}" for i in range(WORKERS)], "all registered"
    silent = [w for w in fleet.running if fleet.beats_ok[w] == 0]
    assert not silent, f"{len(silent)} workers never got a heartbeat through, e.g. {silent[:3]}"
    assert unsettled is None, unsettled
    failures = _db_failures(replica.log)
    bad = [f for f in failures if f.get("sqlstate") in ("40P01", "55P03", "57014")]
    assert not bad, bad[:5]
