"""The database behind one narrow interface: named queries in timed, retried transactions.

Every transaction:

* runs on a pooled connection whose session carries ``statement_timeout``,
  ``lock_timeout`` and ``idle_in_transaction_session_timeout`` (R2.1, R2.2);
* is cancelled and rolled back by the application when it runs longer than
  ``tx_max_s`` (R2.2; PostgreSQL 15/16 have no ``transaction_timeout``);
* is retried with exponential backoff and jitter on deadlock (40P01), lock
  not available (55P03) and serialization failure (40001) when the caller
  says it is idempotent (R2.3), and after a lost connection up to
  ``db_reconnect_attempts`` times (R5.1);
* goes through a circuit breaker that fails fast while the server is down
  and lets one probe through after ``breaker_open_s`` (R5.4);
* logs every failure as one ``db.failure`` event with query name, SQLSTATE,
  attempt, elapsed ms and whether it will retry; parameters are never logged
  (R2.4).

Driver errors are converted here into :mod:`airtrack.errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import psycopg
import psycopg.errors as pge
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from airtrack.errors import (
    CircuitOpen,
    DatabaseError,
    DatabaseUnavailable,
    IntegrityViolation,
    LockContention,
    TransactionTooLong,
    first_line,
)
from airtrack.logging import get_logger
from airtrack.metrics import BREAKER_STATE, DB_FAILURES, DB_QUERY_SECONDS, DB_RETRIES
from airtrack.resilience import BreakerState, CircuitBreaker, backoff_delay
from airtrack.settings import Settings

from .params import Params, Row, adapt
from .queries import sql
from .streaming import stream_rows

T = TypeVar("T")

log = get_logger("airtrack.db")

#: SQLSTATEs worth retrying when the work is idempotent (R2.3).
CONTENTION_SQLSTATES = frozenset({"40P01", "55P03", "40001"})
#: SQLSTATEs that mean the server or the connection went away.
CONNECTION_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "08000", "08003", "08006", "08001"})


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _options(settings: Settings) -> str:
    ms = _ms
    return " ".join(
        [
            f"-c statement_timeout={ms(settings.tx_max_s)}",
            f"-c lock_timeout={ms(settings.db_lock_timeout_s)}",
            f"-c idle_in_transaction_session_timeout={ms(settings.db_idle_in_tx_timeout_s)}",
            "-c client_connection_check_interval=1000",
            "-c TimeZone=UTC",
        ]
    )


class Tx:
    """One open transaction; runs named queries from ``queries.sql``.

    A ``dict`` parameter (or a list of dicts) is sent as ``jsonb``; callers pass plain data.
    """

    def __init__(self, conn: psycopg.AsyncConnection[Row], name: str) -> None:
        self.conn = conn
        self.name = name

    async def fetch(self, query: str, params: Params = None) -> list[Row]:
        cur = await self.conn.execute(sql(query), adapt(params))
        return await cur.fetchall()

    async def fetchone(self, query: str, params: Params = None) -> Row | None:
        cur = await self.conn.execute(sql(query), adapt(params))
        return await cur.fetchone()

    async def fetchval(self, query: str, params: Params = None) -> Any:
        row = await self.fetchone(query, params)
        return None if row is None else next(iter(row.values()))

    async def execute(self, query: str, params: Params = None) -> int:
        cur = await self.conn.execute(sql(query), adapt(params))
        return cur.rowcount

    async def executemany(
        self, query: str, params: Iterable[Mapping[str, Any] | Sequence[Any]]
    ) -> None:
        async with self.conn.cursor() as cur:
            await cur.executemany(sql(query), [adapt(p) or {} for p in params])

    async def execute_raw(self, statement: str, params: Params = None) -> list[Row]:
        """Run SQL text that is not a named query (migrations, tests' fault injection)."""
        cur = await self.conn.execute(statement.encode(), params)  # bytes: no placeholders parsing
        return await cur.fetchall() if cur.description else []


class Database:
    """Async access to PostgreSQL for airtrack; the only place that speaks SQL."""

    def __init__(
        self,
        url: str,
        settings: Settings,
        *,
        min_size: int | None = None,
        max_size: int | None = None,
        app_name: str = "airtrack",
    ) -> None:
        self.url = url
        self.settings = settings
        self.breaker = CircuitBreaker(
            name="database",
            failures=settings.breaker_failures,
            open_s=settings.breaker_open_s,
            on_change=self._breaker_changed,
        )
        self.pool: AsyncConnectionPool[psycopg.AsyncConnection[Row]] = AsyncConnectionPool(
            url,
            min_size=settings.db_pool_min if min_size is None else min_size,
            max_size=settings.db_pool_max if max_size is None else max_size,
            kwargs={
                "options": _options(settings),
                "row_factory": dict_row,
                "autocommit": True,  # transactions are explicit: see run(atomic=...)
                "application_name": app_name,
                "connect_timeout": max(1, int(min(settings.http_timeout_s, 10))),
            },
            open=False,
            name=app_name,
            timeout=min(settings.tx_max_s, 5.0),
        )
        self._opened = False
        self._purge: asyncio.Task[None] | None = None

    @staticmethod
    def _breaker_changed(name: str, old: BreakerState, new: BreakerState) -> None:
        BREAKER_STATE.labels(name).set(0 if new is BreakerState.CLOSED else 1)
        log.warning("breaker.state", breaker=name, old=old.value, new=new.value)

    async def open(self) -> None:
        if not self._opened:
            await self.pool.open(wait=False)
            self._opened = True

    async def close(self) -> None:
        if self._opened:
            await self.pool.close(timeout=5)
            self._opened = False

    async def __aenter__(self) -> Database:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- the one way to run SQL ------------------------------------------------

    async def run(
        self,
        name: str,
        fn: Callable[[Tx], Awaitable[T]],
        *,
        idempotent: bool = True,
        tx_max_s: float | None = None,
        atomic: bool = True,
    ) -> T:
        """Run ``fn`` inside one transaction named ``name``, with cap, retries and breaker.

        ``atomic=False`` is for a single statement (already atomic on its own): it
        saves the BEGIN and COMMIT round trips.
        """
        cap = self.settings.tx_max_s if tx_max_s is None else tx_max_s
        contention_attempt = 0
        reconnect_attempt = 0
        attempt = 0
        while True:
            attempt += 1
            if not self.breaker.allow():
                DB_FAILURES.labels(name, "breaker").inc()
                raise CircuitOpen(
                    f"database unavailable (circuit open, retry in "
                    f"{self.breaker.retry_after():.1f} s)",
                    query=name,
                )
            t0 = time.perf_counter()
            try:
                # After a connection failure, do not wait long for the pool: fail fast so
                # the breaker learns quickly that the server is gone.
                wait = 1.0 if self.breaker.consecutive_failures else None
                async with asyncio.timeout(cap):
                    async with self.pool.connection(timeout=wait) as conn:
                        if atomic:
                            async with conn.transaction():
                                result = await fn(Tx(conn, name))
                        else:
                            result = await fn(Tx(conn, name))
            except asyncio.CancelledError:
                self.breaker.release_probe()  # a cancelled probe must not wedge the breaker
                raise
            except TimeoutError as exc:
                self._fail(name, "app_cap", attempt, t0, will_retry=False, error=exc)
                raise TransactionTooLong(
                    f"transaction {name!r} ran past {cap:g} s and was rolled back", query=name
                ) from None
            except pge.QueryCanceled as exc:
                self._fail(name, exc.sqlstate, attempt, t0, will_retry=False, error=exc)
                raise TransactionTooLong(
                    f"transaction {name!r} cancelled by the server: {first_line(exc)}",
                    query=name,
                    sqlstate=exc.sqlstate,
                ) from exc
            except (pge.IntegrityError, pge.DataError) as exc:
                self.breaker.record_success()  # the server answered
                self._fail(name, exc.sqlstate, attempt, t0, will_retry=False, error=exc)
                raise IntegrityViolation(
                    first_line(exc), query=name, sqlstate=exc.sqlstate
                ) from exc
            except (psycopg.OperationalError, PoolTimeout) as exc:
                state = getattr(exc, "sqlstate", None)
                if state in CONTENTION_SQLSTATES:
                    self.breaker.record_success()
                    contention_attempt += 1
                    retry = idempotent and contention_attempt < self.settings.db_retry_attempts
                    self._fail(name, state, attempt, t0, will_retry=retry, error=exc)
                    if not retry:
                        raise LockContention(
                            f"{name}: {first_line(exc)} (gave up after "
                            f"{contention_attempt} attempts)",
                            query=name,
                            sqlstate=state,
                        ) from exc
                    await asyncio.sleep(self._delay(contention_attempt))
                    continue
                if state is not None and state not in CONNECTION_SQLSTATES:
                    self.breaker.record_success()
                    self._fail(name, state, attempt, t0, will_retry=False, error=exc)
                    raise DatabaseError(first_line(exc), query=name, sqlstate=state) from exc
                # connection lost or never made (R5.1): purge the pool's other broken
                # connections in the background rather than checking each on checkout.
                self.breaker.record_failure()
                self._purge_soon()
                reconnect_attempt += 1
                retry = (
                    idempotent
                    and reconnect_attempt <= self.settings.db_reconnect_attempts
                    and self.breaker.state is BreakerState.CLOSED
                )
                self._fail(name, state or "connection", attempt, t0, will_retry=retry, error=exc)
                if not retry:
                    raise DatabaseUnavailable(
                        f"database unreachable: {first_line(exc)}", query=name, sqlstate=state
                    ) from exc
                await asyncio.sleep(self._delay(reconnect_attempt))
                continue
            except psycopg.Error as exc:
                self.breaker.record_success()
                state = exc.sqlstate
                self._fail(name, state, attempt, t0, will_retry=False, error=exc)
                raise DatabaseError(first_line(exc), query=name, sqlstate=state) from exc
            else:
                self.breaker.record_success()
                DB_QUERY_SECONDS.labels(name).observe(time.perf_counter() - t0)
                return result

    def _purge_soon(self) -> None:
        if self._purge is None or self._purge.done():
            self._purge = asyncio.get_running_loop().create_task(self._purge_pool())

    async def _purge_pool(self) -> None:
        with contextlib.suppress(Exception):
            await self.pool.check()

    def _delay(self, attempt: int) -> float:
        return backoff_delay(
            attempt, base=self.settings.db_retry_base_s, cap=self.settings.db_retry_max_s
        )

    def _fail(
        self,
        name: str,
        sqlstate: str | None,
        attempt: int,
        t0: float,
        *,
        will_retry: bool,
        error: BaseException,
    ) -> None:
        state = sqlstate or "none"
        DB_FAILURES.labels(name, state).inc()
        if will_retry:
            DB_RETRIES.labels(name, state).inc()
        log.warning(
            "db.failure",
            query=name,
            sqlstate=state,
            attempt=attempt,
            elapsed_ms=round((time.perf_counter() - t0) * 1000, 1),
            will_retry=will_retry,
            error_class=type(error).__name__,
            error=first_line(error),
        )

    def stream(
        self, query: str, params: Params = None, *, batch: int, tx_max_s: float
    ) -> AsyncIterator[list[tuple[Any, ...]]]:
        """Rows (tuples) of a long read in batches from a server-side cursor (.streaming)."""
        return stream_rows(self.pool, self.breaker, query, params, batch=batch, tx_max_s=tx_max_s)

    # -- conveniences for single-statement transactions -------------------------

    async def fetch(
        self, query: str, params: Params = None, *, idempotent: bool = True
    ) -> list[Row]:
        return await self.run(
            query, lambda tx: tx.fetch(query, params), idempotent=idempotent, atomic=False
        )

    async def fetchone(
        self, query: str, params: Params = None, *, idempotent: bool = True
    ) -> Row | None:
        return await self.run(
            query, lambda tx: tx.fetchone(query, params), idempotent=idempotent, atomic=False
        )

    async def fetchval(self, query: str, params: Params = None, *, idempotent: bool = True) -> Any:
        return await self.run(
            query, lambda tx: tx.fetchval(query, params), idempotent=idempotent, atomic=False
        )

    async def execute(self, query: str, params: Params = None, *, idempotent: bool = True) -> int:
        return await self.run(
            query, lambda tx: tx.execute(query, params), idempotent=idempotent, atomic=False
        )
