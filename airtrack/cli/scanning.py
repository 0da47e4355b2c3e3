"""``airtrack scan`` and ``identify``: recordings (one file or a whole archive in one
process) and clips against the catalog.

The index loads once for every file.  When the scan card (:mod:`airtrack.catalog.card`)
shows that the embedded database still holds the catalog it describes, no database is
started; otherwise the database gives the snapshot and the tracks, and the card is
written for the next scan.

One file: its plays as a table (``--json``: a list of plays), as always.  Several files
or a folder (walked recursively, audio file types only): each file's name and its table
(``--json``: one object per file, ``{"file", "plays", "warning", "error"}``); a file that
cannot be read is reported and the others are still scanned; the exit code is 1 if any
failed.

Light on purpose: a plain scan or identify line (``airtrack.cli.main``) of a current card
loads neither Typer nor rich unless it prints a table or draws a progress bar on a
terminal; exits are ``SystemExit`` with the command's code.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from airtrack.errors import AirtrackError, AudioError, first_line

from ._output import duration, print_json, safe, say

if TYPE_CHECKING:
    from rich.table import Table

    from airtrack.catalog.card import ScanCard
    from airtrack.catalog.recognise import Identified, ScanPlay
    from airtrack.db import Database
    from airtrack.fingerprint import Index, Play
    from airtrack.settings import Settings

    from ._output import Bar

T = TypeVar("T")

EXIT_FAILED = 1
EXIT_NO_MATCH = 1
EXIT_INTERRUPTED = 130


@dataclass
class _Result:
    file: str
    plays: list[Play] = field(default_factory=list)
    warning: str | None = None
    error: str | None = None
    shown: list[ScanPlay] = field(default_factory=list)


def scan(paths: list[str], as_json: bool) -> None:
    """Scan ``paths`` (files or folders) and print the plays of each."""
    single = len(paths) == 1 and not os.path.isdir(paths[0])
    results = [_Result(paths[0])] if single else _inputs(paths)
    card = _card()
    if card is not None:
        from airtrack.catalog.recognise import join_plays
        from airtrack.fingerprint import Index

        try:
            _scan_all(Index.load(card.snapshot), results, single)
        except KeyboardInterrupt:
            raise SystemExit(EXIT_INTERRUPTED) from None
        for r in results:
            r.shown = join_plays(r.plays, card.tracks)
    else:
        from ._common import settings_from, with_db

        settings = settings_from()
        _run(with_db(settings, lambda db: _scan_with_db(db, settings, results, single)))
    _show(results, single, as_json)
    if any(r.error for r in results):
        raise SystemExit(EXIT_FAILED)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """``run_async`` of the other commands, with this module's exit."""
    import asyncio

    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        raise SystemExit(EXIT_INTERRUPTED) from None


def _warn(line: str) -> None:
    """One line on stderr, as the other commands' ``err.print(…, markup=False)`` writes it."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


_RICH_TERMINAL_VARIABLES = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")


class _NoBar:
    def advance_to(self, completed: float) -> None:
        pass


@contextmanager
def _progress(total: float | None) -> Iterator[Bar | _NoBar]:
    """``_output.progress``, whose bar is drawn on a terminal only: rich is loaded only
    where it could be one (stderr a terminal, or rich told so by its variables)."""
    if not sys.stderr.isatty() and not any(v in os.environ for v in _RICH_TERMINAL_VARIABLES):
        yield _NoBar()
        return
    from ._output import progress

    with progress("scanning", total, counts=False) as bar:
        yield bar


def _card() -> ScanCard | None:
    """The scan card when it is current (see :mod:`airtrack.catalog.card`), else None.

    Read before any setting is loaded: a scan on a current card needs only the place of
    the state folder (:mod:`airtrack.home`), so it loads neither the settings (pydantic)
    nor the logging set-up, the database driver or the event loop; the other settings
    are checked when a scan must ask the database.
    """
    from airtrack.catalog.card import current_card
    from airtrack.home import place_from_env

    return None if _remote() else current_card(place_from_env())


def _remote() -> bool:
    """``is_remote()`` without loading the API client when its variables are not set."""
    if not os.environ.get("AIRTRACK_ORCHESTRATOR_URL"):
        return False
    from .remote import is_remote

    return is_remote()


def _inputs(paths: list[str]) -> list[_Result]:
    from airtrack.catalog.files import Candidate, discover

    found = []
    for item in discover(paths):
        if isinstance(item, Candidate):
            found.append(_Result(item.path))
        elif item.status == "failed":
            found.append(_Result(item.source, error=item.reason))
    return found


async def _scan_with_db(
    db: Database, settings: Settings, results: list[_Result], single: bool
) -> None:
    import asyncio

    from airtrack.catalog.card import write_card
    from airtrack.catalog.recognise import describe_plays
    from airtrack.catalog.snapshot import load_index

    index, snapshot = await load_index(db, settings)
    await asyncio.to_thread(_scan_all, index, results, single)
    for r in results:
        r.shown = await describe_plays(db, r.plays)
    await write_card(db, settings, snapshot)


def _scan_all(index: Index, results: list[_Result], single: bool) -> None:
    from airtrack.catalog.recognise import scan_recording
    from airtrack.fingerprint import probe_duration

    if index.n_tracks == 0:
        _warn("airtrack: the catalog is empty")
    for r in results:
        if r.error is not None:
            continue
        try:
            total = probe_duration(r.file)
        except AudioError:
            total = None  # decode() below reports the real problem
        try:
            with _progress(total) as bar:
                found = scan_recording(r.file, index, on_progress=bar.advance_to)
        except AirtrackError as exc:
            if single:
                raise
            r.error = first_line(exc).removeprefix(f"{r.file}: ")
            _warn(f"airtrack: {safe(r.file)}: {r.error}")
            continue
        r.plays = found.plays
        if (damage := found.damage(total)) is not None:
            r.warning = damage
            # stderr: --json output stays parseable, and the warning is never missed
            _warn(f"airtrack: warning: {safe(r.file)}: {damage}")


def _show(results: list[_Result], single: bool, as_json: bool) -> None:
    if as_json:
        if single:
            print_json([p.to_json() for p in results[0].shown])
        else:
            print_json(
                [
                    {
                        "file": r.file,
                        "plays": [p.to_json() for p in r.shown],
                        "warning": r.warning,
                        "error": r.error,
                    }
                    for r in results
                ]
            )
        return
    for i, r in enumerate(results):
        if not single:
            if i:
                say("")
            say(f"{r.file}:", style="bold")
        if r.error is not None:
            say(f"failed: {r.error}", style="red")
        elif not r.shown:
            say("no catalog songs found")
        else:
            from ._console import print_table

            print_table(_table(r.shown))


def _table(plays: list[ScanPlay]) -> Table:
    from rich.table import Table

    table = Table("start", "end", "id", "title", "artist", "confidence", "source", box=None)
    for p in plays:
        table.add_row(
            duration(p.start),
            duration(p.end),
            str(p.track_id),
            safe(p.title or ""),
            safe(p.artist or ""),
            f"{p.confidence:.2f}",
            safe(p.source or ""),
        )
    return table


def identify(clip: str, as_json: bool) -> None:
    """The best catalog match of ``clip``, or "no match" (exit 1)."""
    card = _card()
    if card is not None:
        from airtrack.catalog.recognise import identify_clip, join_match
        from airtrack.fingerprint import Index

        index = Index.load(card.snapshot)
        if index.n_tracks == 0:
            _warn("airtrack: the catalog is empty")
        try:
            match = identify_clip(clip, index)
        except KeyboardInterrupt:
            raise SystemExit(EXIT_INTERRUPTED) from None
        found = None if match is None else join_match(match, card.tracks)
    else:
        from ._common import settings_from, with_db

        settings = settings_from()
        found = _run(with_db(settings, lambda db: _identify_with_db(db, settings, clip)))
    if found is None:
        if as_json:
            print_json(None)
        else:
            say("no match")
        raise SystemExit(EXIT_NO_MATCH)
    if as_json:
        print_json(found.to_json())
        return
    who = " – ".join(x for x in (found.artist, found.title) if x) or "(untitled)"
    say(f"#{found.track_id} {who}")
    say(f"  source:     {found.source}")
    say(f"  offset:     {found.offset:.1f} s into the track")
    say(f"  confidence: {found.confidence:.2f}")
    if abs(found.speed - 1.0) > 1e-6:
        say(f"  speed:      {found.speed:.2f}×")


async def _identify_with_db(db: Database, settings: Settings, clip: str) -> Identified | None:
    import asyncio

    from airtrack.catalog.card import write_card
    from airtrack.catalog.recognise import describe_match, identify_clip
    from airtrack.catalog.snapshot import load_index

    index, snapshot = await load_index(db, settings)
    if index.n_tracks == 0:
        _warn("airtrack: the catalog is empty")
    match = await asyncio.to_thread(identify_clip, clip, index)
    found = None if match is None else await describe_match(db, match)
    await write_card(db, settings, snapshot)
    return found
