"""Operator commands that read or change the store directly: streams, plays, status."""

from __future__ import annotations

import json as jsonlib
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from rich.table import Table

from airtrack.db import Database
from airtrack.protocol import PlayOut, StreamCreate, StreamOut, WorkerOut
from airtrack.settings import Settings

from ._common import fail, out, run_async, with_db


def _dump(rows: list[dict[str, Any]], model: Any) -> str:
    return jsonlib.dumps([model.model_validate(r).model_dump(mode="json") for r in rows], indent=2)


def streams_add(settings: Settings, url: str, name: str) -> None:
    from airtrack.errors import StreamExists
    from airtrack.orchestrator.streams import add_stream

    try:
        req = StreamCreate(name=name, url=url)
    except ValidationError as exc:
        fail(f"invalid stream: {exc.errors()[0]['msg']}")

    async def go(db: Database) -> dict[str, Any]:
        return await add_stream(db, req)

    try:
        row = run_async(with_db(settings, go))
    except StreamExists as exc:
        fail(str(exc))
    out.print(f"added stream {row['name']} (#{row['id']}) {row['url']}", markup=False)


def streams_remove(settings: Settings, name: str) -> None:
    from airtrack.orchestrator.streams import remove_stream

    async def go(db: Database) -> bool:
        return await remove_stream(db, name)

    if not run_async(with_db(settings, go)):
        fail(f"no stream named {name!r}")
    out.print(f"removed stream {name}", markup=False)


def streams_list(settings: Settings, as_json: bool) -> None:
    from airtrack.orchestrator.streams import list_streams

    rows = run_async(with_db(settings, list_streams, create=False))
    if as_json:
        print(_dump(rows, StreamOut))
        return
    table = Table("name", "url", "state", "worker", "epoch", "status", "last error")
    for r in rows:
        table.add_row(
            r["name"],
            r["url"],
            r.get("station_state") or "-",
            r["worker_id"] or "-",
            str(r["epoch"]),
            r["status"] or "-",
            (r["last_error"] or "")[:60],
        )
    out.print(table)


def plays_list(
    settings: Settings, stream: str | None, since: str | None, as_json: bool, limit: int = 100
) -> None:
    from airtrack.orchestrator.plays import list_plays

    since_dt = None
    if since:
        try:
            since_dt = datetime.fromisoformat(since)
        except ValueError:
            fail(f"--since must be an ISO-8601 time, got {since!r}")
        if since_dt.tzinfo is None:
            fail("--since must carry a time zone (e.g. 2026-01-01T00:00:00Z)")

    async def go(db: Database) -> list[dict[str, Any]]:
        return await list_plays(db, stream=stream, since=since_dt, limit=limit)

    rows = run_async(with_db(settings, go, create=False))
    if as_json:
        print(_dump(rows, PlayOut))
        return
    table = Table("started", "ended", "stream", "title", "artist", "confidence")
    for r in rows:
        table.add_row(
            r["started_at"].strftime("%Y-%m-%d %H:%M:%S"),
            r["ended_at"].strftime("%H:%M:%S") if r["ended_at"] else "…",
            r["stream"],
            r["title"] or f"#{r['track_id']}",
            r["artist"] or "",
            f"{r['confidence']:.2f}",
        )
    out.print(table)


def status(settings: Settings) -> None:
    from airtrack.orchestrator.streams import list_streams, list_workers

    async def go(db: Database) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return await list_workers(db), await list_streams(db)

    workers, streams = run_async(with_db(settings, go, create=False))
    wt = Table("worker", "host", "state", "streams", "capacity", "last heartbeat", title="workers")
    for w in workers:
        wm = WorkerOut.model_validate(w)
        wt.add_row(
            wm.id,
            wm.host or "",
            wm.state,
            str(wm.streams),
            str(wm.capacity),
            wm.last_heartbeat.strftime("%H:%M:%S") if wm.last_heartbeat else "-",
        )
    out.print(wt)
    owned = sum(1 for s in streams if s["state"] == "assigned")
    failed = [s for s in streams if s["status"] == "failed"]
    out.print(
        f"streams: {len(streams)} total, {owned} owned, {len(streams) - owned} moving or "
        f"unassigned, {len(failed)} failed"
    )
    for s in failed:
        out.print(f"  failed: {s['name']}: {s['last_error']}", markup=False)
    from .stations import uptime_section

    uptime_section(settings)
    from .ops import alerts_section

    alerts_section(settings)
