"""Every change of a stream's reported status is kept, with the worker that reported it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .orch_support import SimWorker, fast_settings, orchestrator, settle


async def test_status_changes_are_logged_once_each(db_url: str, tmp_path: Path) -> None:
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        (sid,) = await orch.add_streams(1)
        w = SimWorker(orch, "w1", 5)
        await w.register()
        await settle(orch, [w])  # reports "running" several times

        async def report(status: str, error: str | None) -> None:
            stream = {"stream_id": sid, "epoch": w.running[sid], "status": status, "error": error}
            r = await orch.worker_call(
                "POST", f"/workers/{w.id}/heartbeat", json={"streams": [stream]}, headers=w.auth
            )
            assert r.status_code == 200, r.text

        await report("retrying", "connection refused")
        await report("retrying", "connection refused")  # the same again: no new row
        await report("running", None)

        async def fn(tx: Any) -> list[dict[str, Any]]:
            return await tx.execute_raw(
                "SELECT status, error, worker_id FROM stream_status_log "
                "WHERE stream_id = %s ORDER BY id",
                (sid,),
            )

        rows = await orch.db.run("test_status_log", fn)
        assert [(r["status"], r["error"], r["worker_id"]) for r in rows] == [
            ("running", None, "w1"),
            ("retrying", "connection refused", "w1"),
            ("running", None, "w1"),
        ]
