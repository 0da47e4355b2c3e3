"""``airtrack webhooks``: add, list (with delivery state), remove and test endpoints.

Reads and writes the store directly, like ``airtrack streams``; delivery itself is the
leading orchestrator's (docs/integrations.md).
"""

from __future__ import annotations

import json as jsonlib
from typing import Annotated, Any

import typer
from rich.table import Table

from airtrack.db import Database

from ._common import JsonFlag, fail, handle_errors, out, run_async, settings_from, with_db

app = typer.Typer(help="Webhook receivers of airtrack events.", no_args_is_help=True)


@app.command("add")
@handle_errors
def add(
    url: str,
    events: Annotated[
        str | None, typer.Option("--events", help="Comma-separated event types (default: all).")
    ] = None,
    stream: Annotated[
        list[str] | None, typer.Option("--stream", help="Only this stream (repeatable).")
    ] = None,
) -> None:
    """Register a receiver; prints its signing secret once."""
    from airtrack.orchestrator.webhooks import add_endpoint

    types = [t.strip() for t in (events or "").split(",") if t.strip()]
    settings = settings_from()

    async def go(db: Database) -> dict[str, Any]:
        return await add_endpoint(db, url, types, stream or [], settings)

    row = run_async(with_db(settings, go))
    out.print(f"added webhook #{row['id']} {row['url']}", markup=False)
    out.print(f"events: {', '.join(row['event_types']) or 'all'}", markup=False)
    out.print(f"secret: {row['secret']}", markup=False)
    out.print("(the secret is shown only now: keep it with the receiver)", markup=False)


@app.command("list")
@handle_errors
def list_(json: JsonFlag = False) -> None:
    """Endpoints with their delivery state: last success, failures, queued events."""
    from airtrack.orchestrator.delivery import delivery_state
    from airtrack.orchestrator.webhooks import list_endpoints

    rows = [delivery_state(r) for r in run_async(with_db(settings_from(), list_endpoints))]
    if json:
        print(jsonlib.dumps(rows, indent=2, default=str))
        return
    table = Table(
        "id",
        "url",
        "events",
        "queued",
        "delivered",
        "failures",
        "given up",
        "last success",
        "last error",
    )
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["url"],
            ",".join(r["event_types"]) or "all",
            str(r["queued"]),
            str(r["delivered"]),
            str(r["failures"]),
            str(r["given_up"]),
            r["last_success_at"].strftime("%Y-%m-%d %H:%M:%S") if r["last_success_at"] else "-",
            (r["last_error"] or "")[:40],
        )
    out.print(table)


@app.command("remove")
@handle_errors
def remove(endpoint_id: int) -> None:
    """Stop delivering to an endpoint (its queue is dropped)."""
    from airtrack.orchestrator.webhooks import remove_endpoint

    async def go(db: Database) -> bool:
        return await remove_endpoint(db, endpoint_id)

    if not run_async(with_db(settings_from(), go)):
        fail(f"no webhook with id {endpoint_id}")
    out.print(f"removed webhook #{endpoint_id}", markup=False)


@app.command("test")
@handle_errors
def test(endpoint_id: int) -> None:
    """Send one signed webhook.test message now; exit 1 unless the receiver answers 2xx.

    Says only whether it was taken, as the API does (the reason is in the log)."""
    from airtrack.orchestrator.webhooks import test_endpoint

    settings = settings_from()

    async def go(db: Database) -> dict[str, Any]:
        return await test_endpoint(db, endpoint_id, settings)

    got = run_async(with_db(settings, go))
    if not got["ok"]:
        fail(f"webhook #{endpoint_id}: the receiver did not take the test message (no 2xx)")
    out.print(f"webhook #{endpoint_id}: the receiver took the test message (2xx)", markup=False)
