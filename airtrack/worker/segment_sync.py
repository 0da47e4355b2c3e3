"""The worker's copy of the catalog as segments (docs/scaling.md#incremental-snapshots).

On a new catalog version the worker fetches the manifest, downloads only the segments it
lacks (each checked against the manifest's sha256, downloaded again when damaged, never
loaded when bad: ``OrchestratorClient.download_segment``), and builds a ``SegmentedIndex``
in a thread; the running matchers are swapped to it between two blocks, as with a full
snapshot.  Segments already loaded stay loaded (a base is memory-mapped once; a delta's
index is built once), so applying a delta costs about the delta.

Files live in ``<home>/catalog/segments/`` with the last manifest beside them, so a
restarted worker matches against its last catalog; a file that no longer matches its
sha256 is not loaded (the worker downloads it again).  An orchestrator without the manifest
route (404) makes ``refresh`` return ``ABSENT``: the supervisor uses the full snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any, Final

from airtrack.errors import IndexFileError, OrchestratorRejected
from airtrack.fingerprint.index import Index
from airtrack.fingerprint.segments import SegmentedIndex, read_pack
from airtrack.logging import get_logger
from airtrack.settings import Settings
from airtrack.worker.catalog_cache import file_sha256
from airtrack.worker.client import OrchestratorClient
from airtrack.worker.pipeline import MatcherFactory

log = get_logger(__name__)

#: ``refresh`` result when the orchestrator serves no manifest (use the full snapshot).
ABSENT: Final = "absent"

Loaded = tuple[str, str, MatcherFactory]  # version, etag, factory of matchers


class SegmentSync:
    def __init__(self, client: OrchestratorClient, folder: Path, settings: Settings) -> None:
        self.client = client
        self.folder = folder
        self.settings = settings
        self._meta = folder / "manifest.json"
        self._loaded: dict[str, Index] = {}
        #: bytes downloaded by the last refresh (what a delta cost on the wire)
        self.last_download_bytes = 0

    def _factory(self, index: Index) -> MatcherFactory:
        from airtrack.fingerprint.matcher import StreamingMatcher

        threshold, end_gap_s = self.settings.match_threshold, self.settings.play_end_gap_s
        return lambda: StreamingMatcher(index, threshold=threshold, end_gap_s=end_gap_s)

    def load_cached(self) -> Loaded | None:
        """The last manifest's catalog from disk, if every segment is whole."""
        try:
            body = json.loads(self._meta.read_text())
        except (OSError, ValueError):
            return None
        digests = body.get("sha256", {})
        for seg in body.get("segments", []):
            if file_sha256(self.folder / seg["name"]) != digests.get(seg["name"]):
                log.warning("catalog_segment_cache_corrupt", name=seg["name"])
                return None
        try:
            index = self._composite(body)
        except (IndexFileError, OSError, KeyError) as exc:
            log.warning("catalog_segment_cache_unusable", error=str(exc))
            return None
        return str(body["version"]), f'"{body["version"]}"', self._factory(index)

    async def refresh(self, etag: str | None) -> Loaded | str | None:
        """The new catalog if the manifest changed, None if not (or not yet whole), or ABSENT."""
        try:
            status, body = await self.client.download_manifest(etag)
        except OrchestratorRejected:  # e.g. an older orchestrator's 405: the full snapshot
            return ABSENT
        if status == 404:
            return ABSENT
        if body is None:
            return None
        if self._older(body):
            # a replica still building the new base serves the previous manifest: keep ours
            log.info("catalog_manifest_older", version=body.get("version"), seq=body.get("seq"))
            return None
        t0 = time.monotonic()
        fetched = 0
        self.folder.mkdir(parents=True, exist_ok=True)
        # the sha256 of each file as downloaded: a restart loads only files that still match
        digests = self._digests()
        fresh: list[Path] = []
        for seg in body["segments"]:
            path = self.folder / seg["name"]
            if path.is_file() and seg["name"] in digests:
                continue
            got = await self.client.download_segment(seg["name"])
            if got is None:  # compacted away since the manifest: the next one names others
                log.warning("catalog_segment_gone", name=seg["name"])
                return None
            data, digests[seg["name"]] = got
            await asyncio.to_thread(_store, path, data)
            fetched += len(data)
            fresh.append(path)
        body = {**body, "sha256": {s["name"]: digests[s["name"]] for s in body["segments"]}}
        try:
            index = await asyncio.to_thread(self._composite, body)
        except (IndexFileError, OSError, KeyError) as exc:
            # whole on the wire yet unreadable (another engine version?): not loaded, and
            # the new files not kept, so the next refresh downloads them again
            log.error("catalog_segments_unusable", version=body.get("version"), error=str(exc))
            for path in fresh:
                with contextlib.suppress(OSError):
                    path.unlink()
            return None
        await asyncio.to_thread(self._commit, body)
        self.last_download_bytes = fetched
        log.info(
            "catalog_segments_loaded",
            version=body["version"],
            segments=len(body["segments"]),
            removed=len(body["removed"]),
            downloaded_bytes=fetched,
            seconds=round(time.monotonic() - t0, 3),
        )
        return str(body["version"]), f'"{body["version"]}"', self._factory(index)

    def _older(self, body: dict[str, Any]) -> bool:
        try:
            mine = json.loads(self._meta.read_text())
        except (OSError, ValueError):
            return False
        same_plan = mine.get("plan") is not None and mine.get("plan") == body.get("plan")
        return same_plan and int(body.get("seq", 0)) < int(mine.get("seq", 0))

    def _digests(self) -> dict[str, str]:
        try:
            return dict(json.loads(self._meta.read_text()).get("sha256", {}))
        except (OSError, ValueError, AttributeError):
            return {}

    def _segment(self, seg: dict[str, Any]) -> Index:
        name = str(seg["name"])
        index = self._loaded.get(name)
        if index is None:
            path = self.folder / name
            if seg["kind"] == "index":
                index = Index.load(path)
            else:
                index = Index.build(read_pack(path.read_bytes()))
            # here, in the loading thread: built on a first play it would stall that
            # stream's matching (≈ 50 s at 100,000 tracks)
            index.build_density()
            self._loaded[name] = index
        return index

    def _composite(self, body: dict[str, Any]) -> SegmentedIndex:
        segments = [self._segment(s) for s in body["segments"]]
        keep = {str(s["name"]) for s in body["segments"]}
        for name in list(self._loaded):
            if name not in keep:
                del self._loaded[name]  # running matchers keep their own reference
        return SegmentedIndex(segments, body["removed"], version=str(body["version"]))

    def _commit(self, body: dict[str, Any]) -> None:
        """Make ``body`` the cached manifest and delete the files it no longer names."""
        tmp = self._meta.with_name("manifest.json.tmp")
        tmp.write_text(json.dumps(body))
        os.replace(tmp, self._meta)
        keep = {str(s["name"]) for s in body["segments"]} | {self._meta.name}
        for entry in self.folder.iterdir():
            if entry.name not in keep:
                # a matcher may still map it: on POSIX the inode lives until unmapped
                with contextlib.suppress(OSError):
                    entry.unlink()


def _store(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
