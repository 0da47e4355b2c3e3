"""``airtrack catalog …``, ``identify`` and ``scan``: the songs to recognise."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import JsonFlag, handle_errors

catalog_app = typer.Typer(help="Manage the catalog of songs to recognise.", no_args_is_help=True)


@catalog_app.command("add")
@handle_errors
def catalog_add(
    paths: Annotated[list[str], typer.Argument(help="Files or folders.")],
    jobs: Annotated[int, typer.Option(min=0, help="Fingerprinting processes.")] = 2,
) -> None:
    """Add songs (files or folders, recursive); duplicates are skipped."""
    from . import catalog

    catalog.add(paths, jobs)


@catalog_app.command("list")
@handle_errors
def catalog_list(
    json: JsonFlag = False,
    search: Annotated[
        str | None, typer.Option(help="Only tracks with this text in a field (any case).")
    ] = None,
) -> None:
    """List catalog songs."""
    from . import catalog

    catalog.list_(json, search)


@catalog_app.command("show")
@handle_errors
def catalog_show(track_id: int, json: JsonFlag = False) -> None:
    """Every field of one catalog song."""
    from . import catalog_meta

    catalog_meta.show(track_id, json)


_Text = Annotated[str | None, typer.Option(help="New value ('' clears it).")]


@catalog_app.command("edit")
@handle_errors
def catalog_edit(
    track_id: int,
    title: _Text = None,
    artist: _Text = None,
    album: _Text = None,
    label: _Text = None,
    isrc: Annotated[str | None, typer.Option(help="ISRC, e.g. US-RC1-76-07839.")] = None,
    iswc: Annotated[str | None, typer.Option(help="ISWC, e.g. T-034.524.680-1.")] = None,
    composer: Annotated[
        list[str] | None, typer.Option(help="Composer (repeat for several; replaces them).")
    ] = None,
    year: Annotated[str | None, typer.Option(help="Release year.")] = None,
    meta: Annotated[
        list[str] | None, typer.Option(help="Free-form key=value (key= removes it); repeat.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show, change nothing.")] = False,
    json: JsonFlag = False,
) -> None:
    """Change a song's metadata (title, artist, album, label, ISRC, ISWC, composers...)."""
    from . import catalog_meta

    options = {
        "title": title,
        "artist": artist,
        "album": album,
        "label": label,
        "isrc": isrc,
        "iswc": iswc,
        "release_year": year,
    }
    catalog_meta.edit(track_id, options, composer, meta or [], dry_run, json)


@catalog_app.command("import-metadata")
@handle_errors
def catalog_import_metadata(
    file: Annotated[Path, typer.Argument(help="CSV with a header row.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show, change nothing.")] = False,
    json: JsonFlag = False,
) -> None:
    """Set metadata from a CSV keyed by track_id, source or isrc: all rows or none."""
    from . import catalog_meta

    catalog_meta.import_metadata(file, dry_run, json)


@catalog_app.command("remove")
@handle_errors
def catalog_remove(
    track_id: int,
    force: Annotated[
        bool, typer.Option("--force", help="Remove it even if plays of it are logged.")
    ] = False,
) -> None:
    """Remove a song from the catalog (refused if it has plays, unless --force)."""
    from . import catalog

    catalog.remove(track_id, force=force)


@catalog_app.command("backfill")
@handle_errors
def catalog_backfill(
    track_ids: Annotated[
        list[int] | None,
        typer.Argument(help="Tracks to look for (default: those added within --since)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only the archive's last DURATION (90s, 30m, 12h, 7d)."),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Log the past airings of tracks found in the fingerprint archive (source backfill).

    Never twice: a re-run or an airing already logged changes nothing. The leader runs it
    by itself for every track added (docs/unknown.md).
    """
    from . import backfill
    from ._common import settings_from

    backfill.run(settings_from(), list(track_ids or []), since, json)


@catalog_app.command("reindex")
@handle_errors
def catalog_reindex(
    jobs: Annotated[int, typer.Option(min=0, help="Processes deriving prints.")] = 2,
) -> None:
    """Re-derive every track's prints from its stored peaks (after an engine change)."""
    from . import catalog_reindex

    catalog_reindex.reindex(jobs)


@handle_errors
def identify(clip: str, json: JsonFlag = False) -> None:
    """Best catalog match for a clip, or "no match" (exit 1)."""
    from . import scanning

    scanning.identify(clip, json)


@handle_errors
def scan(
    recordings: Annotated[
        list[str], typer.Argument(help="Recordings: files or folders (recursive).")
    ],
    json: JsonFlag = False,
) -> None:
    """Plays found in long recordings, file by file (many files: one process, one index)."""
    from . import scanning

    scanning.scan(recordings, json)
