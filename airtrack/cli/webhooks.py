"""``airtrack webhooks``: add, list (with delivery state), remove and test endpoints.

Reads and writes the store directly, like ``airtrack streams``, or goes through the API's
``/api/v1/webhooks`` routes from a laptop (docs/reports.md#remote); delivery itself is the
leading orchestrator's (docs/integrations.md).
"""

from __future__ import annotations

import json as jsonlib
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from airtrack.db import Database

from ._common import (
    JsonFlag,
    fail,
    handle_errors,
    out,
    print_table,
    run_async,
    settings_from,
    with_db,
)
from .remote import AdminClient, is_remote

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

    if is_remote():
        body = {"url": url, "events": types, "streams": stream or []}
        with AdminClient.from_settings(settings) as api:
            row = api.send_json("POST", "/webhooks", body)
    else:
        row = run_async(with_db(settings, go))
    out.print(f"added webhook #{row['id']} {row['url']}", markup=False)
    out.print(f"events: {', '.join(row['events']) or 'all'}", markup=False)
    if row["streams"]:
        out.print(f"streams: {', '.join(row['streams'])}", markup=False)
    out.print(f"secret: {row['secret']}", markup=False)
    out.print("(the secret is shown only now: keep it with the receiver)", markup=False)


def _when(value: Any) -> str:
    if not value:
        return "-"
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return str(at.strftime("%Y-%m-%d %H:%M:%S"))


@app.command("list")
@handle_errors
def list_(json: JsonFlag = False) -> None:
    """Endpoints with their delivery state: last success, failures, queued events."""
    from airtrack.orchestrator.webhooks import list_endpoints

    settings = settings_from()
    rows: list[dict[str, Any]]
    if is_remote():
        with AdminClient.from_settings(settings) as api:
            rows = api.get_json("/webhooks")
    else:
        rows = run_async(with_db(settings, list_endpoints))
    if json:
        print(jsonlib.dumps(rows, indent=2, default=str))
        return
    table = Table(
        "id",
        "url",
        "events",
        "streams",
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
            ",".join(r["events"]) or "all",
            ",".join(r["streams"]) or "all",
            str(r["queued"]),
            str(r["delivered"]),
            str(r["failures"]),
            str(r["given_up"]),
            _when(r["last_success_at"]),
            (r["last_error"] or "")[:40],
        )
    print_table(table)


@app.command("remove")
@handle_errors
def remove(endpoint_id: int) -> None:
    """Stop delivering to an endpoint (its queue is dropped)."""
    from airtrack.orchestrator.webhooks import remove_endpoint

    async def go(db: Database) -> bool:
        return await remove_endpoint(db, endpoint_id)

    settings = settings_from()
    if is_remote():
        with AdminClient.from_settings(settings) as api:
            api.request("DELETE", f"/webhooks/{endpoint_id}")  # 404: "no webhook with id N"
    elif not run_async(with_db(settings, go)):
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

    if is_remote():
        with AdminClient.from_settings(settings) as api:
            got = api.send_json("POST", f"/webhooks/{endpoint_id}/test", None)
    else:
        got = run_async(with_db(settings, go))
    if not got["ok"]:
        fail(f"webhook #{endpoint_id}: the receiver did not take the test message (no 2xx)")
    out.print(f"webhook #{endpoint_id}: the receiver took the test message (2xx)", markup=False)
