"""A leader that has just taken over expires no lease for a while (R5.2): it did not hear
the heartbeats sent before it led. Real PostgreSQL, the real control loop campaigning
for the leader lock, short leases in settings; the slow real-process version is in
tests/e2e/test_orchestrator_restart_e2e.py."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from airtrack.orchestrator.control import ControlLoop, TickReport

from .orch_support import SimWorker, fast_settings, orchestrator, settle

LEASE_S = 1.0


async def test_new_leader_keeps_workers_it_did_not_hear_then_expires_the_silent(
    db_url: str, tmp_path: Path
) -> None:
    """R5.2: an orchestrator outage longer than a lease costs a worker nothing when it is
    heard within the new leader's grace; a worker that stays silent is expired after it."""
    settings = fast_settings(tmp_path, lease_ttl_s=LEASE_S, inactive_after_s=30.0)
    async with orchestrator(db_url, settings) as orch:
        await orch.add_streams(4)
        alive, dead = SimWorker(orch, "w-alive", 4), SimWorker(orch, "w-dead", 4)
        for w in (alive, dead):
            await w.register()
        await settle(orch, [alive, dead])
        kept = dict(alive.running)
        assert len(kept) == 2 and len(dead.running) == 2

        # The control plane is down for longer than a lease: nobody heartbeats, no tick.
        await asyncio.sleep(2.5 * LEASE_S)

        ticks: list[TickReport] = []
        leader = ControlLoop(orch.db, settings, db_url, on_tick=ticks.append)
        stop = asyncio.Event()
        task = asyncio.create_task(leader.run(stop))
        try:
            deadline = time.monotonic() + 15
            while not ticks:
                assert time.monotonic() < deadline, "the new leader never ticked"
                await asyncio.sleep(0.05)
            assert ticks[0].grace and ticks[0].suspect == [], "expired on taking over"
            assert leader.grace_s() == LEASE_S  # it found the database at once: no outage
            # The surviving worker is heard again inside the grace; the other never is.
            while not any(t.suspect for t in ticks):
                assert time.monotonic() < deadline, "the silent worker was never expired"
                r = await alive.heartbeat()
                assert r.status_code == 200, r.text
                await asyncio.sleep(0.2)
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=10)

        assert [t.suspect for t in ticks if t.suspect] == [["w-dead"]]
        expired = next(i for i, t in enumerate(ticks) if t.suspect)
        assert all(t.grace for t in ticks[:expired]) and not ticks[expired].grace
        rows = {r["stream_id"]: r for r in await orch.assignments()}
        assert {s: rows[s]["epoch"] for s in kept} == kept, "the heard worker kept its epochs"
        assert all(rows[s]["worker_id"] == "w-alive" for s in kept)
        r = await alive.heartbeat()
        assert r.status_code == 200 and all(alive.running.get(s) == e for s, e in kept.items())


async def test_a_leader_taking_over_as_the_database_returns_waits_out_the_breakers(
    db_url: str, tmp_path: Path
) -> None:
    """As the database comes back the new leader's own connection reconnects at once, but
    every replica's pool breaker opened in the outage and fails heartbeats fast until it
    probes, up to ``breaker_open_s`` later: the grace is longer by that much, and a worker
    that stays silent is expired only after it."""
    breaker_s = 1.5
    settings = fast_settings(
        tmp_path, lease_ttl_s=LEASE_S, inactive_after_s=30.0, breaker_open_s=breaker_s
    )
    async with orchestrator(db_url, settings) as orch:
        await orch.add_streams(2)
        quiet = SimWorker(orch, "w-quiet", 4)
        await quiet.register()
        await settle(orch, [quiet])

        ticks: list[tuple[float, TickReport]] = []
        # the leader's connection first finds no database (a port nothing listens on)
        leader = ControlLoop(
            orch.db, settings, "postgresql://airtrack@127.0.0.1:1/none",
            on_tick=lambda r: ticks.append((time.monotonic(), r)),
        )  # fmt: skip
        stop = asyncio.Event()
        task = asyncio.create_task(leader.run(stop))
        try:
            await asyncio.sleep(3 * settings.control_tick_s)  # campaigns that fail
            assert not leader.is_leader and not ticks
            leader._session.url = db_url  # the database is back
            deadline = time.monotonic() + 20
            while not ticks:
                assert time.monotonic() < deadline, "the new leader never ticked"
                await asyncio.sleep(0.05)
            assert leader.grace_s() == LEASE_S + breaker_s
            since = leader.leader_since
            assert since is not None
            while not any(r.suspect for _, r in ticks):
                assert time.monotonic() < deadline, "the silent worker was never expired"
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=10)

        expired_at = next(at for at, r in ticks if r.suspect)
        assert ticks[0][1].grace and expired_at - since >= LEASE_S + breaker_s
        assert [r.suspect for _, r in ticks if r.suspect] == [["w-quiet"]]
