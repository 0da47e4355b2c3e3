"""``airtrack catalog reindex``: every track's prints re-derived from its stored peaks.

After a change of the hash layout or pairing (``PRINTS_VERSION``) the catalog's prints are
of the old engine; the peaks stored beside them (:mod:`airtrack.fingerprint.peaks`) are
enough to make the new ones, without the audio files.

The new prints are *staged* (``track_prints_next``, one committed batch at a time) and
swapped into ``track_prints`` in one transaction, with one revision bump, once every track
that has peaks is staged: until then nothing the snapshot reads changes, so the old index
keeps serving.  An interrupted run resumes where it stopped (staged tracks are skipped),
and tracks whose prints are already of this engine are never touched.  Deriving runs in a
process pool (``jobs`` processes, tied to this process like ``catalog add``'s).

Tracks added before peaks were stored (or by a remote upload, which sends prints only)
cannot be reindexed: they are counted, and need their audio again (``catalog add``).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from airtrack.catalog.lifeline import tie_to
from airtrack.catalog.store import ENGINE
from airtrack.db import Database, Tx
from airtrack.errors import AudioError, first_line
from airtrack.fingerprint.params import PEAKS_VERSION
from airtrack.logging import get_logger

__all__ = ["ReindexReport", "reindex"]

log = get_logger(__name__)

_BATCH = 256  # tracks fetched, derived and staged per transaction
_CHUNK = 16  # tracks per pool task (amortises the pickling round trip)


@dataclass(slots=True)
class ReindexReport:
    """``derived`` this run; ``already_staged`` by an earlier run; ``need_audio``: no usable
    peaks; ``failed``: unreadable peaks (id → reason); ``swapped``: the new prints serve."""

    todo: int = 0
    derived: int = 0
    already_staged: int = 0
    need_audio: int = 0
    failed: dict[int, str] = field(default_factory=dict)
    swapped: int = 0


def _derive_many(items: list[tuple[int, bytes]]) -> list[tuple[int, bytes, str]]:
    """``(track_id, prints, error)`` for each ``(track_id, peaks)`` (runs in the pool)."""
    from airtrack.fingerprint import pack_prints
    from airtrack.fingerprint.peaks import prints_from_peaks, unpack_peaks

    out = []
    for track_id, blob in items:
        try:
            out.append((track_id, pack_prints(prints_from_peaks(unpack_peaks(blob))), ""))
        except AudioError as exc:
            out.append((track_id, b"", first_line(exc)))
    return out


def _executor(jobs: int) -> Executor:
    if jobs == 0:
        return ThreadPoolExecutor(1)
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["airtrack.catalog.reindex", "airtrack.fingerprint"])
    return ProcessPoolExecutor(jobs, mp_context=ctx, initializer=tie_to, initargs=(os.getpid(),))


def _params(**extra: Any) -> dict[str, Any]:
    return {"engine": ENGINE, "peaks_version": PEAKS_VERSION, **extra}


async def reindex(
    db: Database, *, jobs: int = 2, on_progress: Callable[[int, int], None] | None = None
) -> ReindexReport:
    """Stage every re-derivable track's prints, then swap them in (see the module doc)."""
    counts = await db.fetchone("catalog_reindex_counts", _params())
    assert counts is not None
    report = ReindexReport(
        todo=int(counts["todo"] or 0),
        already_staged=int(counts["staged"] or 0),
        need_audio=int(counts["no_peaks"] or 0),
    )
    log.info("catalog.reindex.start", engine=ENGINE, todo=report.todo, staged=report.already_staged)
    loop = asyncio.get_running_loop()
    pool = _executor(max(0, jobs))
    after = 0
    try:
        while True:
            rows = await db.fetch("catalog_reindex_batch", _params(after=after, limit=_BATCH))
            if not rows:
                break
            after = int(rows[-1]["track_id"])
            items = [(int(r["track_id"]), bytes(r["peaks"])) for r in rows]
            chunks = [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]
            done = await asyncio.gather(
                *(loop.run_in_executor(pool, _derive_many, c) for c in chunks)
            )
            results = [r for part in done for r in part]
            for track_id, _, error in results:
                if error:
                    report.failed[track_id] = error
            staged = [(tid, prints) for tid, prints, error in results if not error]
            await _stage(db, staged)
            report.derived += len(staged)
            if on_progress is not None:
                on_progress(report.derived + len(report.failed), report.todo)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    report.swapped = await db.run("catalog_reindex_swap", _swap, idempotent=True)
    log.info(
        "catalog.reindex.done",
        derived=report.derived,
        failed=len(report.failed),
        need_audio=report.need_audio,
        swapped=report.swapped,
    )
    return report


async def _stage(db: Database, staged: list[tuple[int, bytes]]) -> None:
    async def tx(t: Tx) -> None:
        for track_id, prints in staged:
            await t.execute(
                "catalog_stage_prints", {"track_id": track_id, "engine": ENGINE, "prints": prints}
            )

    if staged:
        await db.run("catalog_reindex_stage", tx, idempotent=True)


async def _swap(t: Tx) -> int:
    """Swap the staged prints in, if every track with peaks has them (else: 0)."""
    counts = await t.fetchone("catalog_reindex_counts", _params())
    assert counts is not None
    if int(counts["todo"] or 0) or not int(counts["staged"] or 0):
        return 0
    n = await t.execute("catalog_swap_staged_prints", {"engine": ENGINE})
    await t.execute("catalog_clear_staged_prints")
    await t.fetchval("catalog_bump_revision")
    return n
