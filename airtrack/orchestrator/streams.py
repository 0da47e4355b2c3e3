"""Admin operations on streams, workers and assignments (used by the API and the CLI)."""

from __future__ import annotations

from typing import Any

from airtrack.db import Database, Row, Tx
from airtrack.errors import IntegrityViolation, StreamExists
from airtrack.logging import get_logger
from airtrack.protocol import StreamCreate

log = get_logger("airtrack.orchestrator.streams")


async def add_stream(db: Database, req: StreamCreate) -> Row:
    async def fn(tx: Tx) -> Row:
        row = await tx.fetchone(
            "stream_insert",
            {
                "name": req.name,
                "url": str(req.url),
                "backup_urls": req.backup_urls,
                "timezone": req.timezone,
                "country": req.country,
                "region": req.region,
                "city": req.city,
                "genre": req.genre,
                "extra": req.extra,
            },
        )
        assert row is not None
        await tx.execute("assignment_insert", {"sid": row["id"]})
        await tx.execute("notify_tick", {"why": f"stream_added:{row['id']}"})
        return row

    try:
        row = await db.run("stream_add", fn)
    except IntegrityViolation as exc:
        if exc.sqlstate == "23505":
            raise StreamExists(f"a stream named {req.name!r} already exists") from None
        raise
    log.info("stream.added", stream=req.name, id=row["id"])
    return row


async def remove_stream(db: Database, name: str) -> bool:
    async def fn(tx: Tx) -> bool:
        row = await tx.fetchone("stream_delete", {"name": name})
        return row is not None

    removed: bool = await db.run("stream_remove", fn)
    if removed:
        log.info("stream.removed", stream=name)
    return removed


async def set_stream_url(db: Database, name: str, url: str) -> bool:
    """Point stream ``name`` at ``url``; False when there is no such stream or no change.

    The new URL is read by the worker that next takes the stream (the demo sets it before
    it starts any).
    """

    async def fn(tx: Tx) -> bool:
        row = await tx.fetchone("stream_set_url", {"name": name, "url": url})
        if row is not None:
            await tx.execute("notify_tick", {"why": f"stream_moved:{row['id']}"})
        return row is not None

    moved: bool = await db.run("stream_set_url", fn)
    if moved:
        log.info("stream.moved", stream=name, url=url)
    return moved


async def list_streams(db: Database) -> list[dict[str, Any]]:
    rows = await db.fetch("streams_list")
    return [
        {**r, "status": r["status"] or (r["state"] if r["state"] != "assigned" else "assigned")}
        for r in rows
    ]


async def list_workers(db: Database) -> list[Row]:
    return await db.fetch("workers_list")


async def list_assignments(db: Database) -> list[Row]:
    return await db.fetch("assignments_list")
