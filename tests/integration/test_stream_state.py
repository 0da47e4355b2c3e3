"""Station state: a stream that dies, a silent one, one that recovers, one nobody has.

Real database, real API in-process; the leader's control tick evaluates states.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from airtrack.orchestrator import stream_state

from .orch_support import Orchestrator, SimWorker, fast_settings, orchestrator, settle

DOWN_AFTER_S = 0.6
CRITICAL_S = 1.5


async def _report(
    orch: Orchestrator, w: SimWorker, sid: int, status: str, error: str | None
) -> None:
    r = await orch.worker_call(
        "POST",
        f"/workers/{w.id}/heartbeat",
        headers=w.auth,
        json={
            "streams": [
                {"stream_id": sid, "epoch": w.running[sid], "status": status, "error": error}
            ]
        },
    )
    assert r.status_code == 200, r.text


async def _rows(orch: Orchestrator, sql: str) -> list[dict[str, Any]]:
    async def fn(tx: Any) -> list[dict[str, Any]]:
        return await tx.execute_raw(sql)

    return await orch.db.run("test_rows", fn)


async def _state(orch: Orchestrator, sid: int) -> str:
    (row,) = await _rows(orch, f"SELECT health FROM streams WHERE id = {int(sid)}")
    return str(row["health"])


async def _tick_until(
    orch: Orchestrator,
    sid: int,
    want: str,
    within_s: float,
    beat: tuple[SimWorker, str, str | None] | None = None,
) -> float:
    """Tick (the worker keeps reporting ``beat``) until the stream is in state ``want``."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    while loop.time() - t0 < within_s:
        if beat is not None:
            await _report(orch, beat[0], sid, beat[1], beat[2])
        await orch.control.tick()
        if await _state(orch, sid) == want:
            return loop.time() - t0
        await asyncio.sleep(0.05)
    raise AssertionError(f"stream {sid} never became {want} (is {await _state(orch, sid)})")


async def test_a_dying_stream_goes_down_then_critical_then_recovers(
    db_url: str, tmp_path: Path
) -> None:
    settings = fast_settings(
        tmp_path, stream_down_after_s=DOWN_AFTER_S, stream_down_critical_s=CRITICAL_S
    )
    async with orchestrator(db_url, settings) as orch:
        (sid,) = await orch.add_streams(1)
        assert await _state(orch, sid) == "unmonitored"
        w = SimWorker(orch, "w1", 5)
        await w.register()
        await settle(orch, [w])  # heartbeats report 'running'
        await _tick_until(orch, sid, "up", 2, (w, "running", None))

        await _report(orch, w, sid, "retrying", "connection refused")
        await orch.control.tick()
        assert await _state(orch, sid) == "up", "a short error must not make the station down"
        await _tick_until(orch, sid, "down", 5, (w, "retrying", "connection refused"))
        alerts = await _rows(
            orch, "SELECT severity, resolved_at FROM alerts WHERE kind = 'stream.down'"
        )
        assert [a["severity"] for a in alerts] == ["warning"]

        loop = asyncio.get_running_loop()
        t0 = loop.time()
        while loop.time() - t0 < 5:
            await _report(orch, w, sid, "failed", "connection refused")
            await orch.control.tick()
            (a,) = await _rows(orch, "SELECT severity FROM alerts WHERE kind = 'stream.down'")
            if a["severity"] == "critical":
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the down alert never turned critical")

        await _tick_until(orch, sid, "up", 2, (w, "running", None))
        (a,) = await _rows(orch, "SELECT resolved_at FROM alerts WHERE kind = 'stream.down'")
        assert a["resolved_at"] is not None

        events = await _rows(orch, "SELECT type, stream_id, data FROM outbound_events ORDER BY id")
        kinds = [(e["type"], e["data"].get("severity")) for e in events]
        assert kinds == [
            ("stream.down", None),
            ("alert.raised", "warning"),
            ("alert.raised", "critical"),
            ("stream.up", None),
            ("alert.resolved", "critical"),
        ]
        assert all(e["stream_id"] == sid for e in events)
        assert events[0]["data"]["cause"] == "connection refused"
        log = await _rows(
            orch, f"SELECT state, cause FROM stream_state_log WHERE stream_id = {sid} ORDER BY id"
        )
        assert [(r["state"], r["cause"]) for r in log] == [
            ("up", "audio flowing"),
            ("down", "connection refused"),
            ("up", "audio flowing"),
        ]
        (up,) = [u for u in await stream_state.uptime(orch.db) if u["stream"] == "s0"]
        assert up["health"] == "up" and 0 < up["uptime_24h"] < 1
        (listed,) = (await orch.admin("GET", "/streams")).json()
        assert listed["health"] == "up" and listed["health_cause"] == "audio flowing"
        # each field says one thing: the worker's report and the assignment, unmerged
        assert listed["capture_status"] == "running"
        assert listed["assignment_state"] == "assigned"
        assert "status" not in listed and "state" not in listed
        metrics = (await orch.http.get("/metrics")).text
        assert 'airtrack_stream_up{stream="s0"} 1.0' in metrics
        assert 'airtrack_stream_uptime_ratio{stream="s0",window="24h"}' in metrics


async def test_silence_is_down_at_once_and_no_worker_is_unmonitored(
    db_url: str, tmp_path: Path
) -> None:
    # the worker reports silence only after its own silence delay: no second wait here
    settings = fast_settings(tmp_path, stream_down_after_s=3600.0)
    async with orchestrator(db_url, settings) as orch:
        (sid,) = await orch.add_streams(1)
        # no worker yet: nothing reported (not the assignment's state in its place)
        (listed,) = (await orch.admin("GET", "/streams")).json()
        assert listed["capture_status"] is None
        assert (listed["assignment_state"], listed["health"]) == ("unassigned", "unmonitored")
        w = SimWorker(orch, "w1", 5)
        await w.register()
        await settle(orch, [w])
        await _tick_until(orch, sid, "up", 2, (w, "running", None))
        await _tick_until(orch, sid, "down", 2, (w, "failed", "silence: no audio for 300 s"))
        await w.deregister()
        await _tick_until(orch, sid, "unmonitored", 3)
        events = await _rows(orch, "SELECT type FROM outbound_events ORDER BY id")
        # leaving 'down' for 'unmonitored' resolves the alert but is no stream.up
        assert [e["type"] for e in events] == ["stream.down", "alert.raised", "alert.resolved"]
