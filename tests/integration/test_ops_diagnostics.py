"""R6.1, R6.2 and R6.3: diagnostics findings for injected faults; live health checks."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg

from airtrack.db import Database, migrate
from airtrack.db.embedded import ensure_server, start_server, stop_server
from tests.support.cli import run_cli

from .ops_support import ops_orchestrator
from .orch_support import SimWorker, fast_settings, settle


def _sql(db_url: str, statement: str, params: tuple[Any, ...] = ()) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(statement.encode(), params)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=env, clean_env=False, timeout=60)


def _problems(diag: dict[str, Any]) -> list[str]:
    return [f["problem"] for f in diag["findings"]]


async def test_diagnostics_state_and_findings_for_injected_faults(
    db_url: str, tmp_path: Path
) -> None:
    async with ops_orchestrator(db_url, fast_settings(tmp_path, inactive_after_s=60)) as orch:
        r = await orch.admin("GET", "/diagnostics")
        assert r.status_code == 200
        empty = r.json()
        assert "no leader is running the control loop" in _problems(empty)

        await orch.add_streams(6)
        a, b = SimWorker(orch, "wa", 3), SimWorker(orch, "wb", 3)  # both on host "test"
        for w in (a, b):
            await w.register()
        await settle(orch, [a, b])
        # injected faults
        _sql(
            db_url,
            "UPDATE streams SET capture_status = 'failed', last_error = 'HTTP 404', "
            "error_since = now() - interval '2 hours' WHERE name = 's0'",
        )
        _sql(db_url, "UPDATE workers SET capacity = 1 WHERE id = 'wa'")
        # recovery mode on for 20 min, as the leader's ledger knows it
        orch.ops.ledger.resume_recovery(time.time() - 1200, time.time())
        r = await orch.admin("GET", "/diagnostics")
        diag = r.json()
        problems = _problems(diag)
        # the full state (R6.1)
        assert {w["id"] for w in diag["workers"]} == {"wa", "wb"}
        assert len(diag["streams"]) == 6 and len(diag["assignments"]) == 6
        assert diag["epochs"]["max"] >= 1
        assert set(diag["outbox"]) == {"wa", "wb"}
        assert diag["leader"] is not None  # settle ran control ticks
        # findings with evidence and recommendations (R6.2)
        failed = next(f for f in diag["findings"] if f["problem"].startswith("stream s0"))
        assert "2.0 h" in failed["problem"] and "'HTTP 404'" in failed["problem"]
        assert "check its URL" in failed["recommendation"]
        over = next(f for f in diag["findings"] if "over capacity" in f["problem"])
        assert over["problem"] == "worker wa is over capacity by 2"
        assert "raise its capacity" in over["recommendation"]
        assert "2 workers share host test" in problems
        rec = next(f for f in diag["findings"] if f["problem"].startswith("recovery mode"))
        assert rec["severity"] == "critical" and "20 min" in rec["problem"]
        assert "check database latency" in rec["recommendation"]
        assert "the catalog is empty" in problems
        for f in diag["findings"]:
            assert f["severity"] in ("critical", "warning", "info")
            assert f["evidence"] and f["recommendation"]

        # no room: a seventh stream while every slot is used
        _sql(db_url, "UPDATE workers SET capacity = 3 WHERE id = 'wa'")
        await orch.add_streams(1, prefix="extra")
        await settle(orch, [a, b])
        diag = (await orch.admin("GET", "/diagnostics")).json()
        assert "1 streams are unassigned and no worker has room" in _problems(diag)

        # a dead worker still holding streams (no leader acting on it), and a stuck revoke
        _sql(db_url, "UPDATE workers SET state = 'inactive' WHERE id = 'wb'")
        _sql(
            db_url,
            "UPDATE assignments SET state = 'revoking', next_worker_id = 'wb', "
            "assigned_at = now() - interval '10 minutes' WHERE stream_id = "
            "(SELECT min(stream_id) FROM assignments WHERE worker_id = 'wa')",
        )
        diag = (await orch.admin("GET", "/diagnostics")).json()
        problems = _problems(diag)
        assert "worker wb is inactive but still holds 3 streams" in problems
        assert any("has been moving for 10 min" in p for p in problems)

        # the CLI shows the same (R6.1/R6.2 for operators)
        env = {**os.environ, "AIRTRACK_DATABASE_URL": db_url, "AIRTRACK_HOME": str(tmp_path)}
        done = _cli(env, "diagnose", "--json")
        assert done.returncode == 1, done.stderr  # critical findings → exit 1
        cli = json.loads(done.stdout)
        assert "worker wb is inactive but still holds 3 streams" in _problems(cli)
        text = _cli(env, "diagnose")
        assert "fix:" in text.stdout and "inactive but still holds" in text.stdout


async def test_status_shows_open_alerts(db_url: str, tmp_path: Path) -> None:
    async with ops_orchestrator(db_url, fast_settings(tmp_path)) as orch:
        for _ in range(6):
            await orch.ghost_heartbeat("lost-one")
        await orch.ops.step()
    env = {
        **os.environ,
        "AIRTRACK_DATABASE_URL": db_url,
        "AIRTRACK_HOME": str(tmp_path),
        "COLUMNS": "200",
    }
    done = _cli(env, "status")
    assert done.returncode == 0, done.stderr
    assert "alerts" in done.stdout and "worker:lost-one" in done.stdout
    assert "critical" in done.stdout


async def test_health_checks_integrity(db_url: str, tmp_path: Path) -> None:
    async with ops_orchestrator(db_url, fast_settings(tmp_path)) as orch:
        await orch.add_streams(2)
        w = SimWorker(orch, "w", 5)
        await w.register()
        await settle(orch, [w])
        r = await orch.admin("GET", "/health")
        body = r.json()
        assert r.status_code == 200, body
        assert {c["name"] for c in body["checks"]} == {
            "db_reachable",
            "db_writable",
            "migrations",
            "leader",
            "integrity",
            "capacity",
        }
        assert all(c["ok"] and c["ms"] >= 0 and c["detail"] for c in body["checks"])
        # a stream owned by an inactive worker, and plays from an epoch ahead of the assignment
        _sql(db_url, "UPDATE workers SET state = 'inactive' WHERE id = 'w'")
        sid = sorted(w.running)[0]
        _sql(
            db_url,
            "INSERT INTO plays (idempotency_key, stream_id, started_at, confidence, epoch) "
            "VALUES ('future-epoch-key', %s, now(), 0.9, 99)",
            (sid,),
        )
        _sql(db_url, "UPDATE workers SET capacity = 1 WHERE id = 'w'")
        r = await orch.admin("GET", "/health")
        assert r.status_code == 503
        checks = {c["name"]: c for c in r.json()["checks"]}
        assert not checks["integrity"]["ok"]
        assert "2 assignments held by inactive workers" in checks["integrity"]["detail"]
        assert "1 streams with plays from a later epoch" in checks["integrity"]["detail"]
        assert (
            not checks["capacity"]["ok"]
            and "w holds 2 of capacity 1" in checks["capacity"]["detail"]
        )
        assert checks["db_writable"]["ok"]


async def test_health_503_when_the_database_stops_and_200_when_back(private_home: Path) -> None:
    url = ensure_server(private_home)
    settings = fast_settings(
        private_home,
        breaker_open_s=0.5,
        db_reconnect_attempts=1,
        heartbeat_interval_s=1.0,
        lease_ttl_s=3.0,
        inactive_after_s=10.0,
    )
    setup = Database(url, settings, min_size=0, max_size=1)
    await setup.open()
    await migrate(setup)
    await setup.close()
    async with ops_orchestrator(url, settings) as orch:
        stop = asyncio.Event()
        loop_task = asyncio.create_task(orch.control.run(stop))
        try:
            t0 = time.monotonic()
            while (r := await orch.admin("GET", "/health")).status_code != 200:
                assert time.monotonic() - t0 < 15, r.text
                await asyncio.sleep(0.2)

            stop_server(private_home)
            t0 = time.monotonic()
            r = await orch.admin("GET", "/health")
            took = time.monotonic() - t0
            assert r.status_code == 503
            assert took < 4.0, f"health must answer fast when the DB is down ({took:.1f} s)"
            checks = {c["name"]: c for c in r.json()["checks"]}
            assert not checks["db_reachable"]["ok"] and not checks["db_writable"]["ok"]

            start_server(private_home)
            t0 = time.monotonic()
            while (r := await orch.admin("GET", "/health")).status_code != 200:
                assert time.monotonic() - t0 < 30, r.text
                await asyncio.sleep(0.3)
        finally:
            stop.set()
            await asyncio.wait_for(loop_task, timeout=15)
