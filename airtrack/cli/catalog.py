"""``catalog add/list/remove``, ``identify`` and ``scan`` (docs/architecture.md#contracts).

Results go to stdout (one line per file, tables, or JSON); progress bars go to stderr and
only when stderr is a terminal.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

import typer
from rich.table import Table

from airtrack.catalog.files import IngestSummary
from airtrack.db import Database
from airtrack.localtime import show_time
from airtrack.settings import Settings

from ._common import Display, fail, print_table, run_async, settings_from, with_db
from ._output import duration as _duration
from ._output import print_json as _print_json
from ._output import progress as _progress
from ._output import safe as _safe
from ._output import say as _say
from .remote import AdminClient, is_remote

T = TypeVar("T")

EXIT_INTERRUPTED = 130  # run_async's exit on Ctrl-C


def _with_db(settings: Settings, fn: Callable[[Database], Awaitable[T]]) -> T:
    return run_async(with_db(settings, fn))


# -- catalog add -------------------------------------------------------------------------


def _eta(seconds: float) -> str:
    return _duration(seconds) if seconds < 360_000 else "?"


def add(paths: list[str], jobs: int) -> None:
    from airtrack.catalog.files import FileResult, discover
    from airtrack.catalog.ingest import ingest

    settings = settings_from()
    items = list(discover(paths))
    total = len(items)
    tally = IngestSummary()  # what the bar shows, and what an interrupted run reports
    t0 = time.monotonic()

    with _progress("adding", total, counts=True, every_s=settings.catalog_progress_line_s) as bar:

        def on_result(r: FileResult) -> None:
            tally.count(r)
            done = tally.results_seen
            bar.advance_to(done)
            if r.status in ("added", "updated"):
                who = " – ".join(x for x in (r.artist, r.title) if x)
                verb = "added" if r.status == "added" else "updated"
                bar.say(f"{verb} #{r.track_id}: {r.source} ({who}, {_duration(r.duration_s)})")
            elif r.status == "duplicate":
                bar.say(f"skipped: {r.source} ({r.reason})", style="yellow")
            elif r.status == "ignored":
                bar.say(f"ignored: {r.source} ({r.reason})", style="dim")
            else:
                bar.say(f"failed: {r.source}: {r.reason}", style="red")
            elapsed = max(time.monotonic() - t0, 1e-9)
            hours = f"{tally.audio_s / 3600:.2f} h of audio"
            bar.describe(f"adding ({hours})")
            bar.tick(
                f"catalog add: {done}/{total} files, {hours} "
                f"({tally.audio_s / elapsed:.1f}x real time), {done / elapsed:.2f} files/s, "
                f"ETA {_eta((total - done) * elapsed / done)}",
                force=done == total,
            )

        try:
            if is_remote():  # fingerprint here, upload prints and tags: never the audio
                from .remote_catalog import ApiTrackStore

                with AdminClient.from_settings(settings) as api:
                    summary = run_async(
                        ingest(
                            None, items, jobs=jobs, on_result=on_result, store=ApiTrackStore(api)
                        )
                    )
            else:
                summary = _with_db(
                    settings, lambda db: ingest(db, items, jobs=jobs, on_result=on_result)
                )
        except typer.Exit as stop:
            if stop.exit_code == EXIT_INTERRUPTED:
                _say(
                    f"interrupted: {tally.results_seen} of {total} files done "
                    f"({tally.added} added); run the same command again to add the rest "
                    "(finished files are skipped without decoding)",
                    style="bold",
                )
                _list_failures(tally)
            raise
    parts = [
        f"{summary.added} added",
        f"{summary.duplicates} duplicate{'' if summary.duplicates == 1 else 's'}",
        f"{summary.failed} failed",
    ]
    if summary.updated:
        parts.insert(1, f"{summary.updated} updated")
    if summary.ignored:
        parts.append(f"{summary.ignored} ignored (not audio)")
    elapsed = time.monotonic() - t0
    parts.append(f"{summary.audio_s / 3600:.2f} h of audio in {_duration(elapsed)}")
    _say(", ".join(parts), style="bold")
    _list_failures(summary)
    if summary.exit_code:
        raise typer.Exit(summary.exit_code)


def _list_failures(summary: IngestSummary) -> None:
    """The failed files again at the end: in a batch of thousands their lines scrolled by."""
    if summary.failures:
        _say(f"failed ({len(summary.failures)}):", style="red")
        for r in summary.failures:
            _say(f"  {r.source}: {r.reason}", style="red")


# -- catalog list / remove ---------------------------------------------------------------


def list_(as_json: bool, search: str | None = None) -> None:
    from airtrack.catalog.store import TrackRow, list_tracks

    text = search.replace("\x00", "") if search else None
    settings = settings_from()
    if is_remote():
        with AdminClient.from_settings(settings) as api:
            found = api.get_json("/catalog/tracks", {"search": text})
        rows = [TrackRow.from_json(t) for t in found]
    else:
        rows = _with_db(settings, lambda db: list_tracks(db, text))
    if as_json:
        _print_json([r.to_json() for r in rows])
        return
    if not rows:
        _say(
            "no tracks match"
            if search
            else "the catalog is empty (add songs with `airtrack catalog add PATH...`)"
        )
        return
    table = Table("id", "title", "artist", "album", "isrc", "source", "duration", "added", box=None)
    for r in rows:
        table.add_row(
            str(r.id),
            _safe(r.title or ""),
            _safe(r.artist or ""),
            _safe(r.album or ""),
            r.isrc or "",
            _safe(r.source),
            _duration(r.duration_s),
            _local(r.added_at),
        )
    print_table(table)


def _local(when: datetime | None) -> str:
    return show_time(when, utc=Display.utc)


def remove(track_id: int, *, force: bool = False) -> None:
    from airtrack.catalog.store import remove_track

    row = _with_db(settings_from(), lambda db: remove_track(db, track_id, force=force))
    if row is None:
        fail(f"no track #{track_id} in the catalog")
    _say(f"removed #{row.id}: {row.source}")


# -- identify / scan ---------------------------------------------------------------------
