"""``catalog show/edit/import-metadata`` and ``catalog list --search`` (docs/reports.md).

Results go to stdout; a refused change prints one line per bad input line on stderr and
exits non-zero with nothing changed.
"""

from __future__ import annotations

import json as jsonlib
import sys
from pathlib import Path
from typing import Any, NoReturn

from airtrack.catalog.edit import ChangeResult
from airtrack.catalog.metadata import TRACK_TEXT_FIELDS
from airtrack.catalog.store import TrackRow
from airtrack.errors import CatalogError, MetadataImportError

from ._common import (
    EXIT_ERROR,
    err,
    fail,
    out,
    read_import_file,
    run_async,
    settings_from,
    show_value,
    with_db,
)
from .remote import AdminClient, is_remote


def _say(text: str) -> None:
    out.print(
        text.encode("utf-8", "backslashreplace").decode(),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def _print_json(value: object) -> None:
    sys.stdout.write(jsonlib.dumps(value, ensure_ascii=False, indent=2) + "\n")


def refused(exc: MetadataImportError) -> NoReturn:
    """The one-line reason, then every bad line, on stderr; exit 1."""
    for problem in exc.problems:
        err.print(f"  {problem}", markup=False, highlight=False, soft_wrap=True)
    fail(str(exc), EXIT_ERROR)


def _show_lines(track: TrackRow) -> list[str]:
    j = track.to_json()
    lines = [
        f"#{track.id} {' – '.join(x for x in (track.artist, track.title) if x) or '(untitled)'}"
    ]
    for name in (*TRACK_TEXT_FIELDS, "release_year", "source", "duration_s", "added_at"):
        lines.append(f"  {name + ':':<14}{'' if j[name] is None else j[name]}")
    lines.append(f"  {'composers:':<14}{'; '.join(track.composers)}")
    for key, value in sorted(track.extra.items()):
        lines.append(f"  {'extra.' + key + ':':<14}{value}")
    return lines


def show(track_id: int, as_json: bool) -> None:
    from airtrack.catalog.store import get_track

    settings = settings_from()
    if is_remote():
        with AdminClient.from_settings(settings) as api:
            track: TrackRow | None = TrackRow.from_json(api.get_json(f"/catalog/tracks/{track_id}"))
    else:
        track = run_async(with_db(settings, lambda db: get_track(db, track_id)))
    if track is None:
        fail(f"no track #{track_id} in the catalog")
    if as_json:
        _print_json(track.to_json())
        return
    for line in _show_lines(track):
        _say(line)


def parse_meta(pairs: list[str]) -> dict[str, str | None]:
    """``key=value`` options → ``{key: value}``; ``key=`` removes the key."""
    extra: dict[str, str | None] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            fail(f"--meta takes key=value, got {pair!r}")
        extra[key.strip()] = value.strip() or None
    return extra


def edit(
    track_id: int,
    options: dict[str, str | None],
    composers: list[str] | None,
    meta: list[str],
    dry_run: bool,
    as_json: bool,
) -> None:
    from airtrack.catalog.edit import edit_track
    from airtrack.catalog.metadata import parse_field

    fields: dict[str, Any] = {}
    try:
        for name, value in options.items():
            if value is not None:
                fields[name] = parse_field(name, value)
        if composers is not None:
            fields["composers"] = parse_field("composers", ";".join(composers))
    except CatalogError as exc:
        fail(str(exc))
    extra = parse_meta(meta)
    if not fields and not extra:
        fail("nothing to change: give at least one option (see --help)")
    settings = settings_from()
    if is_remote():
        body: dict[str, Any] = {k: v for k, v in options.items() if v is not None}
        if composers is not None:
            body["composers"] = composers
        body["extra"] = extra
        with AdminClient.from_settings(settings) as api:
            doc = api.send_json(
                "PATCH", f"/catalog/tracks/{track_id}", body, {"dry_run": dry_run or None}
            )
        _report([ChangeResult.from_json(t) for t in doc["tracks"]], dry_run, as_json)
        return
    result = run_async(
        with_db(settings, lambda db: edit_track(db, track_id, fields, extra, dry_run=dry_run))
    )
    _report([result], dry_run, as_json)


def import_metadata(path: Path, dry_run: bool, as_json: bool) -> None:
    from airtrack.catalog.edit import apply_track_changes, parse_metadata_csv

    settings = settings_from()
    data = read_import_file(path, settings)
    if is_remote():
        with AdminClient.from_settings(settings) as api:
            try:
                doc = api.post_file(
                    "/catalog/tracks/import-metadata",
                    data,
                    {"dry_run": dry_run or None},
                    MetadataImportError,
                )
            except MetadataImportError as exc:
                refused(exc)
        _report([ChangeResult.from_json(t) for t in doc["tracks"]], dry_run, as_json)
        return
    try:
        changes, problems = parse_metadata_csv(data, settings.import_max_bytes)
        results = run_async(
            with_db(
                settings,
                lambda db: apply_track_changes(db, changes, dry_run=dry_run, problems=problems),
            )
        )
    except MetadataImportError as exc:
        refused(exc)
    _report(results, dry_run, as_json)


def _report(results: list[ChangeResult], dry_run: bool, as_json: bool) -> None:
    if as_json:
        _print_json({"dry_run": dry_run, "tracks": [r.to_json() for r in results]})
        return
    verb = "would change" if dry_run else "changed"
    changed = 0
    for r in results:
        if not r.changes:
            continue
        changed += 1
        where = f"line {r.line}: " if r.line else ""
        _say(f"{where}#{r.track_id} {r.source}")
        for name, (before, after) in r.changes.items():
            _say(f"    {name}: {show_value(before, sep='; ')} → {show_value(after, sep='; ')}")
    _say(
        f"{verb} {changed} track{'' if changed == 1 else 's'}"
        f"{' (dry run: nothing written)' if dry_run else ''}"
    )
