"""Tracks whose stored prints cannot be read: left out of every index, never fatal.

Prints are checked when they come in (``POST /api/v1/catalog/uploads`` answers 422), but a
row can still be damaged (written by hand, by an older version, by a disk). Building the
snapshot, a base or a delta segment then leaves such a track out instead of stopping: the
rest of the catalog still reaches workers. Each one is logged (``catalog.track.skipped``)
and handed to the build's ``SkippedHook``, which the orchestrator turns into an alert
(docs/troubleshooting.md#unusable-prints).
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator

from airtrack.errors import AirtrackError, AudioError
from airtrack.fingerprint.landmarks import unpack_prints
from airtrack.logging import get_logger

__all__ = ["SkippedHook", "Unusable"]

log = get_logger(__name__)

#: Told of the tracks a build left out ``(track_id, reason)`` and whether the build read
#: the whole catalog (a snapshot or a base: an empty list then means none is bad).
SkippedHook = Callable[[list[tuple[int, str]], bool], Awaitable[None]]


class Unusable:
    """The tracks one build left out (called from the build's thread)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.tracks: list[tuple[int, str]] = []
        self._lock = threading.Lock()

    def __call__(self, track_id: int, reason: str) -> None:
        log.warning(
            "catalog.track.skipped",
            track_id=track_id,
            error=reason,
            build=self.what,
            hint=f"re-add its file, or `airtrack catalog remove {track_id}`",
        )
        with self._lock:
            self.tracks.append((track_id, reason))

    def checked(self, items: Iterable[tuple[int, bytes]]) -> Iterator[tuple[int, bytes]]:
        """``items`` whose prints unpack (a prints pack is read by workers, not here)."""
        for track_id, blob in items:
            try:
                unpack_prints(blob)
            except AudioError as exc:
                self(track_id, str(exc))
                continue
            yield track_id, blob

    async def report(self, hook: SkippedHook | None, *, whole: bool) -> None:
        if hook is None or not (self.tracks or whole):
            return
        try:
            await hook(list(self.tracks), whole)
        except AirtrackError as exc:  # the index is built; the alert can wait for the next
            log.warning("catalog.skipped_report_failed", build=self.what, error=str(exc))
