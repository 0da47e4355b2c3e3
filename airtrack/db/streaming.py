"""Long reads delivered in batches from a server-side cursor, never held whole in memory.

A report of a million plays cannot be one ``fetch``: the rows would sit in the
orchestrator's memory and the read would outlive ``tx_max_s``. :func:`stream_rows`
opens one read transaction with its own cap (``report_tx_max_s``), declares a named
cursor and yields ``batch`` rows (tuples) at a time. It is not retried: rows already handed
to the caller cannot be taken back.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import psycopg.errors as pge
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from airtrack.errors import (
    CircuitOpen,
    DatabaseError,
    DatabaseUnavailable,
    TransactionTooLong,
    first_line,
)
from airtrack.metrics import DB_QUERY_SECONDS
from airtrack.resilience import CircuitBreaker

from .params import Params, Row, adapt
from .queries import sql


async def stream_rows(
    pool: AsyncConnectionPool[psycopg.AsyncConnection[Row]],
    breaker: CircuitBreaker,
    query: str,
    params: Params,
    *,
    batch: int,
    tx_max_s: float,
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """Yield the rows of named ``query`` as tuples (column order), ``batch`` at a time.

    Tuples, not dicts: a report of a million rows passes them on untouched.
    """
    if not breaker.allow():
        raise CircuitOpen("database unavailable (circuit open)", query=query)
    t0 = time.perf_counter()
    try:
        async with pool.connection() as conn, conn.transaction():
            # at least 1 ms: 0 would mean "no limit" to PostgreSQL
            ms = str(max(1, int(tx_max_s * 1000)))
            await conn.execute(sql("report_tx_limits"), {"ms": ms})
            name = f"stream_{uuid.uuid4().hex[:12]}"
            async with conn.cursor(name=name, row_factory=tuple_row) as cur:
                await cur.execute(sql(query), adapt(params))
                while True:
                    rows = await cur.fetchmany(batch)
                    if not rows:
                        break
                    if time.perf_counter() - t0 > tx_max_s:
                        raise TransactionTooLong(
                            f"{query}: ran past {tx_max_s:g} s (report_tx_max_s)", query=query
                        )
                    yield rows
    except pge.QueryCanceled as exc:
        raise TransactionTooLong(
            f"{query}: cancelled by the server: {first_line(exc)}", query=query
        ) from exc
    except (psycopg.OperationalError, PoolTimeout) as exc:
        breaker.record_failure()
        raise DatabaseUnavailable(f"database unreachable: {first_line(exc)}", query=query) from exc
    except psycopg.Error as exc:
        raise DatabaseError(first_line(exc), query=query, sqlstate=exc.sqlstate) from exc
    breaker.record_success()
    DB_QUERY_SECONDS.labels(query).observe(time.perf_counter() - t0)
