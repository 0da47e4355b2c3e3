"""Real orchestrator processes: two replicas, SIGKILL the leader, the other leads in one lease."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.integration.orch_support import ADMIN, WORKER, SimWorker
from tests.support.orchestrator import LEASE_S, Replica


@pytest.fixture
def replicas(db_url: str, tmp_path: Path) -> Iterator[list[Replica]]:
    reps = [Replica(db_url, tmp_path / f"home{i}", tmp_path / f"replica{i}.log") for i in range(2)]
    try:
        for r in reps:
            r.wait_ready()
        yield reps
    finally:
        for r in reps:
            r.stop()


def leader_pid(db_url: str) -> int | None:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT value->>'replica', updated_at > now() - interval '2 seconds' "
            "FROM control_state WHERE key = 'leader'"
        ).fetchone()
    if row is None or not row[1]:
        return None
    return int(str(row[0]).rsplit(":", 1)[1])


class HttpOrch:
    """Just enough of tests' Orchestrator for SimWorker, over real HTTP."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.http = client

    async def worker_call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {WORKER}", **kw.pop("headers", {})}
        return await self.http.request(method, f"/api/v1{path}", headers=headers, **kw)


async def test_leader_sigkill_other_leads_within_lease(
    replicas: list[Replica], db_url: str
) -> None:
    deadline = time.monotonic() + 10
    while (pid := leader_pid(db_url)) is None and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert pid is not None, "one replica must lead"
    leader = next(r for r in replicas if r.proc.pid == pid)
    follower = next(r for r in replicas if r.proc.pid != pid)

    async with httpx.AsyncClient(base_url=follower.url, timeout=5) as client:
        for i in range(6):
            r = await client.post(
                "/api/v1/streams",
                json={"name": f"st{i}", "url": f"http://127.0.0.1:9/{i}"},
                headers={"Authorization": f"Bearer {ADMIN}"},
            )
            assert r.status_code == 201, r.text
        orch = HttpOrch(client)
        workers = [SimWorker(orch, f"w{i}", 4) for i in range(3)]  # type: ignore[arg-type]
        for w in workers:
            await w.register()
        overlaps: list[tuple[int, ...]] = []

        async def beat(seconds: float) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                for w in workers:
                    await w.heartbeat()
                seen: dict[int, str] = {}
                for w in workers:
                    for s in w.running:
                        if s in seen:
                            overlaps.append((s,))
                        seen[s] = w.id
                await asyncio.sleep(0.3)

        await beat(4)
        assert sum(len(w.running) for w in workers) == 6

        os.kill(leader.proc.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        took_over = None
        while time.monotonic() - killed_at < 3 * LEASE_S:
            await beat(0.3)
            if leader_pid(db_url) == follower.proc.pid:
                took_over = time.monotonic() - killed_at
                break
        assert took_over is not None and took_over <= LEASE_S, f"took over in {took_over}"
        # the new leader keeps working: a worker leaves, its streams move
        gone = workers.pop()
        await gone.deregister()
        await beat(3)
        assert sum(len(w.running) for w in workers) == 6
        assert not overlaps, f"a stream had two owners: {overlaps}"
    leader.proc.wait(timeout=5)
