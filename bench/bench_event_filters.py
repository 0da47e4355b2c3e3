"""Readers over a long event history: the dispatcher's read, and a filtered event stream's.

Run: .venv/bin/python bench/bench_event_filters.py --ref REF [--events 300000]
     [--endpoints 5] [--rounds 20]

A private embedded PostgreSQL holds ``--events`` events (a week of plays, say) and
``--endpoints`` webhooks for ``alert.raised`` only, with their cursors at the start, as
they stay when nothing they want comes. Each round writes 100 more events (live
traffic), then times one ``webhook_due`` (the dispatcher's read at every wake-up) and
one filtered ``events_after`` (an event stream for alerts), alternately as commit REF
had them (its SQL text, run on the same database, cursors at the start: they never
moved) and as this tree has them (``webhook_skip_events`` = 1000, the stream going on
from where its last read ended; the first round pays for the one long move). Then the
same ``webhook_due`` rounds with as many webhooks for every event, caught up (100
events behind). Prints the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from airtrack.db import Database  # noqa: E402
from airtrack.db.embedded import ensure_server  # noqa: E402
from airtrack.db.migrations import migrate  # noqa: E402
from airtrack.orchestrator.delivery import read_events  # noqa: E402
from airtrack.settings import load_settings  # noqa: E402


def _ref_query(ref: str, name: str) -> str:
    """Named query ``name`` of ``airtrack/db/queries_events.sql`` at commit ``ref``."""
    text = subprocess.run(
        ["git", "show", f"{ref}:airtrack/db/queries_events.sql"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    body = text.split(f"-- name: {name}\n", 1)[1].split("\n-- name:", 1)[0]
    body = body.split("\n-- ------", 1)[0]
    return "\n".join(line for line in body.splitlines() if not line.startswith("--"))


def _literal(sql: str, params: dict[str, str]) -> str:
    for key, value in params.items():
        sql = sql.replace(f"%({key})s", value)
    return sql


async def _sql(db: Database, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
    async def fn(tx: Any) -> list[Any]:
        return list(await tx.execute_raw(statement, params))

    return await db.run("bench_sql", fn)


async def _emit(db: Database, n: int) -> None:
    await _sql(
        db,
        "SELECT airtrack_emit('play.started', 1, jsonb_build_object('n', g)) "
        "FROM generate_series(1, %s) g",
        (n,),
    )


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="airtrack-bench-filters-") as tmp:
        home = Path(tmp)
        url = ensure_server(home)
        settings = load_settings(home=home)
        async with Database(url, settings, min_size=0, max_size=2) as db:
            await migrate(db)
            t0 = time.perf_counter()
            for _ in range(args.events // 50_000):
                await _emit(db, 50_000)
            await _emit(db, args.events % 50_000)
            await _sql(db, "ANALYZE outbound_events")
            print(f"{args.events} events written in {time.perf_counter() - t0:.1f} s")
            await _sql(
                db,
                "INSERT INTO webhook_endpoints (url, secret, event_types) "
                "SELECT 'http://127.0.0.1:1/' || g, 'whsec_x', '{alert.raised}' "
                "FROM generate_series(1, %s) g",
                (args.endpoints,),
            )
            due_ref = _literal(
                _ref_query(args.ref, "webhook_due"), {"by": "'b'", "busy": "'{}'", "skip": "1000"}
            )
            after_ref = _literal(
                _ref_query(args.ref, "events_after"),
                {
                    "cursor_txid": "'0'",
                    "cursor": "0",
                    "types": "'{alert.raised}'",
                    "stream_ids": "'{}'",
                    "limit": "100",
                },
            )
            times: dict[str, list[float]] = {k: [] for k in ("due ref", "due", "sse ref", "sse")}
            sse = ("0", 0)
            kept = "0", 0  # this tree's webhook cursor, kept between its rounds
            for i in range(args.rounds):
                now = i % 2 == 1
                await _emit(db, 100)
                await _sql(
                    db,
                    "UPDATE webhook_endpoints SET cursor_txid = %s::xid8, cursor = %s",
                    kept if now else ("0", 0),
                )
                t = time.perf_counter()
                if now:
                    await db.fetch("webhook_due", {"by": "b", "busy": [], "skip": 1000})
                else:
                    await _sql(db, due_ref)
                times["due" if now else "due ref"].append(time.perf_counter() - t)
                if now:
                    (row,) = await _sql(
                        db,
                        "SELECT cursor_txid::text AS t, cursor AS c FROM webhook_endpoints LIMIT 1",
                    )
                    kept = str(row["t"]), int(row["c"])
                t = time.perf_counter()
                if now:
                    _, sse = await read_events(
                        db, sse, types=["alert.raised"], stream_ids=[], limit=100
                    )
                else:
                    await _sql(db, after_ref)
                times["sse" if now else "sse ref"].append(time.perf_counter() - t)
            # phase 2: webhooks for every event, caught up (100 events behind)
            await _sql(db, "DELETE FROM webhook_endpoints")
            await _sql(
                db,
                "INSERT INTO webhook_endpoints (url, secret) "
                "SELECT 'http://127.0.0.1:1/' || g, 'whsec_x' FROM generate_series(1, %s) g",
                (args.endpoints,),
            )
            times["all ref"], times["all"] = [], []
            for i in range(args.rounds):
                now = i % 2 == 1
                await _emit(db, 100)
                await _sql(
                    db,
                    "UPDATE webhook_endpoints SET (cursor_txid, cursor) = (SELECT txid, id "
                    "FROM outbound_events ORDER BY txid DESC, id DESC OFFSET 100 LIMIT 1)",
                )
                t = time.perf_counter()
                if now:
                    await db.fetch("webhook_due", {"by": "b", "busy": [], "skip": 1000})
                else:
                    await _sql(db, due_ref)
                times["all" if now else "all ref"].append(time.perf_counter() - t)
    print()
    print(
        f"| read ({args.events} events behind, {args.endpoints} alert-only webhooks) "
        f"| {args.ref}, median ms | this tree, median ms | before / after |"
    )
    print("|---|---|---|---|")
    for what, name in (
        ("due", "webhook_due (the dispatcher, every wake-up)"),
        ("sse", "events_after of an event stream for alerts"),
        ("all", "webhook_due, webhooks for every event, 100 events behind"),
    ):
        before = statistics.median(times[f"{what} ref"]) * 1000
        after = statistics.median(times[what]) * 1000
        print(f"| {name} | {before:.1f} | {after:.1f} | {before / after:.2g}× |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", required=True, help="the commit to compare with")
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--endpoints", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=20)
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
