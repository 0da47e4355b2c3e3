"""``airtrack streams …``: the monitored streams."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import admin
from ._common import JsonFlag, handle_errors, settings_from

streams_app = typer.Typer(help="Manage the monitored streams.", no_args_is_help=True)


_StatsUrl = Annotated[
    str | None,
    typer.Option(
        "--stats-url",
        help="The server's listener statistics: Icecast status-json.xsl or SHOUTcast "
        "v1/v2 stats (credentials kept, shown masked).",
    ),
]

_Meta = Annotated[
    list[str] | None,
    typer.Option(
        "--meta",
        help="key=value: country, region, city, genre, or any free-form key (repeat; "
        "key= clears it).",
    ),
]


@streams_app.command("add")
@handle_errors
def streams_add(
    url: str,
    name: Annotated[str, typer.Option("--name")],
    timezone: Annotated[str, typer.Option(help="IANA time zone, e.g. Europe/Lisbon.")] = "UTC",
    backup_url: Annotated[
        list[str] | None, typer.Option("--backup-url", help="Fallback URL, in order; repeat.")
    ] = None,
    meta: _Meta = None,
    stats_url: _StatsUrl = None,
) -> None:
    """Add a stream to monitor."""
    admin.streams_add(settings_from(), url, name, timezone, backup_url, meta, stats_url)


@streams_app.command("edit")
@handle_errors
def streams_edit(
    name: str,
    new_name: Annotated[str | None, typer.Option("--name", help="Rename the stream.")] = None,
    url: Annotated[str | None, typer.Option(help="New main URL.")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA time zone.")] = None,
    backup_url: Annotated[
        list[str] | None,
        typer.Option("--backup-url", help="Replace the fallback URLs (in order); repeat."),
    ] = None,
    no_backup_urls: Annotated[
        bool, typer.Option("--no-backup-urls", help="Remove every fallback URL.")
    ] = False,
    meta: _Meta = None,
    stats_url: _StatsUrl = None,
    no_stats_url: Annotated[
        bool, typer.Option("--no-stats-url", help="Stop polling listener figures.")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show, change nothing.")] = False,
    json: JsonFlag = False,
) -> None:
    """Change a stream's URL, backup URLs, time zone, location, genre, stats URL or extra
    fields."""
    from . import stream_edit

    options = {
        "name": new_name,
        "url": url,
        "timezone": timezone,
        "backup_urls": [] if no_backup_urls else backup_url,
        "stats_url": stats_url,
    }
    stream_edit.edit(settings_from(), name, options, meta or [], dry_run, json, no_stats_url)


@streams_app.command("import")
@handle_errors
def streams_import(
    file: Annotated[Path, typer.Argument(help="M3U/M3U8, PLS or CSV (name,url,timezone,...).")],
    format: Annotated[
        str | None, typer.Option("--format", help="m3u, pls or csv (default: from the name).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show, change nothing.")] = False,
    json: JsonFlag = False,
) -> None:
    """Add or update streams from a playlist or CSV; by name, all lines or none."""
    from . import stream_edit
    from ._common import fail

    if format not in (None, "m3u", "pls", "csv"):
        fail(f"--format must be m3u, pls or csv, got {format!r}")
    stream_edit.import_file(settings_from(), file, format, dry_run, json)  # type: ignore[arg-type]


@streams_app.command("list")
@handle_errors
def streams_list(json: JsonFlag = False) -> None:
    """List streams with their owner and state."""
    admin.streams_list(settings_from(), json)


@streams_app.command("remove")
@handle_errors
def streams_remove(name: str) -> None:
    """Stop monitoring a stream."""
    admin.streams_remove(settings_from(), name)
