"""Change streams' metadata: ``streams edit``, ``streams import`` and their API routes.

An import is idempotent by name: a stream already there gets the fields the file gives
(nothing else changes), a new one is added (with its unassigned assignment, as
``streams add`` does).  One transaction checks every line and writes only when no line is
bad; ``dry_run`` checks and writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from airtrack.checks import check_extra_count
from airtrack.db import Database, Row, Tx
from airtrack.errors import (
    InputRefused,
    IntegrityViolation,
    StreamExists,
    StreamFieldError,
    StreamImportError,
    UnknownStream,
)
from airtrack.logging import get_logger
from airtrack.redact import mask_fields, redact_url
from airtrack.settings import Settings

from .stream_files import TEXT_FIELDS, StreamEntry
from .streams import url_refusal, zone_refusal

__all__ = ["EDITABLE", "StreamOutcome", "edit_stream", "import_streams", "merge_extra"]

log = get_logger(__name__)

EDITABLE = ("name", "url", "backup_urls", "timezone", *TEXT_FIELDS, "stats_url")
Action = Literal["added", "updated", "unchanged"]


def _url_problems(fields: Mapping[str, Any], settings: Settings) -> list[str]:
    """What the stream URL policy (``streams.url_refusal``) says of a stream's URLs."""
    urls = ([fields["url"]] if fields.get("url") else []) + list(fields.get("backup_urls") or [])
    out = []
    for url in urls:
        why = url_refusal(urlsplit(url).hostname or "", settings)
        if why is not None:
            out.append(f"stream URL refused: {why}")
    if fields.get("stats_url"):  # the leader fetches it: the same policy as stream URLs
        why = url_refusal(urlsplit(fields["stats_url"]).hostname or "", settings)
        if why is not None:
            out.append(f"stats URL refused: {why}")
    return out


async def _url_taken(t: Tx, url: str | None, name: str) -> str | None:
    """Another stream on ``url`` (two streams on one URL would be counted twice)."""
    if not url:
        return None
    same = await t.fetchone("stream_with_url", {"url": url})
    if same is not None and same["name"] != name:
        return f"stream {same['name']!r} (#{same['id']}) already has this URL"
    return None


@dataclass(frozen=True, slots=True)
class StreamOutcome:
    line: int
    name: str
    action: Action
    changes: dict[str, tuple[Any, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "name": self.name,
            "action": self.action,
            "changes": {k: {"from": a, "to": b} for k, (a, b) in self.changes.items()},
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> StreamOutcome:
        """Back from :meth:`to_json` (the remote CLI reads the API's answer)."""
        changes = {k: (v["from"], v["to"]) for k, v in d["changes"].items()}
        return cls(int(d["line"]), str(d["name"]), d["action"], changes)


def merge_extra(current: Mapping[str, Any], extra: Mapping[str, str | None]) -> dict[str, Any]:
    """``current`` with ``extra`` merged; a None or empty value removes the key."""
    merged = dict(current)
    for key, value in extra.items():
        if value is None or value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _record(row: Row) -> dict[str, Any]:
    return {k: row[k] for k in (*EDITABLE, "extra")} | {
        "backup_urls": list(row["backup_urls"] or []),
        "extra": dict(row["extra"] or {}),
    }


def _diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """What changes, as shown (an outcome is only shown): URLs without their credentials."""
    return {k: _shown(k, old.get(k), new[k]) for k in (*EDITABLE, "extra") if old.get(k) != new[k]}


def _shown(key: str, before: Any, after: Any) -> tuple[Any, Any]:
    if key == "stats_url":  # its query may hold the password too
        return redact_url(before), redact_url(after)
    if key not in ("url", "backup_urls"):
        return before, after
    pair = mask_fields({"a": before, "b": after}, "a", "b")
    return pair["a"], pair["b"]


def _too_many_extra(row: Row | None, extra: Mapping[str, str | None]) -> str | None:
    """Why merging ``extra`` into the stream ``row`` (None: a new one) is refused."""
    merged = merge_extra(dict(row["extra"] or {}) if row is not None else {}, extra)
    try:
        check_extra_count(len(merged))
    except ValueError as exc:
        return str(exc)
    return None


_DEFAULTS: dict[str, Any] = {
    "backup_urls": [],
    "timezone": "UTC",
    **dict.fromkeys(TEXT_FIELDS),
    "stats_url": None,
    "extra": {},
}


async def _insert(t: Tx, record: Mapping[str, Any]) -> Row:
    row = await t.fetchone("stream_insert", dict(record))
    assert row is not None
    await t.execute("assignment_insert", {"sid": row["id"]})
    await t.execute("notify_tick", {"why": f"stream_added:{row['id']}"})
    return row


async def import_streams(
    db: Database,
    entries: Sequence[StreamEntry],
    settings: Settings,
    *,
    dry_run: bool = False,
    problems: Sequence[str] = (),
) -> list[StreamOutcome]:
    """Add or update every stream, or none; raises ``StreamImportError`` listing every
    bad line (``problems`` found by the parser are listed with the rest)."""
    problems = [
        *problems,
        *(f"line {e.line}: {p}" for e in entries for p in _url_problems(e.fields, settings)),
        *[
            f"line {e.line}: {why}"
            for e in entries
            if "timezone" in e.fields
            and (why := await zone_refusal(db, e.fields["timezone"])) is not None
        ],
    ]
    if problems:
        bad = sorted(problems, key=lambda p: int(p.split(":")[0].removeprefix("line ") or 0))
        raise StreamImportError(
            f"{len(bad)} bad line{'s' * (len(bad) != 1)}: nothing was changed", bad
        )

    async def tx(t: Tx) -> list[StreamOutcome]:
        rows = await t.fetch("streams_lock_by_name", {"names": [e.name for e in entries]})
        existing = {r["name"]: r for r in rows}
        taken = [
            f"line {e.line}: {why}"
            for e in entries
            if (why := await _url_taken(t, e.fields.get("url"), e.name)) is not None
        ]
        if taken:
            raise StreamImportError(
                f"{len(taken)} bad line{'s' * (len(taken) != 1)}: nothing was changed", taken
            )
        crowded = [
            f"line {e.line}: {why}"
            for e in entries
            if (why := _too_many_extra(existing.get(e.name), e.extra)) is not None
        ]
        if crowded:
            raise StreamImportError(
                f"{len(crowded)} bad line{'s' * (len(crowded) != 1)}: nothing was changed",
                crowded,
            )
        outcomes = []
        for e in entries:
            row = existing.get(e.name)
            if row is None:
                new = {**_DEFAULTS, "name": e.name, **e.fields, "extra": dict(e.extra)}
                outcomes.append(StreamOutcome(e.line, e.name, "added", _diff({}, new)))
                if not dry_run:
                    await _insert(t, new)
                continue
            old = _record(row)
            new = {**old, **e.fields, "extra": merge_extra(old["extra"], e.extra)}
            diff = _diff(old, new)
            outcomes.append(StreamOutcome(e.line, e.name, "updated" if diff else "unchanged", diff))
            if diff and not dry_run:
                await t.execute("stream_update", {**new, "id": row["id"]})
        return outcomes

    try:
        outcomes: list[StreamOutcome] = await db.run("streams_import", tx, idempotent=True)
    except IntegrityViolation as exc:  # a concurrent add took a name meanwhile
        raise StreamImportError(f"refused by the database: {exc}") from None
    log.info(
        "streams.imported",
        added=sum(o.action == "added" for o in outcomes),
        updated=sum(o.action == "updated" for o in outcomes),
        dry_run=dry_run,
    )
    return outcomes


async def edit_stream(
    db: Database,
    name: str,
    fields: Mapping[str, Any],
    extra: Mapping[str, str | None],
    settings: Settings,
    *,
    dry_run: bool = False,
) -> StreamOutcome:
    """Change one stream (fields already checked by ``check_stream_fields``).

    Raises ``UnknownStream``, ``StreamExists`` (a rename onto a taken name) or
    ``StreamFieldError``.
    """
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise StreamFieldError(f"unknown field {sorted(unknown)[0]!r}")
    if "\x00" in name:  # no stream can have it, and PostgreSQL text cannot hold it
        raise UnknownStream(f"no stream named {name!r}")
    for key, value in extra.items():
        if "\x00" in key or (value is not None and "\x00" in value):
            raise StreamFieldError("extra keys and values must not contain NUL characters")

    refused = _url_problems(fields, settings)
    if refused:
        raise InputRefused(refused[0])
    if "timezone" in fields:
        why = await zone_refusal(db, fields["timezone"])
        if why is not None:
            raise InputRefused(why)

    async def tx(t: Tx) -> StreamOutcome:
        row = await t.fetchone("streams_lock_by_name", {"names": [name]})
        if row is None:
            raise UnknownStream(f"no stream named {name!r}")
        taken = await _url_taken(t, fields.get("url"), name)
        if taken is not None:
            raise StreamExists(taken)
        why = _too_many_extra(row, extra)
        if why is not None:
            raise StreamFieldError(why)
        old = _record(row)
        new = {**old, **fields, "extra": merge_extra(old["extra"], extra)}
        diff = _diff(old, new)
        if diff and not dry_run:
            await t.execute("stream_update", {**new, "id": row["id"]})
        return StreamOutcome(0, new["name"], "updated" if diff else "unchanged", diff)

    try:
        outcome: StreamOutcome = await db.run("stream_edit", tx, idempotent=True)
    except IntegrityViolation as exc:
        if exc.sqlstate == "23505":
            raise StreamExists(f"a stream named {fields.get('name')!r} already exists") from None
        raise
    if outcome.changes and not dry_run:
        log.info("stream.edited", stream=name, fields=sorted(outcome.changes))
    return outcome
