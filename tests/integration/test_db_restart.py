"""The embedded server is stopped and started again mid-workload (R5.1, R5.4)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from airtrack.db import Database, ensure_server, migrate
from airtrack.db.embedded import start_server, stop_server
from airtrack.errors import CircuitOpen, DatabaseUnavailable
from airtrack.resilience import BreakerState
from airtrack.settings import load_settings


async def test_restart_mid_workload_reconnects_and_breaker_cycles(private_home: Path) -> None:
    home = private_home
    url = ensure_server(home, stop_on_exit=False)
    cfg = load_settings(
        home=home, breaker_failures=3, breaker_open_s=0.5, db_retry_base_s=0.05, db_retry_max_s=0.2
    )
    db = Database(url, cfg, min_size=2, max_size=4)
    await db.open()
    try:
        await migrate(db)
        for _ in range(20):
            assert await db.fetchval("ping") == 1

        await asyncio.to_thread(stop_server, home)
        seen_open = False
        seen_unavailable = False
        with capture_logs() as logs:
            for _ in range(20):
                try:
                    await db.fetchval("ping")
                except CircuitOpen:
                    seen_open = True
                    break
                except DatabaseUnavailable:
                    seen_unavailable = True
        assert seen_unavailable and seen_open
        assert db.breaker.state is BreakerState.OPEN
        conn_failures = [e for e in logs if e["event"] == "db.failure"]
        assert conn_failures and all(e["attempt"] <= 4 for e in conn_failures), (
            "at most 3 reconnect attempts per call (R5.1)"
        )

        await asyncio.to_thread(start_server, home)
        await asyncio.sleep(0.6)  # past breaker_open_s: the next call is the probe
        for _ in range(50):
            try:
                if await db.fetchval("ping") == 1:
                    break
            except (CircuitOpen, DatabaseUnavailable):
                await asyncio.sleep(0.2)
        else:
            pytest.fail("the database never came back")
        assert db.breaker.state is BreakerState.CLOSED
        for _ in range(5):
            assert await db.fetchval("ping") == 1
    finally:
        await db.close()
        await asyncio.to_thread(stop_server, home)
