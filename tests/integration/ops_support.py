"""An in-process orchestrator with the operations runtime installed (see orch_support)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from airtrack.api import AppState, create_app, wrap
from airtrack.db import Database
from airtrack.ops import Operations, install
from airtrack.orchestrator.control import ControlLoop
from airtrack.orchestrator.tokens import Tokens
from airtrack.settings import Settings

from .orch_support import ADMIN, WORKER, Orchestrator


@dataclass
class OpsOrchestrator(Orchestrator):
    ops: Operations

    async def alerts(self, all: bool = False) -> list[dict[str, Any]]:
        r = await self.admin("GET", "/alerts" + ("?all=true" if all else ""))
        assert r.status_code == 200, r.text
        rows: list[dict[str, Any]] = r.json()
        return rows

    async def ghost_heartbeat(self, worker_id: str) -> httpx.Response:
        return await self.worker_call(
            "POST", f"/workers/{worker_id}/heartbeat", json={"streams": []}
        )


@asynccontextmanager
async def ops_orchestrator(
    db_url: str,
    settings: Settings,
    *,
    leader: Callable[[], bool] | None = None,
    replica_id: str = "test-replica",
) -> AsyncIterator[OpsOrchestrator]:
    """Leader by default (tests drive ``control.tick()`` and ``ops.step()`` themselves)."""
    db = Database(db_url, settings, min_size=1, max_size=8)
    await db.open()
    state = AppState(db=db, settings=settings, tokens=Tokens(ADMIN, WORKER, False, None))
    ops = install(db, settings, replica_id=replica_id, leader=leader or (lambda: True))
    state.hooks = ops
    control = ControlLoop(db, settings, db_url, recovery=ops.recovery, on_tick=ops.on_tick)
    state.control = control
    app = create_app(state)
    transport = httpx.ASGITransport(app=wrap(app, settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://orchestrator") as http:
        try:
            yield OpsOrchestrator(db, state, control, http, ops)
        finally:
            if ops.webhook is not None:
                ops.webhook.start()
            await ops.close()
            await db.close()
