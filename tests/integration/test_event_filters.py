"""Readers with a filter move past the events they do not want, on a real database.

A webhook for alerts only, or an event stream for one station, used to read every event
since its last wanted one at each wake-up: with a week of plays retained, that is the
whole history, every time. The dispatcher's ``webhook_due`` now moves such a cursor to
the newest finished event once ``webhook_skip_events`` have passed with nothing wanted
in between, and ``read_events`` tells an event stream where to go on. Neither may pass
an event the reader wants, nor one whose transaction is still open.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from airtrack.db import Database
from airtrack.orchestrator import webhooks
from airtrack.orchestrator.delivery import read_events
from tests.integration.test_webhooks import _settings


async def _emit(db: Database, kind: str, n: int) -> None:
    async def fn(tx: Any) -> None:
        await tx.execute_raw(
            "SELECT airtrack_emit(%s, NULL, jsonb_build_object('n', g)) "
            "FROM generate_series(1, %s) g",
            (kind, n),
        )

    await db.run("test_emit", fn)


async def _newest(db: Database) -> tuple[str, int]:
    row = await db.fetchone("events_last")
    assert row is not None
    return str(row["txid"]), int(row["id"])


async def _sql(db: Database, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
    async def fn(tx: Any) -> list[Any]:
        return list(await tx.execute_raw(statement, params))

    return await db.run("test_sql", fn)


async def _cursor(db: Database, eid: int) -> tuple[str, int]:
    (row,) = await _sql(
        db,
        "SELECT cursor_txid::text AS t, cursor AS c FROM webhook_endpoints WHERE id = %s",
        (eid,),
    )
    return str(row["t"]), int(row["c"])


async def _due(db: Database, by: str = "r1") -> dict[int, dict[str, Any]]:
    rows = await db.fetch("webhook_due", {"by": by, "busy": [], "skip": 1000})
    return {int(r["id"]): dict(r) for r in rows}


async def test_a_filtered_webhook_moves_past_unwanted_events_never_past_a_wanted_one(
    db_url: str, tmp_path: Path
) -> None:
    settings = _settings(tmp_path)
    async with Database(db_url, settings, min_size=0, max_size=2) as db:
        alerts = await webhooks.add_endpoint(
            db, "http://127.0.0.1:1/a", ["alert.raised"], [], settings
        )
        everything = await webhooks.add_endpoint(db, "http://127.0.0.1:1/b", [], [], settings)
        start = await _cursor(db, alerts["id"])

        await _emit(db, "catalog.changed", 999)
        await _due(db)
        assert await _cursor(db, alerts["id"]) == start, "fewer than the threshold: stays"
        await _emit(db, "catalog.changed", 1)
        assert alerts["id"] not in await _due(db)
        assert await _cursor(db, alerts["id"]) == await _newest(db)
        assert await _cursor(db, everything["id"]) == start, "an unfiltered one delivers all"
        assert alerts["id"] not in await _due(db), "nothing to read for it any more"

        # a wanted event among the unwanted: the cursor stays before it
        before = await _cursor(db, alerts["id"])
        await _emit(db, "alert.raised", 1)
        await _emit(db, "catalog.changed", 1500)
        due = await _due(db)
        assert due[alerts["id"]]["ready"]
        assert await _cursor(db, alerts["id"]) == before

        # leased by another replica: not moved by this one either
        newest = await _newest(db)
        await _sql(
            db,
            "UPDATE webhook_endpoints SET cursor_txid = %s::xid8, cursor = %s, "
            "leased_by = 'r2', leased_until = now() + interval '1 minute' WHERE id = %s",
            (newest[0], newest[1], alerts["id"]),
        )
        await _emit(db, "catalog.changed", 1500)
        leased = await _cursor(db, alerts["id"])
        await _due(db)
        assert await _cursor(db, alerts["id"]) == leased


async def test_a_filtered_reader_never_moves_past_an_open_transactions_event(
    db_url: str, tmp_path: Path
) -> None:
    settings = _settings(tmp_path)
    async with Database(db_url, settings, min_size=0, max_size=2) as db:
        alerts = await webhooks.add_endpoint(
            db, "http://127.0.0.1:1/a", ["alert.raised"], [], settings
        )
        slow = await psycopg.AsyncConnection.connect(db_url)
        try:
            # a wanted event in a transaction that commits after many unwanted ones
            await slow.execute(
                "SELECT airtrack_emit('alert.raised', NULL, '{\"n\": \"late\"}'::jsonb)"
            )
            await _emit(db, "catalog.changed", 1500)
            got, to = await read_events(
                db, ("0", 0), types=["alert.raised"], stream_ids=[], limit=100
            )
            assert got == [] and to == ("0", 0), "held back: no finished event before it"
            await _due(db)
            assert await _cursor(db, alerts["id"]) == ("0", 0)
            await slow.commit()
        finally:
            await slow.close()
        got, to = await read_events(db, ("0", 0), types=["alert.raised"], stream_ids=[], limit=100)
        assert [r["data"]["n"] for r in got] == ["late"]
        assert to == await _newest(db), "and past the unwanted ones after it"
        got, again = await read_events(db, to, types=["alert.raised"], stream_ids=[], limit=100)
        assert got == [] and again == to
        # a full batch: the cursor goes only as far as the batch
        got, to = await read_events(db, ("0", 0), types=[], stream_ids=[], limit=10)
        assert len(got) == 10 and to == (str(got[-1]["txid"]), int(got[-1]["id"]))
