"""Change tracks' descriptive fields: ``catalog edit``, ``catalog import-metadata``, the API.

Every change goes through :func:`apply_track_changes`: one transaction locks the tracks it
names (id order), works out every new record, checks every line (unknown key, the same
track twice, an ISRC that would end up on two tracks) and writes only when no line is bad,
so a file is applied completely or not at all.  ``dry_run`` does all of that and writes
nothing.  Metadata does not change the fingerprint index, so the catalog revision is not
bumped (workers keep their snapshot).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from airtrack.checks import check_extra_count
from airtrack.db import Database, Tx
from airtrack.errors import CatalogError, IntegrityViolation, MetadataImportError, UnknownTrack
from airtrack.listfile import csv_records, decode_list_file
from airtrack.logging import get_logger

from .identifiers import normalise_isrc
from .metadata import (
    EXTRA_PREFIX,
    TRACK_FIELDS,
    apply_changes,
    changed_fields,
    parse_extra_key,
    parse_field,
)
from .store import TrackRow, track_from_row

__all__ = [
    "ChangeResult",
    "KeyKind",
    "TrackChange",
    "apply_track_changes",
    "edit_track",
    "parse_metadata_csv",
]

log = get_logger(__name__)

KeyKind = Literal["track_id", "isrc", "source"]
_KEYS: tuple[KeyKind, ...] = ("track_id", "source", "isrc")


@dataclass(frozen=True, slots=True)
class TrackChange:
    """Set ``fields`` and merge ``extra`` (None removes a key) on the track ``key`` names."""

    line: int
    kind: KeyKind
    key: str | int
    fields: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, str | None] = field(default_factory=dict)

    def describe(self) -> str:
        return f"#{self.key}" if self.kind == "track_id" else f"{self.kind} {self.key!r}"


@dataclass(frozen=True, slots=True)
class ChangeResult:
    line: int
    track_id: int
    source: str
    changes: dict[str, tuple[Any, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "track_id": self.track_id,
            "source": self.source,
            "changes": {k: {"from": a, "to": b} for k, (a, b) in self.changes.items()},
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ChangeResult:
        """Back from :meth:`to_json` (the remote CLI reads the API's answer)."""
        changes = {k: (v["from"], v["to"]) for k, v in d["changes"].items()}
        return cls(int(d["line"]), int(d["track_id"]), str(d["source"]), changes)


# -- the CSV ------------------------------------------------------------------------------


def parse_metadata_csv(data: bytes, max_bytes: int) -> tuple[list[TrackChange], list[str]]:
    """The changes of a metadata CSV and the problems of its bad lines ("line N: ...").

    The header names the key column (``track_id``, else ``source``, else ``isrc``) and the
    fields to set; an empty cell leaves a field as it is.  A problem with the file as a
    whole (size, encoding, header) raises ``MetadataImportError``.
    """
    text = decode_list_file(data, max_bytes, MetadataImportError)
    records = csv_records(text, MetadataImportError)
    header_line, header = records[0]
    names = [h.strip() for h in header]
    kind = next((k for k in _KEYS if k in names), None)
    if kind is None:
        raise MetadataImportError(
            f"line {header_line}: no key column: the header needs track_id, source or isrc"
        )
    problems: list[str] = []
    for name in names:
        if name in (kind, "source") or name in TRACK_FIELDS:
            continue  # a source column beside a track_id key is only there for people
        try:
            if parse_extra_key(name) is None:
                problems.append(
                    f"line {header_line}: unknown column {name!r} (known: track_id, source, "
                    f"{', '.join(TRACK_FIELDS)}, extra.KEY)"
                )
        except CatalogError as exc:
            problems.append(f"line {header_line}: column {name!r}: {exc}")
    if len(set(names)) != len(names):
        problems.append(f"line {header_line}: a column appears twice")
    try:
        check_extra_count(sum(n.startswith(EXTRA_PREFIX) for n in names))
    except ValueError as exc:
        problems.append(f"line {header_line}: {exc} (extra.* columns)")
    if problems:
        raise MetadataImportError("the header is refused", problems)
    changes: list[TrackChange] = []
    for line, cells in records[1:]:
        if len(cells) != len(names):
            problems.append(f"line {line}: {len(cells)} fields, the header has {len(names)}")
            continue
        try:
            changes.append(_change(line, kind, dict(zip(names, cells, strict=True))))
        except CatalogError as exc:
            problems.append(f"line {line}: {exc}")
    return changes, problems


def _change(line: int, kind: KeyKind, row: dict[str, str]) -> TrackChange:
    raw_key = row.pop(kind).strip()
    if kind != "source":
        row.pop("source", None)
    if not raw_key:
        raise CatalogError(f"empty {kind}")
    key: str | int
    if kind == "track_id":
        if not raw_key.isdigit() or len(raw_key) > 18:
            raise CatalogError(f"track_id {raw_key!r} is not a track number")
        key = int(raw_key)
    elif kind == "isrc":
        key = normalise_isrc(raw_key)
    else:
        key = raw_key
    fields: dict[str, Any] = {}
    extra: dict[str, str | None] = {}
    for name, cell in row.items():
        if not cell.strip():
            continue  # an empty cell leaves the field as it is
        extra_key = parse_extra_key(name)
        if extra_key is not None:
            extra[extra_key] = cell.strip()
        else:
            try:
                fields[name] = parse_field(name, cell)
            except CatalogError as exc:
                raise CatalogError(f"{name}: {exc}") from None
    return TrackChange(line, kind, key, fields, extra)


# -- applying -----------------------------------------------------------------------------


async def apply_track_changes(
    db: Database,
    changes: Sequence[TrackChange],
    *,
    dry_run: bool = False,
    problems: Sequence[str] = (),
) -> list[ChangeResult]:
    """Apply every change or none; raises ``MetadataImportError`` listing every bad line
    (``problems`` found earlier, e.g. by the parser, are listed with the rest)."""

    async def tx(t: Tx) -> list[ChangeResult]:
        bad = list(problems)
        rows = await t.fetch(
            "catalog_lock_tracks",
            {
                "ids": [c.key for c in changes if c.kind == "track_id"],
                "isrcs": [c.key for c in changes if c.kind == "isrc"],
                "sources": [c.key for c in changes if c.kind == "source"],
            },
        )
        tracks = [track_from_row(r) for r in rows]
        by: dict[str, dict[Any, TrackRow]] = {
            "track_id": {tr.id: tr for tr in tracks},
            "isrc": {tr.isrc: tr for tr in tracks if tr.isrc},
            "source": {tr.source: tr for tr in tracks},
        }
        planned: dict[int, tuple[TrackChange, TrackRow, dict[str, Any]]] = {}
        for c in changes:
            track = by[c.kind].get(c.key)
            if track is None:
                bad.append(f"line {c.line}: no track with {c.describe()}")
                continue
            if track.id in planned:
                first = planned[track.id][0].line
                bad.append(f"line {c.line}: track #{track.id} is also changed on line {first}")
                continue
            new = apply_changes(track.fields(), c.fields, c.extra)
            try:
                check_extra_count(len(new["extra"]))
            except ValueError as exc:
                bad.append(f"line {c.line}: track #{track.id}: {exc}")
                continue
            planned[track.id] = (c, track, new)
        bad += await _isrc_clashes(t, planned)
        if bad:
            raise MetadataImportError(
                f"{len(bad)} bad line{'s' if len(bad) != 1 else ''}: nothing was changed",
                sorted(bad, key=_line_of),
            )
        results = []
        for track_id, (c, track, new) in sorted(planned.items(), key=lambda p: p[1][0].line):
            diff = changed_fields(track.fields(), new)
            results.append(ChangeResult(c.line, track_id, track.source, diff))
            if diff and not dry_run:
                await t.execute("catalog_update_track", {**new, "id": track_id})
        return results

    try:
        results: list[ChangeResult] = await db.run("catalog_edit_tracks", tx, idempotent=True)
    except IntegrityViolation as exc:  # a concurrent writer took an ISRC meanwhile
        raise MetadataImportError(f"refused by the database: {exc}") from None
    log.info(
        "catalog.metadata.applied",
        tracks=sum(1 for r in results if r.changes),
        lines=len(changes),
        dry_run=dry_run,
    )
    return results


async def _isrc_clashes(
    t: Tx, planned: Mapping[int, tuple[TrackChange, TrackRow, dict[str, Any]]]
) -> list[str]:
    """Lines whose ISRC would end up on two tracks (in the file, or another track's)."""
    wanted: dict[str, list[int]] = {}
    for track_id, (_, _, new) in planned.items():
        if new.get("isrc"):
            wanted.setdefault(new["isrc"], []).append(track_id)
    if not wanted:
        return []
    holders = await t.fetch("catalog_isrc_holders", {"isrcs": list(wanted)})
    bad = []
    for isrc, ids in wanted.items():
        # tracks in the file hold what the file says; others keep what they have
        others = [
            int(h["id"]) for h in holders if h["isrc"] == isrc and int(h["id"]) not in planned
        ]
        if len(ids) + len(others) < 2:
            continue
        for track_id in ids:
            c = planned[track_id][0]
            also = [f"#{i}" for i in sorted(set(ids + others)) if i != track_id]
            bad.append(f"line {c.line}: ISRC {isrc} would also be on track {', '.join(also)}")
    return bad


def _line_of(problem: str) -> int:
    head = problem.split(":", 1)[0].removeprefix("line ")
    return int(head) if head.isdigit() else 0


async def edit_track(
    db: Database,
    track_id: int,
    fields: Mapping[str, Any],
    extra: Mapping[str, str | None],
    *,
    dry_run: bool = False,
) -> ChangeResult:
    """One track's change (``catalog edit``, ``PATCH /catalog/tracks/{id}``).

    Raises ``UnknownTrack`` or ``CatalogError`` with one line.
    """
    change = TrackChange(0, "track_id", track_id, fields, extra)
    try:
        [result] = await apply_track_changes(db, [change], dry_run=dry_run)
    except MetadataImportError as exc:
        reason = exc.problems[0].removeprefix("line 0: ") if exc.problems else str(exc)
        if reason.startswith("no track"):
            raise UnknownTrack(f"no track #{track_id} in the catalog") from None
        raise CatalogError(reason) from None
    return result
