"""``airtrack catalog reindex``: prints re-derived from stored peaks."""

from __future__ import annotations

import typer

from ._common import settings_from
from .catalog import _progress, _say, _with_db


def reindex(jobs: int) -> None:
    from airtrack.catalog.reindex import reindex as run_reindex
    from airtrack.catalog.store import ENGINE

    settings = settings_from()
    every_s = settings.catalog_progress_line_s
    with _progress("reindexing", None, counts=True, every_s=every_s) as bar:

        def on_progress(done: int, total: int) -> None:
            bar.set_total(total)
            bar.advance_to(done)
            bar.tick(f"reindex: {done}/{total} tracks")

        report = _with_db(settings, lambda db: run_reindex(db, jobs=jobs, on_progress=on_progress))
    _say(
        f"{report.derived} track{'' if report.derived == 1 else 's'} re-derived from stored "
        f"peaks ({ENGINE})"
        + (f", {report.already_staged} done by an earlier run" if report.already_staged else "")
    )
    for track_id, reason in sorted(report.failed.items()):
        _say(f"failed: #{track_id}: {reason}", style="red")
    if report.need_audio:
        _say(
            f"{report.need_audio} track{'' if report.need_audio == 1 else 's'} "
            "have no stored peaks and need their audio again (`airtrack catalog add` "
            "their files)",
            style="yellow",
        )
    if report.swapped:
        _say(f"the new prints of {report.swapped} tracks now serve", style="bold")
    elif report.failed:
        _say("the old prints keep serving until the failed tracks are re-added", style="bold")
    else:
        _say("nothing to swap: every track's prints are of this engine", style="bold")
    if report.failed:
        raise typer.Exit(1)
