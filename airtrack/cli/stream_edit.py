"""``streams add`` options, ``streams edit`` and ``streams import`` (stream metadata).

A refused import prints one line per bad input line on stderr and exits non-zero with
nothing changed.
"""

from __future__ import annotations

import json as jsonlib
import sys
from pathlib import Path
from typing import Any, NoReturn

from airtrack.errors import InputRefused, StreamExists, StreamFieldError, StreamImportError
from airtrack.orchestrator.stream_edit import StreamOutcome
from airtrack.orchestrator.stream_files import TEXT_FIELDS, FileFormat
from airtrack.settings import Settings

from ._common import err, fail, out, read_import_file, run_async, show_value, with_db
from .remote import AdminClient, is_remote


def _say(text: str) -> None:
    out.print(text, markup=False, highlight=False, soft_wrap=True)


def split_meta(pairs: list[str]) -> tuple[dict[str, str | None], dict[str, str | None]]:
    """``key=value`` options → (column fields: country/region/city/genre, extra)."""
    fields: dict[str, str | None] = {}
    extra: dict[str, str | None] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            fail(f"--meta takes key=value, got {pair!r}")
        if key in TEXT_FIELDS:
            fields[key] = value.strip() or None
        else:
            extra[key] = value.strip() or None
    return fields, extra


def refused(exc: StreamImportError) -> NoReturn:
    for problem in exc.problems:
        err.print(f"  {problem}", markup=False, highlight=False, soft_wrap=True)
    fail(str(exc))


def edit(
    settings: Settings,
    name: str,
    options: dict[str, Any],
    meta: list[str],
    dry_run: bool,
    as_json: bool,
    no_stats_url: bool = False,
) -> None:
    from airtrack.orchestrator.stream_edit import edit_stream
    from airtrack.orchestrator.stream_files import check_stream_fields

    columns, extra = split_meta(meta)
    given = {k: v for k, v in {**options, **columns}.items() if v is not None}
    for key in TEXT_FIELDS:
        if key in columns and columns[key] is None:
            given[key] = None  # --meta city= clears it
    if no_stats_url:
        given["stats_url"] = None
    if not given and not extra:
        fail("nothing to change: give at least one option (see --help)")
    if is_remote():
        body = {**given, "extra": extra}
        with AdminClient.from_settings(settings) as api:
            doc = api.send_json("PATCH", f"/streams/{name}", body, {"dry_run": dry_run or None})
        _report([StreamOutcome.from_json(o) for o in doc["streams"]], dry_run, as_json)
        return
    try:
        fields = check_stream_fields(given)
        outcome = run_async(
            with_db(
                settings, lambda db: edit_stream(db, name, fields, extra, settings, dry_run=dry_run)
            )
        )
    except (StreamFieldError, StreamExists, InputRefused) as exc:
        fail(str(exc))
    _report([outcome], dry_run, as_json)


def import_file(
    settings: Settings, path: Path, fmt: FileFormat | None, dry_run: bool, as_json: bool
) -> None:
    from airtrack.orchestrator.stream_edit import import_streams
    from airtrack.orchestrator.stream_files import parse_streams

    data = read_import_file(path, settings)
    if is_remote():
        params = {"format": fmt, "filename": path.name, "dry_run": dry_run or None}
        with AdminClient.from_settings(settings) as api:
            try:
                doc = api.post_file("/streams/import", data, params, StreamImportError)
            except StreamImportError as exc:
                refused(exc)
        _report([StreamOutcome.from_json(o) for o in doc["streams"]], dry_run, as_json)
        return
    try:
        entries, problems = parse_streams(data, path.name, settings.import_max_bytes, fmt)
        outcomes = run_async(
            with_db(
                settings,
                lambda db: import_streams(
                    db, entries, settings, dry_run=dry_run, problems=problems
                ),
            )
        )
    except StreamImportError as exc:
        refused(exc)
    _report(outcomes, dry_run, as_json)


def _report(outcomes: list[StreamOutcome], dry_run: bool, as_json: bool) -> None:
    if as_json:
        doc = {"dry_run": dry_run, "streams": [o.to_json() for o in outcomes]}
        sys.stdout.write(jsonlib.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        return
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    for o in outcomes:
        counts[o.action] += 1
        if o.action == "unchanged":
            continue
        where = f"line {o.line}: " if o.line else ""
        verb = {"added": "add", "updated": "update"}[o.action] if dry_run else o.action
        _say(f"{where}{verb} {o.name}")
        for key, (before, after) in o.changes.items():
            _say(f"    {key}: {show_value(before, sep=' ')} → {show_value(after, sep=' ')}")
    summary = ", ".join(f"{n} {k}" for k, n in counts.items())
    _say(f"{summary}{' (dry run: nothing written)' if dry_run else ''}")
