"""Operator commands streams, plays, status: on the store, or through the API (remote.py)."""

from __future__ import annotations

import contextlib
import csv
import json as jsonlib
import sys
from datetime import datetime
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError
from rich.table import Table

from airtrack.db import Database
from airtrack.localtime import show_time
from airtrack.protocol import PlayOut, StreamCreate, StreamOut, WorkerOut
from airtrack.redact import mask_credentials
from airtrack.reports.writers import csv_safe_row
from airtrack.settings import Settings

from ._common import Display, fail, out, print_table, run_async, with_db
from .remote import AdminClient, is_remote


def _dump(rows: list[dict[str, Any]], model: Any) -> str:
    return jsonlib.dumps([model.model_validate(r).model_dump(mode="json") for r in rows], indent=2)


def streams_add(
    settings: Settings,
    url: str,
    name: str,
    timezone: str = "UTC",
    backup_urls: list[str] | None = None,
    meta: list[str] | None = None,
    stats_url: str | None = None,
) -> None:
    from airtrack.errors import InputRefused, StreamExists
    from airtrack.orchestrator.streams import add_stream

    from .stream_edit import split_meta

    columns, extra = split_meta(meta or [])
    try:
        req = StreamCreate(
            name=name,
            url=url,
            timezone=timezone,
            backup_urls=backup_urls or [],
            stats_url=stats_url,
            extra={k: v for k, v in extra.items() if v is not None},
            **{k: v for k, v in columns.items() if v is not None},
        )
    except ValidationError as exc:
        fail(f"invalid stream: {exc.errors()[0]['msg'].removeprefix('Value error, ')}")

    async def go(db: Database) -> dict[str, Any]:
        return await add_stream(db, req, settings)

    if is_remote():
        with AdminClient.from_settings(settings) as api:
            row = api.send_json("POST", "/streams", req.model_dump(mode="json"))
        shown = mask_credentials(str(row["url"]))
        out.print(f"added stream {row['name']} (#{row['id']}) {shown}", markup=False)
        return
    try:
        row = run_async(with_db(settings, go))
    except (StreamExists, InputRefused) as exc:
        fail(str(exc))
    shown = mask_credentials(str(row["url"]))
    out.print(f"added stream {row['name']} (#{row['id']}) {shown}", markup=False)


def streams_remove(settings: Settings, name: str) -> None:
    from airtrack.orchestrator.streams import remove_stream

    async def go(db: Database) -> bool:
        return await remove_stream(db, name)

    if is_remote():
        with AdminClient.from_settings(settings) as api:
            api.request("DELETE", f"/streams/{quote(name, safe='')}")
    elif not run_async(with_db(settings, go)):
        fail(f"no stream named {name!r}")
    out.print(f"removed stream {name}", markup=False)


def streams_list(settings: Settings, as_json: bool) -> None:
    from airtrack.orchestrator.streams import list_streams

    rows = (
        _remote_rows(settings, "/streams", StreamOut)
        if is_remote()
        else run_async(with_db(settings, list_streams, create=False))
    )
    if as_json:
        print(_dump(rows, StreamOut))
        return
    # The assignment epoch is internal (fencing); it stays in --json.
    table = Table(
        "name", "health", "assignment", "worker", "capture", "url", "time zone", "last error"
    )
    for r in rows:
        url = r["url"]
        if r.get("url_in_use") and r["url_in_use"] != url:
            url = f"{url}\n→ on backup {r['url_in_use']}"
        table.add_row(
            r["name"],
            r.get("health") or "-",
            r.get("assignment_state") or "-",
            r["worker_id"] or "-",
            r.get("capture_status") or "-",
            url,
            r.get("timezone") or "UTC",
            (r["last_error"] or "")[:60],
        )
    print_table(table)


def _when(text: str | None, flag: str) -> datetime | None:
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        fail(f"{flag} must be an ISO-8601 time, got {text!r}")
    if at.tzinfo is None:
        fail(f"{flag} must carry a time zone (e.g. 2026-01-01T00:00:00Z)")
    return at


def plays_list(
    settings: Settings,
    stream: str | None,
    since: str | None,
    fmt: str,
    limit: int = 100,
    until: str | None = None,
    track_id: int | None = None,
    isrc: str | None = None,
    with_metadata: bool = False,
) -> None:
    """The newest ``limit`` plays (``fmt``: table, json or csv); heard plays only unless
    ``with_metadata``."""
    from airtrack.orchestrator.plays import PlayQuery, page_plays

    if fmt not in ("table", "json", "csv"):
        fail(f"--format must be table, json or csv, got {fmt!r}")
    q = PlayQuery(
        stream,
        _when(since, "--since"),
        _when(until, "--until"),
        track_id,
        isrc,
        limit,
        with_metadata=with_metadata,
    )

    async def go(db: Database) -> list[dict[str, Any]]:
        return (await page_plays(db, q))[0]

    if is_remote():
        params = {
            "stream": stream,
            "since": since,
            "until": until,
            "track_id": track_id,
            "isrc": isrc,
            "limit": limit,
            "source": "all" if with_metadata else "fingerprint",
        }
        rows = _remote_rows(settings, "/plays", PlayOut, params)
    else:
        rows = run_async(with_db(settings, go, create=False))
    if fmt == "json":
        print(_dump(rows, PlayOut))
        return
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(list(PlayOut.model_fields))
        for r in rows:
            writer.writerow(
                csv_safe_row(PlayOut.model_validate(r).model_dump(mode="json").values())
            )
        return
    # "found": heard (fingerprint), backfill (found later in the archive) or metadata
    table = Table("started", "ended", "stream", "title", "artist", "confidence", "found")
    for r in rows:
        table.add_row(
            show_time(r["started_at"], utc=Display.utc),
            show_time(r["ended_at"], utc=Display.utc, date=False) if r["ended_at"] else "…",
            r["stream"],
            r["title"] or f"#{r['track_id']}",
            r["artist"] or "",
            f"{r['confidence']:.2f}",
            "heard" if r.get("play_source", "fingerprint") == "fingerprint" else r["play_source"],
        )
    print_table(table)


def _remote_rows(
    settings: Settings, path: str, model: Any, params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Rows from the API, typed as the local store would give them (datetimes, not text)."""
    with AdminClient.from_settings(settings) as api:
        body = api.get_json(path, params)
    return [model.model_validate(r).model_dump() for r in body]


def status(settings: Settings) -> None:
    from airtrack.orchestrator.streams import list_streams, list_workers

    async def go(db: Database) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return await list_workers(db), await list_streams(db)

    if is_remote():
        workers = _remote_rows(settings, "/workers", WorkerOut)
        streams = _remote_rows(settings, "/streams", StreamOut)
    else:
        workers, streams = run_async(with_db(settings, go, create=False))
        _orchestrator_line(settings)
    wt = Table("worker", "host", "state", "streams", "capacity", "last heartbeat", title="workers")
    for w in workers:
        wm = WorkerOut.model_validate(w)
        wt.add_row(
            wm.id,
            wm.host or "",
            wm.state,
            str(wm.streams),
            str(wm.capacity),
            show_time(wm.last_heartbeat, utc=Display.utc) if wm.last_heartbeat else "-",
        )
    print_table(wt)
    owned = sum(1 for s in streams if s["assignment_state"] == "assigned")
    failed = [s for s in streams if s["capture_status"] == "failed"]
    out.print(
        f"streams: {len(streams)} total, {owned} owned, {len(streams) - owned} moving or "
        f"unassigned, {len(failed)} failed"
    )
    for s in failed:
        out.print(f"  failed: {s['name']}: {s['last_error']}", markup=False)
    from .uptime import uptime_section

    uptime_section(settings)
    from .ops import alerts_section

    alerts_section(settings)


def orchestrator_address(settings: Settings) -> str:
    """Where the orchestrator of this machine's configuration answers.

    ``AIRTRACK_ORCHESTRATOR_URL`` when set; else the orchestrator's own listen settings
    (``AIRTRACK_PORT``, ``AIRTRACK_HOST``) from the same environment file, so
    ``airtrack status`` run with ``orchestrator.env`` looks where the service listens.
    """
    given = settings.model_fields_set
    if "orchestrator_url" in given or not given & {"port", "host"}:
        return settings.orchestrator_url.rstrip("/")
    host = settings.host
    if host in ("0.0.0.0", "::", ""):  # listening everywhere: this machine's loopback answers
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def _orchestrator_line(settings: Settings) -> None:
    """Whether an orchestrator answers: without one, the states below are as it left them."""
    import httpx

    url = orchestrator_address(settings)
    demo = settings.home / "demo.json"
    if demo.exists():  # a running `airtrack demo` in this home says where its orchestrator is
        with contextlib.suppress(OSError, ValueError, KeyError):
            url = str(jsonlib.loads(demo.read_text())["orchestrator"])
    try:
        up = httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        up = False
    if up:
        out.print(f"orchestrator: running at {url}", markup=False, highlight=False)
    else:
        out.print(
            f"orchestrator: NOT RUNNING (nothing answers at {url}; set AIRTRACK_ORCHESTRATOR_URL "
            "or AIRTRACK_PORT if it listens elsewhere). Worker and stream states below are as "
            "it left them: nobody is updating them.",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
