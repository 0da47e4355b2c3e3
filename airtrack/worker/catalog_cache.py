"""The catalog index snapshot cached under the worker's folder.

Each version is its own file (``snapshot-<version>.idx``) written to a temp
name and renamed, with the ETag beside it, so a restarted worker (or one in
local mode) matches against the last catalog it saw, and a running matcher
that memory-maps an old version keeps reading it while the new one loads.
The file's sha256 is kept beside it too: a cached file damaged on disk is not
loaded at start (the worker downloads the snapshot again).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from airtrack.logging import get_logger
from airtrack.settings import Settings
from airtrack.worker.client import OrchestratorClient, Snapshot
from airtrack.worker.pipeline import MatcherFactory

MatcherBuilder = Callable[[Path], MatcherFactory]

log = get_logger(__name__)


def file_sha256(path: Path) -> str | None:
    """The sha256 of a cached file, None when it cannot be read."""
    h = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


def fingerprint_matcher_builder(settings: Settings) -> MatcherBuilder:
    """Index snapshot → factory of streaming matchers with the recognition settings."""
    from airtrack.fingerprint.index import Index
    from airtrack.fingerprint.matcher import StreamingMatcher

    threshold, end_gap_s = settings.match_threshold, settings.play_end_gap_s

    def build(path: Path) -> MatcherFactory:
        index = Index.load(path)
        index.build_density()  # in the loading thread, not on a stream's first play
        return lambda: StreamingMatcher(index, threshold=threshold, end_gap_s=end_gap_s)

    return build


class CatalogCache:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._meta = folder / "current.json"

    def current(self) -> tuple[str, str, Path] | None:
        """(version, etag, path) of the cached snapshot, if one is usable."""
        try:
            meta = json.loads(self._meta.read_text())
            path = self.folder / str(meta["file"])
        except (OSError, ValueError, KeyError):
            return None
        if not path.is_file():
            return None
        want = meta.get("sha256")
        if want is not None and file_sha256(path) != want:
            log.warning("catalog_cache_corrupt", path=str(path))
            return None
        return str(meta["version"]), str(meta["etag"]), path

    def store(self, snap: Snapshot) -> Path:
        """Write a new snapshot durably, make it current and remove older versions."""
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", snap.version)[:80] or "unversioned"
        path = self.folder / f"snapshot-{safe}.idx"
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as fh:
            fh.write(snap.data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        meta_tmp = self._meta.with_name("current.json.tmp")
        meta_tmp.write_text(
            json.dumps(
                {
                    "version": snap.version,
                    "etag": snap.etag,
                    "file": path.name,
                    "sha256": hashlib.sha256(snap.data).hexdigest(),
                }
            )
        )
        os.replace(meta_tmp, self._meta)
        for old in self.folder.glob("snapshot-*.idx"):
            if old != path:
                # a matcher may still map it: on POSIX the inode lives until unmapped
                with contextlib.suppress(OSError):
                    old.unlink()
        return path

    async def fetch(
        self, client: OrchestratorClient, etag: str | None, builder: MatcherBuilder
    ) -> tuple[str, str, MatcherFactory] | None:
        """The whole snapshot if ``etag`` is not current: stored, then loaded by ``builder``."""
        snap = await client.download_snapshot(etag)
        if snap is None:
            return None
        t0 = time.monotonic()
        try:
            path = await asyncio.to_thread(self.store, snap)
            factory = await asyncio.to_thread(builder, path)
        except Exception as exc:
            log.error("catalog_load_failed", version=snap.version, error=str(exc))
            return None
        log.info(
            "catalog_loaded",
            version=snap.version,
            bytes=len(snap.data),
            seconds=round(time.monotonic() - t0, 3),
        )
        return snap.version, snap.etag, factory
