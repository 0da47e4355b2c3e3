"""The DB layer against a real PostgreSQL: deadlocks, lock timeouts, the transaction cap."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from structlog.testing import capture_logs

from airtrack.db import Database, Tx
from airtrack.errors import LockContention, TransactionTooLong
from airtrack.settings import Settings, load_settings


def _settings(base: Settings, **kw: Any) -> Settings:
    return load_settings(**{**base.model_dump(), **kw})


async def _make_table(db: Database) -> None:
    async def setup(tx: Tx) -> None:
        await tx.execute_raw("CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL)")
        await tx.execute_raw("INSERT INTO t VALUES (1, 0), (2, 0)")

    await db.run("setup", setup)


async def test_deadlock_is_retried_and_both_complete(db: Database) -> None:
    await _make_table(db)
    both_hold_first = asyncio.Barrier(2)
    attempts = {"a": 0, "b": 0}

    def locker(tag: str, first: int, second: int) -> Any:
        async def fn(tx: Tx) -> None:
            attempts[tag] += 1
            await tx.execute_raw(f"UPDATE t SET v = v + 1 WHERE id = {first}")
            if attempts[tag] == 1:
                await both_hold_first.wait()
            await tx.execute_raw(f"UPDATE t SET v = v + 1 WHERE id = {second}")

        return fn

    with capture_logs() as logs:
        await asyncio.gather(
            db.run("lock_a_then_b", locker("a", 1, 2)),
            db.run("lock_b_then_a", locker("b", 2, 1)),
        )
    rows = await db.run("read", lambda tx: tx.execute_raw("SELECT id, v FROM t ORDER BY id"))
    assert [r["v"] for r in rows] == [2, 2], "both transactions must have completed exactly once"
    deadlocks = [e for e in logs if e["event"] == "db.failure" and e["sqlstate"] == "40P01"]
    assert len(deadlocks) == 1, logs
    assert deadlocks[0]["will_retry"] is True
    assert deadlocks[0]["attempt"] == 1
    assert deadlocks[0]["query"] in ("lock_a_then_b", "lock_b_then_a")
    assert "elapsed_ms" in deadlocks[0]
    assert sorted(attempts.values()) == [1, 2]


async def test_lock_timeout_backs_off_then_succeeds(db_url: str, app_settings: Settings) -> None:
    cfg = _settings(
        app_settings,
        db_lock_timeout_s=0.2,
        db_retry_attempts=30,
        db_retry_base_s=0.05,
        db_retry_max_s=0.2,
    )
    async with Database(db_url, cfg, min_size=0, max_size=2) as db:
        await _make_table(db)
        holder = await psycopg.AsyncConnection.connect(db_url)
        await holder.execute("SELECT * FROM t WHERE id = 1 FOR UPDATE")

        async def release_later() -> None:
            await asyncio.sleep(0.8)
            await holder.rollback()

        with capture_logs() as logs:
            releaser = asyncio.create_task(release_later())
            await db.run("bump", lambda tx: tx.execute_raw("UPDATE t SET v = 5 WHERE id = 1"))
            await releaser
        await holder.close()
        timeouts = [e for e in logs if e.get("sqlstate") == "55P03"]
        assert timeouts, "the update must have hit lock_timeout at least once"
        assert all(e["will_retry"] for e in timeouts)
        attempts = [e["attempt"] for e in timeouts]
        assert attempts == sorted(attempts) and attempts[0] == 1
        rows = await db.run("read", lambda tx: tx.execute_raw("SELECT v FROM t WHERE id = 1"))
        assert rows[0]["v"] == 5


async def test_lock_never_released_gives_up_clearly(db_url: str, app_settings: Settings) -> None:
    cfg = _settings(app_settings, db_lock_timeout_s=0.1, db_retry_attempts=3)
    async with Database(db_url, cfg, min_size=0, max_size=2) as db:
        await _make_table(db)
        async with await psycopg.AsyncConnection.connect(db_url) as holder:
            await holder.execute("SELECT * FROM t WHERE id = 2 FOR UPDATE")
            with capture_logs() as logs, pytest.raises(LockContention) as info:
                await db.run("stuck", lambda tx: tx.execute_raw("UPDATE t SET v = 9 WHERE id = 2"))
            await holder.rollback()
        assert info.value.sqlstate == "55P03"
        assert "gave up after 3 attempts" in str(info.value)
        failures = [e for e in logs if e["event"] == "db.failure"]
        assert [e["will_retry"] for e in failures] == [True, True, False]


async def test_transaction_past_cap_is_cancelled_and_invisible(
    db_url: str, app_settings: Settings
) -> None:
    cfg = _settings(app_settings, tx_max_s=1.0)
    async with Database(db_url, cfg, min_size=0, max_size=2) as db:
        await _make_table(db)

        async def slow_server_side(tx: Tx) -> None:
            await tx.execute_raw("INSERT INTO t VALUES (3, 3)")
            await tx.execute_raw("SELECT pg_sleep(5)")

        async def slow_client_side(tx: Tx) -> None:
            await tx.execute_raw("INSERT INTO t VALUES (4, 4)")
            await asyncio.sleep(5)  # the app holds the transaction open: the cap must end it

        loop = asyncio.get_running_loop()
        for fn in (slow_server_side, slow_client_side):
            t0 = loop.time()
            with pytest.raises(TransactionTooLong):
                await db.run("too_long", fn)
            assert loop.time() - t0 < 3.5
        rows = await db.run("read", lambda tx: tx.execute_raw("SELECT id FROM t ORDER BY id"))
        assert [r["id"] for r in rows] == [1, 2], "nothing of the cancelled transactions is visible"
        # the pool still works afterwards
        assert (await db.run("ping", lambda tx: tx.fetchval("ping"))) == 1


async def test_session_timeouts_are_set(db: Database) -> None:
    info = await db.fetchone("server_info")
    assert info is not None
    assert info["lock_timeout"] == "5s"
    assert info["statement_timeout"] == "30s"
    assert info["idle_timeout"] == "10s"
