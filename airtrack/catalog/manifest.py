"""The catalog served as segments: a base index, delta prints packs and removed track ids.

When the catalog revision moves, ``SegmentStore.ensure`` diffs the ids of the tracks the
index should serve (``catalog_print_ids``) against the ids its segments hold: added tracks
become one new *delta* (a prints pack of just those tracks, ``fingerprint/segments.py``),
removed ones become *tombstones* (``removed`` in the manifest).  Track ids are never reused
and a track's prints change only by moving to the current engine, so the id diff is the
whole change.  The result is labelled with the revision read *before* the diff: if the
catalog moved meanwhile, the next call diffs again.

When the deltas grow past ``catalog_compact_deltas`` segments or ``catalog_compact_fraction``
of the base (bytes, or tombstoned tracks), a background task builds a new base from the
whole catalog (the API keeps serving the old manifest meanwhile) and publishes a manifest of
that base alone; files no manifest names are deleted ``catalog_segment_grace_s`` later (a
worker may be downloading one).  Because compaction bounds the deltas, a worker that was
away for a week downloads at most the base plus that fraction: never much more than a full
snapshot.

Files live in ``AIRTRACK_HOME/snapshots/segments/``; every name is content-derived.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from airtrack.catalog.snapshot import _state, _stream_prints, _write, snapshot_dir
from airtrack.catalog.store import ENGINE
from airtrack.db import Database
from airtrack.errors import IndexFileError
from airtrack.fingerprint import PRINTS_VERSION, Index
from airtrack.fingerprint.segments import pack_track_ids, write_pack
from airtrack.logging import get_logger
from airtrack.settings import Settings

__all__ = ["Manifest", "Segment", "SegmentStore"]

log = get_logger(__name__)

_BATCH = 128  # tracks per prints fetch for a delta
_NAME = re.compile(r"^(base|delta)-[0-9a-f]{20}\.(idx|atp)$")


@dataclass(frozen=True, slots=True)
class Segment:
    name: str
    kind: str  # "index" (a saved Index: the base) or "pack" (a prints pack: a delta)
    sha256: str
    bytes: int
    tracks: int


@dataclass(frozen=True, slots=True)
class Manifest:
    revision: int  # the catalog revision it was diffed at (-1: diff again)
    stamp: int  # that revision's time (a re-created database is not the old one)
    segments: tuple[Segment, ...]
    removed: tuple[int, ...]

    @property
    def version(self) -> str:
        body = json.dumps([PRINTS_VERSION, [s.name for s in self.segments], self.removed])
        return "m" + hashlib.sha256(body.encode()).hexdigest()[:20]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "revision": self.revision,
            "engine": PRINTS_VERSION,
            "segments": [asdict(s) for s in self.segments],
            "removed": list(self.removed),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        return cls(
            revision=int(data["revision"]),
            stamp=int(data["stamp"]),
            segments=tuple(Segment(**s) for s in data["segments"]),
            removed=tuple(int(r) for r in data["removed"]),
        )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class SegmentStore:
    """Builds and keeps the segment manifest of one orchestrator's snapshot folder."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.folder = snapshot_dir(settings) / "segments"
        self._meta = self.folder / f"manifest-e{PRINTS_VERSION}.json"
        self._manifest: Manifest | None = None
        self._loaded = False
        self._lock: asyncio.Lock | None = None
        self._ids: dict[str, frozenset[int]] = {}
        self._unreferenced: dict[str, float] = {}
        self.compaction: asyncio.Task[None] | None = None

    # -- serving ------------------------------------------------------------------------------
    async def manifest(self) -> dict[str, Any] | None:
        """The current manifest as served (None while the catalog is empty)."""
        m = await self.ensure()
        return m.to_json() if m.segments else None

    def segment_path(self, name: str) -> tuple[Path, str | None] | None:
        """A segment file by name and its sha256 if a current manifest names it."""
        if not _NAME.match(name):
            return None
        path = self.folder / name
        if not path.is_file():
            return None
        known = {s.name: s.sha256 for s in (self._manifest.segments if self._manifest else ())}
        return path, known.get(name)

    # -- building ----------------------------------------------------------------------------
    async def ensure(self) -> Manifest:
        """The manifest of the current catalog revision, diffed only if the revision moved."""
        revision, changed_at = await _state(self.db)
        stamp = int(changed_at.timestamp() * 1_000_000)
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            current = self._current()
            if current is not None and (current.revision, current.stamp) == (revision, stamp):
                return current
            if current is not None and current.revision > revision:
                current = None  # a re-created database: start from a new base
            m = await self._update(current, revision, stamp)
            self._publish(m)
        self._maybe_compact(m)
        return m

    def _current(self) -> Manifest | None:
        if not self._loaded:
            self._loaded = True
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                self._manifest = Manifest.from_json(json.loads(self._meta.read_text()))
        m = self._manifest
        if m is not None and not all((self.folder / s.name).is_file() for s in m.segments):
            log.warning("catalog.segments.missing", manifest=m.version)
            return None
        return m

    def _publish(self, m: Manifest) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self._meta.with_name(f".{self._meta.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({**m.to_json(), "stamp": m.stamp}))
        os.replace(tmp, self._meta)
        old = self._manifest
        self._manifest = m
        if old is None or old.version != m.version:
            log.info(
                "catalog.manifest.published",
                version=m.version,
                revision=m.revision,
                segments=len(m.segments),
                removed=len(m.removed),
                bytes=sum(s.bytes for s in m.segments),
            )
        self._cleanup(m)

    async def _update(self, m: Manifest | None, revision: int, stamp: int) -> Manifest:
        if m is None:
            base = await self._build_base()
            return Manifest(revision, stamp, (base,) if base else (), ())
        rows = await self.db.fetch("catalog_print_ids", {"engine": ENGINE})
        now = {int(r["track_id"]) for r in rows}
        have = await asyncio.to_thread(self._live_ids, m)
        added = sorted(now - have)
        gone = have - now
        segments = m.segments
        if added:
            delta = await self._build_delta(added)
            segments = (*segments, delta)
        removed = tuple(sorted((set(m.removed) | gone) - set(added)))
        return Manifest(revision, stamp, segments, removed)

    def _live_ids(self, m: Manifest) -> set[int]:
        live: set[int] = set()
        for s in m.segments:
            live |= self._segment_ids(s)
        return live - set(m.removed)

    def _segment_ids(self, s: Segment) -> frozenset[int]:
        ids = self._ids.get(s.name)
        if ids is None:
            path = self.folder / s.name
            if s.kind == "index":
                ids = frozenset(int(t) for t in Index.load(path).track_ids)
            else:
                ids = frozenset(pack_track_ids(path))
            self._ids[s.name] = ids
        return ids

    async def _build_base(self) -> Segment | None:
        t0 = time.perf_counter()
        loop = asyncio.get_running_loop()
        index = await asyncio.to_thread(Index.build, _stream_prints(self.db, loop))
        if index.n_tracks == 0:
            return None
        tmp = self.folder / f".base.{os.getpid()}.{id(index)}.build"
        await asyncio.to_thread(_write, index, tmp)
        seg = await asyncio.to_thread(self._file_segment, tmp, "base", "idx", index.n_tracks)
        self._ids[seg.name] = frozenset(int(t) for t in index.track_ids)
        log.info(
            "catalog.segment.base_built",
            name=seg.name,
            tracks=seg.tracks,
            bytes=seg.bytes,
            seconds=round(time.perf_counter() - t0, 3),
        )
        return seg

    async def _build_delta(self, ids: list[int]) -> Segment:
        items: list[tuple[int, bytes]] = []
        for i in range(0, len(ids), _BATCH):
            params = {"engine": ENGINE, "ids": ids[i : i + _BATCH]}
            for row in await self.db.fetch("catalog_prints_of", params):
                items.append((int(row["track_id"]), bytes(row["prints"])))
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".delta.{os.getpid()}.{id(items)}.build"
        await asyncio.to_thread(write_pack, items, tmp)
        seg = await asyncio.to_thread(self._file_segment, tmp, "delta", "atp", len(items))
        self._ids[seg.name] = frozenset(t for t, _ in items)
        log.info("catalog.segment.delta_built", name=seg.name, tracks=seg.tracks, bytes=seg.bytes)
        return seg

    def _file_segment(self, tmp: Path, prefix: str, ext: str, tracks: int) -> Segment:
        """Rename a finished file to its content-derived name."""
        digest = _sha256(tmp)
        name = f"{prefix}-{digest[:20]}.{ext}"
        size = tmp.stat().st_size
        os.replace(tmp, self.folder / name)
        return Segment(name, "index" if ext == "idx" else "pack", digest, size, tracks)

    # -- compaction --------------------------------------------------------------------------
    def needs_compaction(self, m: Manifest) -> bool:
        if len(m.segments) < 2 and not m.removed:
            return False
        base, deltas = m.segments[0], m.segments[1:]
        frac = self.settings.catalog_compact_fraction
        return (
            base.kind != "index"
            or len(deltas) > self.settings.catalog_compact_deltas
            or sum(s.bytes for s in deltas) > frac * base.bytes
            or len(m.removed) > frac * max(1, base.tracks)
        )

    def _maybe_compact(self, m: Manifest) -> None:
        if self.needs_compaction(m) and (self.compaction is None or self.compaction.done()):
            self.compaction = asyncio.create_task(self.compact(), name="catalog-compaction")

    async def compact(self) -> None:
        """Build a new base of the whole catalog and publish it alone (runs in the background)."""
        revision, changed_at = await _state(self.db)
        try:
            base = await self._build_base()
        except (OSError, IndexFileError) as exc:
            log.error("catalog.compaction_failed", error=str(exc))
            return
        assert self._lock is not None
        async with self._lock:
            # labelled with the revision read before the build: if the catalog moved
            # meanwhile, the next ensure() diffs the new base against it
            stamp = int(changed_at.timestamp() * 1_000_000)
            m = Manifest(revision, stamp, (base,) if base else (), ())
            self._publish(m)
        log.info("catalog.compacted", manifest=m.version, revision=revision)

    def _cleanup(self, m: Manifest) -> None:
        """Delete files no manifest has named for ``catalog_segment_grace_s``."""
        keep = {s.name for s in m.segments}
        now = time.monotonic()
        try:
            entries = list(self.folder.iterdir())
        except OSError:
            return
        for entry in entries:
            if not _NAME.match(entry.name) or entry.name in keep:
                self._unreferenced.pop(entry.name, None)
                continue
            since = self._unreferenced.setdefault(entry.name, now)
            if now - since >= self.settings.catalog_segment_grace_s:
                with contextlib.suppress(OSError):
                    entry.unlink()
                self._unreferenced.pop(entry.name, None)
                self._ids.pop(entry.name, None)
