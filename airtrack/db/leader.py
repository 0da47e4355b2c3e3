"""Leadership: a session advisory lock held on a connection of its own.

The lock lives as long as that connection: the server releases it the moment
the leader's connection dies, so another replica can take over within one
tick. The same connection LISTENs on ``airtrack_tick`` so the leader wakes at
once on joins and leaves instead of at the next tick.

It is the one place outside :class:`~airtrack.db.database.Database` that holds
a connection, and it follows the same rules: named queries, a timeout on every
call, driver errors converted to :mod:`airtrack.errors` (``DatabaseUnavailable``
when the connection is gone), each failure logged once as ``db.failure``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import psycopg
from psycopg.rows import dict_row

from airtrack.errors import DatabaseUnavailable, first_line
from airtrack.logging import get_logger
from airtrack.metrics import DB_FAILURES

from .params import Row
from .queries import sql

log = get_logger("airtrack.db.leader")

#: Key of the leader's advisory lock ("AIRT" "LEAD").
LEADER_LOCK_KEY = 0x41495254_4C454144


class LeaderSession:
    """A dedicated autocommit connection that can hold the leader lock and wait for NOTIFY."""

    def __init__(self, url: str, *, timeout_s: float, keepalive_s: float) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.keepalive_s = keepalive_s
        self._conn: psycopg.AsyncConnection[Row] | None = None
        self.holds_lock = False

    async def _connection(self) -> psycopg.AsyncConnection[Row]:
        if self._conn is None or self._conn.closed:
            self.holds_lock = False
            idle = max(1, int(self.keepalive_s))
            self._conn = await psycopg.AsyncConnection.connect(
                self.url,
                autocommit=True,
                row_factory=dict_row,
                application_name="airtrack-leader",
                connect_timeout=max(1, int(self.timeout_s)),
                keepalives=1,
                keepalives_idle=idle,
                keepalives_interval=max(1, idle // 2),
                keepalives_count=3,
            )
        return self._conn

    async def _call(self, name: str) -> Row | None:
        t0 = time.perf_counter()
        try:
            conn = await self._connection()
            params = {"key": LEADER_LOCK_KEY} if name == "leader_try_lock" else None
            cur = await asyncio.wait_for(conn.execute(sql(name), params), self.timeout_s)
            return await cur.fetchone() if cur.description else None
        except (psycopg.Error, OSError, TimeoutError) as exc:
            state = getattr(exc, "sqlstate", None) or "connection"
            DB_FAILURES.labels(name, state).inc()
            log.warning(
                "db.failure",
                query=name,
                sqlstate=state,
                attempt=1,
                elapsed_ms=round((time.perf_counter() - t0) * 1000, 1),
                will_retry=False,
                error_class=type(exc).__name__,
                error=first_line(exc),
            )
            await self.close()
            raise DatabaseUnavailable(
                f"leader connection lost: {first_line(exc)}", query=name, sqlstate=state
            ) from exc

    async def campaign(self) -> bool:
        """Take the lock if free, or check that the connection holding it is alive.

        ``True`` while this session holds the lock; raises ``DatabaseUnavailable``
        when the connection is lost (the lock with it).
        """
        if self.holds_lock:
            await self._call("ping")
            return True
        row = await self._call("leader_try_lock")
        if row and row["locked"]:
            await self._call("leader_listen")
            self.holds_lock = True
        return self.holds_lock

    async def wait(self, seconds: float) -> None:
        """Wait up to ``seconds`` for a NOTIFY on ``airtrack_tick`` (leader only)."""
        conn = self._conn
        if conn is None or conn.closed:
            raise DatabaseUnavailable("leader connection is not open", query="leader_listen")
        try:
            async for _ in conn.notifies(timeout=seconds, stop_after=1):
                break
        except (psycopg.Error, OSError) as exc:
            await self.close()
            raise DatabaseUnavailable(
                f"leader connection lost: {first_line(exc)}", query="leader_listen"
            ) from exc

    async def close(self) -> None:
        self.holds_lock = False
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None
