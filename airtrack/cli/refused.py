"""``airtrack plays refused`` (list, accept, discard) and ``airtrack db check``.

Refused plays are what the epoch fence would not log (a stale epoch: the stream moved,
or a restored database that does not know the worker's epoch). They wait in the store
until an operator accepts them (logged as their worker sent them) or discards them. On
the store, or through the API (remote.py).
"""

from __future__ import annotations

import json as jsonlib
from typing import Annotated, Any

import typer
from rich.table import Table

from airtrack.db import Database
from airtrack.localtime import show_time
from airtrack.protocol import API_PREFIX
from airtrack.protocol_admin import REFUSED_ACCEPT_PATH, REFUSED_DISCARD_PATH, REFUSED_PLAYS_PATH

from ._common import JsonFlag, fail, handle_errors, print_table, run_async, settings_from, with_db
from .remote import AdminClient, is_remote

app = typer.Typer(
    help="Plays and stream titles the epoch fence refused: review, accept or discard.",
    no_args_is_help=True,
)

# AdminClient speaks relative to the API prefix
_LIST, _ACCEPT, _DISCARD = (
    p.removeprefix(API_PREFIX)
    for p in (REFUSED_PLAYS_PATH, REFUSED_ACCEPT_PATH, REFUSED_DISCARD_PATH)
)


@app.command("list")
@handle_errors
def list_(
    stream: Annotated[str | None, typer.Option(help="Only this stream (name).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Most shown.")] = 1000,
    json: JsonFlag = False,
) -> None:
    """What waits for review, by stream and time, with why it was refused."""
    from airtrack.orchestrator.play_log import refused

    settings = settings_from()
    if is_remote():
        with AdminClient.from_settings(settings) as api:
            rows = api.get_json(_LIST, {"stream": stream, "limit": limit})
    else:

        async def go(db: Database) -> list[Any]:
            return [dict(r) for r in await refused(db, stream=stream, limit=limit)]

        rows = run_async(with_db(settings, go, create=False))
    if json:
        print(jsonlib.dumps(rows, indent=2, default=str))
        return
    table = Table("id", "kind", "stream", "epoch", "worker", "reason", "at", "what", "refused")
    for r in rows:
        item = r["item"]
        at = item.get("started_at") or item.get("at")
        what = f"track {item.get('track_id')}" if r["kind"] == "play" else str(item.get("title"))
        table.add_row(
            str(r["id"]),
            r["kind"],
            str(r["stream"] or f"#{r['stream_id']}"),
            str(r["epoch"]),
            str(r["worker_id"] or ""),
            r["reason"],
            show_time(at) if at else "",
            what,
            f"{r['times']}×",
        )
    print_table(table)


@app.command("accept")
@handle_errors
def accept(ids: Annotated[list[int], typer.Argument(help="Refused ids (from list).")]) -> None:
    """Log refused items as their worker sent them; the stream's owner does not change."""
    from airtrack.orchestrator.play_log import accept_refused

    settings = settings_from()
    if is_remote():
        with AdminClient.from_settings(settings) as api:
            got = api.send_json("POST", _ACCEPT, {"ids": ids})["outcomes"]
        outcomes = {int(k): str(v) for k, v in got.items()}
    else:

        async def go(db: Database) -> dict[int, str]:
            return await accept_refused(db, settings, ids)

        outcomes = run_async(with_db(settings, go, create=False))
    for rid in ids:
        print(f"#{rid}: {outcomes.get(rid, 'missing')}")
    if any(v not in ("stored", "duplicate") for v in outcomes.values()):
        fail("some items were not accepted (see above)")


@app.command("discard")
@handle_errors
def discard(ids: Annotated[list[int], typer.Argument(help="Refused ids (from list).")]) -> None:
    """Drop refused items (a copy of each stays in the audit log)."""
    from airtrack.orchestrator.play_log import discard_refused

    settings = settings_from()
    if is_remote():
        with AdminClient.from_settings(settings) as api:
            done = list(api.send_json("POST", _DISCARD, {"ids": ids})["discarded"])
    else:

        async def go(db: Database) -> list[int]:
            return await discard_refused(db, ids)

        done = run_async(with_db(settings, go, create=False))
    print(f"discarded {len(done)}: {' '.join(f'#{i}' for i in done)}".rstrip(": "))
    missing = sorted(set(ids) - set(done))
    if missing:
        fail(f"no refused item {' '.join(f'#{i}' for i in missing)}")


@handle_errors
def db_check(json: JsonFlag = False) -> None:
    """Check a (restored) database before starting: schema version, counts, the latest
    play per stream, refused plays waiting. Exit 1 on a problem."""
    from airtrack.ops.db_check import DatabaseCheck, check_database

    async def go(db: Database) -> DatabaseCheck:
        return await check_database(db)

    found = run_async(with_db(settings_from(), go, create=False, migrate=False))
    if json:
        print(jsonlib.dumps(found.to_json(), indent=2, default=str))
    else:
        print(f"schema version {found.schema_version} (this airtrack: {found.expected_version})")
        if found.counts:
            print("rows: " + ", ".join(f"{k} {v}" for k, v in found.counts.items()))
        table = Table("stream", "owner", "epoch", "latest play")
        for s in found.streams:
            table.add_row(
                f"{s['name']} (#{s['stream_id']})" + ("" if s["enabled"] else " disabled"),
                str(s["worker_id"] or "-"),
                str(s["epoch"] if s["epoch"] is not None else "-"),
                show_time(s["latest_play"]) if s["latest_play"] else "none",
            )
        if found.streams:
            print_table(table)
        for p in found.problems:
            print(f"problem: {p}")
        print("ok" if found.ok else f"{len(found.problems)} problem(s)")
    if not found.ok:
        raise typer.Exit(1)
