"""``airtrack catalog add``: files and folders → fingerprinted catalog tracks.

Pipeline: the main process walks the inputs, hashes each file (sha256 of its bytes) and
skips content the catalog already has; new content is decoded and fingerprinted in a
process pool (``jobs`` processes), and each result is written in its own transaction (track
row + prints + revision bump), so a failure never leaves half a track.  At most
``2 × jobs + 2`` files are in flight: memory stays bounded however many files are given.

Nothing here prints: every file's outcome goes to the ``on_result`` callback (the CLI draws
the progress bar and the lines).  What to ingest comes from :mod:`airtrack.catalog.files`.
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Protocol

from airtrack.catalog.files import (
    Candidate,
    FileResult,
    IngestSummary,
    os_reason,
    tags_from_name,
    truncated,
)
from airtrack.catalog.lifeline import tie_to
from airtrack.catalog.store import AddOutcome, NewTrack, add_track, find_by_sha
from airtrack.db import Database
from airtrack.errors import (
    AirtrackError,
    AudioError,
    DatabaseUnavailable,
    OrchestratorUnavailable,
    first_line,
)
from airtrack.logging import get_logger

#: The files' side (what is found, what each came to) lives in :mod:`airtrack.catalog.files`.
__all__ = ["TrackStore", "ingest"]

log = get_logger(__name__)

_HASH_CHUNK = 1 << 20


class TrackStore(Protocol):
    """Where fingerprinted tracks go: the database here, or the orchestrator's API
    (``catalog add`` from a machine without database credentials uploads prints only)."""

    async def find_by_sha(self, sha256: str) -> tuple[int, bool] | None: ...

    async def add_track(self, track: NewTrack) -> AddOutcome: ...


class DatabaseTrackStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def find_by_sha(self, sha256: str) -> tuple[int, bool] | None:
        return await find_by_sha(self.db, sha256)

    async def add_track(self, track: NewTrack) -> AddOutcome:
        return await add_track(self.db, track)


# -- per-file work (runs in the pool) ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Analysis:
    prints: bytes = b""
    peaks: bytes = b""
    duration_s: float = 0.0
    title: str | None = None
    artist: str | None = None
    error: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def _analyse(path: str) -> _Analysis:
    """Tags + fingerprint of one file; every failure becomes a one-line ``error``."""
    from airtrack.catalog.tags import read_rights_tags
    from airtrack.fingerprint import pack_prints, probe_duration, read_tags
    from airtrack.fingerprint.landmarks import MAX_PRINTS_DURATION_S
    from airtrack.fingerprint.peaks import fingerprint_file_with_peaks, pack_peaks

    try:
        prints, peaks = fingerprint_file_with_peaks(path)
        if len(prints) == 0:
            return _Analysis(error="no usable sound to fingerprint (silent or featureless)")
        if prints.duration_s > MAX_PRINTS_DURATION_S:
            return _Analysis(
                error=f"{prints.duration_s:.0f} s long: a catalog track is at most "
                f"{MAX_PRINTS_DURATION_S:.0f} s"
            )
        announced = probe_duration(path)
        if truncated(prints.duration_s, announced):  # its prints would miss the rest
            return _Analysis(
                error=f"truncated or damaged: only {prints.duration_s:.1f} s of the "
                f"{announced:.1f} s its header announces could be decoded"
            )
        try:
            tag_title, tag_artist = read_tags(path)
        except AudioError:
            tag_title = tag_artist = None
        name_title, name_artist = tags_from_name(path)
        meta = read_rights_tags(path)
        return _Analysis(
            prints=pack_prints(prints),
            peaks=pack_peaks(peaks),
            duration_s=prints.duration_s,
            title=tag_title or meta.pop("title", None) or name_title,
            artist=tag_artist or meta.pop("artist", None) or name_artist,
            meta={k: v for k, v in meta.items() if k not in ("title", "artist")},
        )
    except AudioError as exc:
        return _Analysis(error=_strip_name(exc, path))
    except MemoryError:
        return _Analysis(error="out of memory while decoding")
    except Exception as exc:  # a decoder bug must not end the batch
        return _Analysis(error=f"cannot decode ({type(exc).__name__}: {first_line(exc)})")


def _strip_name(exc: AudioError, path: str) -> str:
    line = first_line(exc).removeprefix(f"{path}: ")
    if line.startswith("only 0.0 s of audio decoded"):
        return "no decodable audio (corrupt, or not an audio file)"
    return line


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# -- the batch ---------------------------------------------------------------------------


@dataclass(slots=True)
class _InFlight:
    cand: Candidate
    sha: str
    generation: int = 0
    attempts: int = 1
    twins: list[Candidate] = field(default_factory=list)  # same content later in the batch


class _Runner:
    """Runs ``_analyse`` in a process pool (``jobs >= 1``) or in a thread (``jobs == 0``)."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self.pool: ProcessPoolExecutor | None = None
        self.generation = 0

    def submit(self, path: str) -> asyncio.Future[_Analysis]:
        if self.jobs == 0:
            return asyncio.ensure_future(asyncio.to_thread(_analyse, path))
        if self.pool is None:
            # forkserver: workers fork from a clean server that has already imported the
            # engine, so they start fast and share its pages (not fork: this process has
            # threads; not spawn: every worker would import numpy/scipy/FFmpeg again)
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["airtrack.catalog.ingest", "airtrack.fingerprint"])
            self.pool = ProcessPoolExecutor(
                self.jobs,
                mp_context=ctx,
                max_tasks_per_child=200,  # bounds any leak in decoder libraries
                # workers exit with this process even after a SIGKILL (see lifeline)
                initializer=tie_to,
                initargs=(os.getpid(),),
            )
        fut: Future[_Analysis] = self.pool.submit(_analyse, path)
        return asyncio.wrap_future(fut)

    def broken(self, generation: int) -> None:
        """A worker process died: start a fresh pool (once per broken pool)."""
        if generation == self.generation and self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None
            self.generation += 1

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def abort(self) -> None:
        """Stop now (Ctrl-C): the files being fingerprinted are dropped, not finished (a
        re-run does them again), so the pool's workers are ended by pid."""
        if self.pool is None:
            return
        workers = list(self.pool._processes.values())  # no public handle in Python 3.11
        self.pool.shutdown(wait=False, cancel_futures=True)
        for proc in workers:
            proc.kill()
        for proc in workers:
            proc.join()
        self.pool = None


Report = Callable[[FileResult], None]


class _Batch:
    def __init__(self, store: TrackStore, runner: _Runner, report: Report) -> None:
        self.store = store
        self.runner = runner
        self.report = report
        self.flying: dict[asyncio.Future[_Analysis], _InFlight] = {}
        self.by_sha: dict[str, _InFlight] = {}

    async def offer(self, cand: Candidate) -> None:
        """Hash the file; report it at once (bad, duplicate) or start fingerprinting it."""
        try:
            size = os.stat(cand.path).st_size
            sha = await asyncio.to_thread(_sha256, cand.path) if size else ""
        except OSError as exc:
            self.report(FileResult(cand.source, "failed", os_reason(exc)))
            return
        if size == 0:
            self.report(FileResult(cand.source, "failed", "empty file"))
            return
        twin_of = self.by_sha.get(sha)
        if twin_of is not None:
            twin_of.twins.append(cand)
            return
        existing = await self.store.find_by_sha(sha)
        if existing is not None and existing[1]:
            self.report(
                FileResult(
                    cand.source, "duplicate", f"duplicate of #{existing[0]}", track_id=existing[0]
                )
            )
            return
        job = _InFlight(cand, sha, generation=self.runner.generation)
        self.by_sha[sha] = job
        self.flying[self.runner.submit(cand.path)] = job

    async def settle_one(self) -> None:
        """Store the oldest file in flight once its fingerprint is done, and the ones after
        it that are done too, while the others go on fingerprinting: files are stored in
        the order they were offered, whichever finishes first. Track ids follow the
        listing, and of two files that carry one ISRC the first listed keeps it (stored in
        the order fingerprints finished, it went to whichever thread won)."""
        await asyncio.wait({next(iter(self.flying))})
        while self.flying:
            fut = next(iter(self.flying))
            if not fut.done():
                return
            job = self.flying.pop(fut)
            try:
                analysis = fut.result()
            except (BrokenProcessPool, asyncio.CancelledError):
                self.runner.broken(job.generation)
                if job.attempts < 2:
                    job.attempts += 1
                    job.generation = self.runner.generation
                    self.flying[self.runner.submit(job.cand.path)] = job
                    continue
                analysis = _Analysis(error="the decoder crashed on this file")
            await self._store(job, analysis)

    async def _store(self, job: _InFlight, analysis: _Analysis) -> None:
        self.by_sha.pop(job.sha, None)
        source = job.cand.source
        if analysis.error:
            self.report(FileResult(source, "failed", analysis.error))
            for twin in job.twins:
                self.report(FileResult(twin.source, "failed", f"same content as {source}"))
            return
        track = NewTrack(
            analysis.title,
            analysis.artist,
            source,
            analysis.duration_s,
            job.sha,
            analysis.prints,
            analysis.meta,
            analysis.peaks,
        )
        try:
            outcome = await self.store.add_track(track)
        except (DatabaseUnavailable, OrchestratorUnavailable):
            raise
        except AirtrackError as exc:
            reason = f"not stored: {first_line(exc)}"
            self.report(FileResult(source, "failed", reason))
            for twin in job.twins:
                self.report(FileResult(twin.source, "failed", f"same content as {source}"))
            return
        if outcome.status == "duplicate":  # another process added it meanwhile
            result = FileResult(
                source, "duplicate", f"duplicate of #{outcome.track_id}", outcome.track_id
            )
        else:
            result = FileResult(
                source,
                "added" if outcome.status == "added" else "updated",
                "" if outcome.status == "added" else "fingerprint renewed",
                outcome.track_id,
                analysis.title,
                analysis.artist,
                analysis.duration_s,
            )
        self.report(result)
        for twin in job.twins:
            self.report(
                FileResult(
                    twin.source,
                    "duplicate",
                    f"duplicate of #{outcome.track_id}",
                    track_id=outcome.track_id,
                )
            )


async def ingest(
    db: Database | None,
    items: Iterable[Candidate | FileResult],
    *,
    jobs: int = 2,
    on_result: Report | None = None,
    store: TrackStore | None = None,
) -> IngestSummary:
    """Add every candidate to the catalog; report each outcome; return the counts.

    ``jobs`` fingerprinting processes (0: a thread of this process).  Raises
    ``DatabaseUnavailable`` when the database goes away: continuing would only fail every
    remaining file. ``store`` replaces the database (remote ``catalog add``).
    """
    summary = IngestSummary()

    def report(result: FileResult) -> None:
        summary.count(result)
        log.debug("catalog.file", source=result.source, status=result.status, reason=result.reason)
        if on_result is not None:
            on_result(result)

    runner = _Runner(max(0, jobs))
    if store is None:
        assert db is not None, "ingest needs a database or a store"
        store = DatabaseTrackStore(db)
    batch = _Batch(store, runner, report)
    # files in flight, fingerprinting or done and waiting for the ones before them
    window = 4 * max(1, jobs) + 4
    try:
        for item in items:
            if isinstance(item, FileResult):
                report(item)
                continue
            await batch.offer(item)
            while len(batch.flying) >= window:
                await batch.settle_one()
        while batch.flying:
            await batch.settle_one()
    except asyncio.CancelledError:
        log.info("catalog.ingest.interrupted", done=summary.results_seen)
        runner.abort()
        raise
    finally:
        for fut in batch.flying:
            fut.cancel()
        runner.close()
    log.info(
        "catalog.ingest.done",
        added=summary.added,
        duplicates=summary.duplicates,
        updated=summary.updated,
        failed=summary.failed,
        ignored=summary.ignored,
    )
    return summary
