"""The index snapshot: every track's prints from the database in one ``Index`` file.

Snapshots are cached under ``AIRTRACK_HOME/snapshots/`` and keyed by the catalog revision
(plus the time of that revision, so a re-created database with the same revision number is
not mistaken for the old one, and the engine version): as long as the catalog does not
change, every caller gets the same file and nothing is rebuilt.

Building streams the prints in batches (keyset pagination, one short query per batch, so no
transaction stays open while the index is sorted and no more than one batch of raw blobs is
in memory) into ``Index.build`` running in a worker thread; if the revision moved during the
read, the read is repeated.  The file is written under a unique temporary
name and renamed into place, so two processes building at once both end with a whole file.

The orchestrator serves ``Snapshot.path`` at ``GET /api/v1/catalog/snapshot`` with
``ETag: "<version>"``; ``version`` is the index's content version.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from airtrack.catalog.store import ENGINE
from airtrack.catalog.unusable import SkippedHook, Unusable
from airtrack.db import Database
from airtrack.errors import CatalogError, IndexFileError
from airtrack.fingerprint import PRINTS_VERSION, Index
from airtrack.logging import get_logger
from airtrack.settings import Settings

__all__ = ["Snapshot", "ensure_snapshot", "load_index", "snapshot_dir"]

log = get_logger(__name__)

_BATCH = 128  # tracks per fetch while building (~6 MB of blobs for 3-minute songs)
# one build at a time per folder and event loop (asyncio locks belong to one loop)
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Path, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)
_versions: dict[Path, str] = {}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A built index file for catalog ``revision``; ``version`` is its ETag value."""

    path: Path
    version: str
    revision: int


def snapshot_dir(settings: Settings) -> Path:
    return settings.home / "snapshots"


def _file_name(revision: int, changed_at: datetime) -> str:
    stamp = int(changed_at.timestamp() * 1_000_000)
    return f"catalog-r{revision}-t{stamp}-e{PRINTS_VERSION}.idx"


def _cached(path: Path, revision: int) -> Snapshot | None:
    version = _versions.get(path)
    if version is None:
        if not path.is_file():
            return None
        try:
            version = Index.load(path).version
        except IndexFileError as exc:
            log.warning("catalog.snapshot.unreadable", path=str(path), error=str(exc))
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        _versions[path] = version
    elif not path.is_file():
        _versions.pop(path, None)
        return None
    return Snapshot(path, version, revision)


async def _state(db: Database) -> tuple[int, datetime]:
    row = await db.fetchone("catalog_state")
    if row is None:
        raise CatalogError("catalog_state row is missing (run `airtrack db migrate`)")
    return int(row["revision"]), row["changed_at"]


async def ensure_snapshot(
    db: Database, settings: Settings, *, on_skipped: SkippedHook | None = None
) -> Snapshot:
    """The snapshot of the current catalog revision, built only if not cached yet.

    A track whose prints cannot be read is left out and reported to ``on_skipped``."""
    folder = snapshot_dir(settings)
    revision, changed_at = await _state(db)
    path = folder / _file_name(revision, changed_at)
    found = _cached(path, revision)
    if found is not None:
        return found
    per_loop = _locks.setdefault(asyncio.get_running_loop(), {})
    lock = per_loop.setdefault(folder.resolve(), asyncio.Lock())
    async with lock:
        found = _cached(path, revision)
        if found is not None:
            return found
        return await _build(db, settings, folder, on_skipped)


async def load_index(db: Database, settings: Settings) -> tuple[Index, Snapshot]:
    """The current snapshot, memory-mapped."""
    snap = await ensure_snapshot(db, settings)
    return await asyncio.to_thread(Index.load, snap.path), snap


async def _build(
    db: Database, settings: Settings, folder: Path, on_skipped: SkippedHook | None = None
) -> Snapshot:
    t0 = time.perf_counter()
    stale = int(await db.fetchval("catalog_count_stale_prints", {"engine": ENGINE}) or 0)
    if stale:
        log.warning(
            "catalog.snapshot.stale_prints",
            tracks=stale,
            hint="`airtrack catalog reindex` re-derives them from stored peaks; "
            "tracks without peaks need their files re-added",
        )
    loop = asyncio.get_running_loop()
    for attempt in range(1, settings.snapshot_build_attempts + 1):
        revision, changed_at = await _state(db)
        bad = Unusable("snapshot")
        index = await asyncio.to_thread(Index.build, _stream_prints(db, loop), bad)
        if (await _state(db))[0] == revision:
            break
        # the catalog changed while we read it: read it again (a busy ingest may keep
        # changing it; then the last read is kept, and the next call builds the newer one)
        log.info("catalog.snapshot.moved", revision=revision, attempt=attempt)
    await bad.report(on_skipped, whole=True)
    path = folder / _file_name(revision, changed_at)
    await asyncio.to_thread(_write, index, path)
    snap = Snapshot(path, index.version, revision)
    _versions[snap.path] = snap.version
    _cleanup(folder, snap.path, settings)
    log.info(
        "catalog.snapshot.built",
        revision=snap.revision,
        version=snap.version,
        tracks=index.n_tracks,
        bytes=snap.path.stat().st_size,
        seconds=round(time.perf_counter() - t0, 3),
    )
    return snap


def _stream_prints(db: Database, loop: asyncio.AbstractEventLoop) -> Iterator[tuple[int, bytes]]:
    """``(track_id, prints)`` in id order, fetched batch by batch (short queries on the loop)."""
    after = 0
    while True:
        params: dict[str, Any] = {"engine": ENGINE, "after": after, "limit": _BATCH}
        rows = asyncio.run_coroutine_threadsafe(db.fetch("catalog_prints_after", params), loop)
        batch = rows.result()
        for row in batch:
            yield int(row["track_id"]), bytes(row["prints"])
        if len(batch) < _BATCH:
            return
        after = int(batch[-1]["track_id"])


def _write(index: Index, path: Path) -> None:
    # a name of our own: another process may be writing the same snapshot right now
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        index.save(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _cleanup(folder: Path, current: Path, settings: Settings) -> None:
    """Drop all but the current and the previous snapshot(s), and abandoned temp files."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    now = time.time()
    snaps = []
    for entry in entries:
        try:
            mtime = entry.stat().st_mtime
        except OSError:
            continue
        if entry.name.endswith(".tmp"):
            if now - mtime > settings.snapshot_tmp_max_age_s:
                with contextlib.suppress(OSError):
                    entry.unlink()
        elif entry.name.startswith("catalog-") and entry.suffix == ".idx" and entry != current:
            snaps.append((mtime, entry))
    snaps.sort(reverse=True)
    for _, old in snaps[settings.snapshot_keep_previous :]:
        with contextlib.suppress(OSError):
            old.unlink()
        _versions.pop(old, None)
