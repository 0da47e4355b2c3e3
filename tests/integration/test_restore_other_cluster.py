"""A dump restored into another PostgreSQL cluster (new hardware, a managed server, a
major upgrade by dump and reload) brings the old cluster's transaction ids with its
events and webhook cursors.  Where they lie past the new cluster's counter, every new
event would sort before them and never be delivered; the migrate that the orchestrator
runs at start gives them this cluster's order.  A real pg_dump, a second embedded
cluster started (and stopped) by the test, pg_restore, migrate."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import psycopg

from airtrack.db import Database
from airtrack.db.embedded import ensure_server, stop_server
from airtrack.db.migrations import migrate
from airtrack.orchestrator import webhooks
from airtrack.orchestrator.delivery import read_events
from airtrack.settings import load_settings
from tests.integration.test_webhooks import LOOPBACK_ONLY

PG_BIN = Path(__import__("pgserver").__file__).parent / "pginstall" / "bin"


def _emit(url: str, n: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "SELECT airtrack_emit('catalog.changed', NULL, jsonb_build_object('n', %s))", (n,)
        )


def _events(url: str) -> list[tuple[int, str, int]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT id, txid::text, (data->>'n')::int FROM outbound_events ORDER BY id"
        ).fetchall()
    return [(int(r[0]), str(r[1]), int(r[2])) for r in rows]


async def test_events_restored_into_another_cluster_are_delivered_then_new_ones(
    db_url: str, tmp_path: Path
) -> None:
    settings = load_settings(home=tmp_path / "h", **LOOPBACK_ONLY)
    # the source cluster has run longer than a fresh one: make sure of it
    with psycopg.connect(db_url, autocommit=True) as conn:
        for _ in range(3000):
            conn.execute("SELECT pg_current_xact_id()")
    async with Database(db_url, settings, min_size=0, max_size=2) as db:
        await webhooks.add_endpoint(db, "http://127.0.0.1:9/hook", [], [], settings)
    for n in (1, 2, 3):
        _emit(db_url, n)
    first = _events(db_url)[0]
    with psycopg.connect(db_url, autocommit=True) as conn:  # event 1 was delivered
        conn.execute(
            "UPDATE webhook_endpoints SET cursor_txid = %s::xid8, cursor = %s", (first[1], first[0])
        )
    dump = tmp_path / "airtrack.dump"
    await asyncio.to_thread(
        subprocess.run,
        [str(PG_BIN / "pg_dump"), "--format=custom", f"--file={dump}", db_url],
        check=True,
    )

    other = tmp_path / "other-cluster"
    try:
        server = await asyncio.to_thread(ensure_server, other, stop_on_exit=False)
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute("CREATE DATABASE restored")
        restored = psycopg.conninfo.make_conninfo(server, dbname="restored")
        await asyncio.to_thread(
            subprocess.run,
            [str(PG_BIN / "pg_restore"), "--no-owner", f"--dbname={restored}", str(dump)],
            check=True,
        )
        with psycopg.connect(restored) as conn:
            row = conn.execute(
                "SELECT max(txid) >= pg_snapshot_xmax(pg_current_snapshot()) FROM outbound_events"
            ).fetchone()
        assert row is not None and row[0], "the restored events must be from past this counter"

        async with Database(restored, settings, min_size=0, max_size=2) as db:
            await migrate(db)  # as the orchestrator does at start
            _emit(restored, 4)
            (ep,) = await webhooks.list_endpoints(db)
            rows, _ = await read_events(db, ("0", 0), types=[], stream_ids=[], limit=10)
            order = [int(r["data"]["n"]) for r in rows]
            cursor = await _cursor(restored)
            pending, _ = await read_events(db, cursor, types=[], stream_ids=[], limit=10)
            last = await db.fetchone("events_last")
        assert ep["queued"] == 3, ep  # 2, 3 restored undelivered, and 4
        assert order == [1, 2, 3, 4], "restored events first, in their order, then new ones"
        assert [int(r["data"]["n"]) for r in pending] == [2, 3, 4], "none skipped, none again"
        assert last is not None and int(last["id"]) == _events(restored)[-1][0]
        # a second start changes nothing
        async with Database(restored, settings, min_size=0, max_size=2) as db:
            await migrate(db)
        assert await _cursor(restored) == cursor
    finally:
        await asyncio.to_thread(stop_server, other)


async def _cursor(url: str) -> tuple[str, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT cursor_txid::text, cursor FROM webhook_endpoints").fetchone()
    assert row is not None
    return str(row[0]), int(row[1])
