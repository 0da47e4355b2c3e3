"""The worker's control loop: register, heartbeat, reconcile, deliver plays, shut down.

Three concerns run side by side on one event loop, all watching one stop event:

* heartbeat: report every stream with its epoch, status, lag and CPU; apply the
  reply with :func:`~airtrack.worker.reconcile.reconcile`. A reply that still
  disagrees with what was reported after ``reconcile_attempts`` consecutive
  tries forces a re-registration (R3.1, R3.2); a 404 re-registers at once.
* sender: drains the durable outbox in batches (:mod:`airtrack.worker.sender`);
  acknowledged rows are deleted, stale ones (the stream moved; the orchestrator keeps
  them for review) are logged and deleted, and their stream stopped.
* catalog: when its version changes, the missing segments (else the whole snapshot)
  are fetched and swapped into running matchers without restarting them.

While the orchestrator is unreachable the worker is in *local mode* (R5.2):
streams keep running, plays pile up in the outbox, and it says so in its logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterable
from pathlib import Path

from airtrack.errors import OrchestratorRejected, OrchestratorUnavailable, WorkerNotRegistered
from airtrack.logging import get_logger
from airtrack.protocol import (
    ArchiveIn,
    Assignment,
    HeartbeatRequest,
    PlayIn,
    RegisterRequest,
    RunningStream,
    TitleIn,
)
from airtrack.resilience import backoff_delay
from airtrack.settings import Settings
from airtrack.worker.archive import ArchiveStats
from airtrack.worker.assignment_cache import AssignmentCache
from airtrack.worker.catalog_cache import CatalogCache, MatcherBuilder, fingerprint_matcher_builder
from airtrack.worker.client import OrchestratorClient
from airtrack.worker.clip_upload import ClipWorkshop
from airtrack.worker.outbox import Outbox
from airtrack.worker.pipeline import MatcherFactory, PipelineConfig, StreamPipeline
from airtrack.worker.reconcile import RunningInfo, agrees, reconcile
from airtrack.worker.segment_sync import ABSENT, SegmentSync
from airtrack.worker.sender import OutboxSender
from airtrack.worker.stop_flush import flush_on_stop, log_queued, queued_at_stop
from airtrack.worker.titles import TitleChanges

log = get_logger(__name__)


class Supervisor:
    """Runs one worker until ``stop`` is set; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        worker_id: str,
        client: OrchestratorClient,
        outbox: Outbox,
        home: Path,
        pipeline_config: PipelineConfig | None = None,
        matcher_builder: MatcherBuilder | None = None,
        shutdown_timeout_s: float | None = None,
    ) -> None:
        self.settings = settings
        self.worker_id = worker_id
        self.client = client
        self.outbox = outbox
        self.home = home
        self.pipeline_config = pipeline_config or PipelineConfig.from_settings(settings)
        self.matcher_builder = matcher_builder or fingerprint_matcher_builder(settings)
        # None (or a meaningless 0): the setting
        self.shutdown_timeout_s = shutdown_timeout_s or settings.worker_shutdown_timeout_s
        self.catalog = CatalogCache(home / "catalog")
        # segments only with the real matcher (a test's builder takes a snapshot file)
        self.segments = (
            None if matcher_builder else SegmentSync(client, home / "segments", settings)
        )
        self.pipelines: dict[int, StreamPipeline] = {}
        self.archive_stats = ArchiveStats()
        #: proof clips (docs/unknown.md#proof-clips): None when AIRTRACK_CLIPS is off
        self.clips = ClipWorkshop(settings, client, home) if settings.clips else None
        self.matcher_factory: MatcherFactory | None = None
        self.catalog_version: str | None = None
        self.catalog_etag: str | None = None
        self.heartbeat_interval_s = settings.heartbeat_interval_s
        self.local_mode = False
        self.disagreements = 0
        self.registrations = 0
        self.recovery_mode = False
        self.sender = OutboxSender(
            outbox,
            client,
            settings,
            on_unavailable=lambda reason: self._set_local(True, reason),
            stop_stale_stream=self._stop_stale_stream_soon,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._catalog_task: asyncio.Task[bool] | None = None
        self._assignments = AssignmentCache(home / "assignments.json")

    # --- entry -------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> int:
        """Serve until ``stop`` is set, then shut down gracefully; returns the exit code."""
        self._loop = asyncio.get_running_loop()
        await self._load_cached_catalog()
        tasks = [
            asyncio.create_task(self._heartbeat_loop(stop), name="heartbeat"),
            asyncio.create_task(self.sender.run(stop), name="sender"),
        ]
        if self.clips is not None:
            tasks.append(asyncio.create_task(self.clips.run(stop), name="clips"))
        stopper = asyncio.create_task(stop.wait(), name="stop")
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        rc = 0
        for t in done:
            if t is not stopper and not t.cancelled() and t.exception() is not None:
                log.error("worker_task_failed", task=t.get_name(), error=repr(t.exception()))
                rc = 1
        for t in [*tasks, stopper]:
            t.cancel()
        await asyncio.gather(*tasks, stopper, return_exceptions=True)
        await self.shutdown()
        return rc

    def put(self, play: PlayIn) -> None:
        """The pipelines' sink: store durably, then wake the sender (any thread)."""
        self.outbox.put(play)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.sender.wake)

    def put_archive(self, segment: ArchiveIn) -> None:
        """The pipelines' archive sink: store durably (bounded), then wake the sender."""
        self.outbox.archive.put(segment)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.sender.wake)

    def put_title(self, title: TitleIn) -> None:
        """The pipelines' title sink: store durably, then wake the sender (any thread)."""
        self.outbox.titles.put(title)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.sender.wake)

    @property
    def plays_acked(self) -> int:
        return self.sender.plays_acked

    @property
    def plays_dropped(self) -> int:
        return self.sender.plays_dropped

    def _stop_stale_stream_soon(self, stream_id: int, epoch: int) -> None:
        """``_stop_stale_stream`` from the sender's worker thread: ``pipelines`` belongs to
        the event loop (a heartbeat reading it while a thread pops from it would fail)."""
        if self._loop is None:
            self._stop_stale_stream(stream_id, epoch)
        else:
            self._loop.call_soon_threadsafe(self._stop_stale_stream, stream_id, epoch)

    def _stop_stale_stream(self, stream_id: int, epoch: int) -> None:
        """The sender found ``epoch`` of the stream stale: stop running it (if not newer)."""
        p = self.pipelines.get(stream_id)
        if p is not None and p.assignment.epoch <= epoch:
            self.pipelines.pop(stream_id, None)
            p.stop()
            log.warning("stream_dropped_stale", stream_id=stream_id, epoch=p.assignment.epoch)

    # --- registration and heartbeats ------------------------------------------

    async def register(self) -> None:
        from airtrack import __version__

        req = RegisterRequest(
            worker_id=self.worker_id,
            capacity=self.settings.capacity,
            host=socket.gethostname()[:255],
            version=str(__version__)[:64],
        )
        resp = await self.client.register(req)
        self.registrations += 1
        self.heartbeat_interval_s = resp.heartbeat_interval_s or self.heartbeat_interval_s
        self.disagreements = 0
        self._set_local(False, None)
        log.info(
            "worker_registered",
            worker_id=self.worker_id,
            streams=len(resp.assignments),
            heartbeat_interval_s=self.heartbeat_interval_s,
            registrations=self.registrations,
        )
        self.apply(resp.assignments)
        self._schedule_catalog_refresh()

    async def _heartbeat_loop(self, stop: asyncio.Event) -> None:
        registered = False
        attempt = 0
        while not stop.is_set():
            delay: float | None = None  # None: the interval, as the latest reply says
            try:
                if not registered:
                    await self.register()
                    registered = True
                else:
                    await self.heartbeat_once()
                attempt = 0
            except WorkerNotRegistered:
                log.warning("worker_unknown_reregistering", worker_id=self.worker_id)
                registered = False
                delay = 0.0
            except (OrchestratorUnavailable, OrchestratorRejected) as exc:
                attempt += 1
                self._set_local(True, str(exc))
                if not registered and not self.pipelines:
                    self.apply(self._assignments.load(), save=False)
                s = self.settings
                retry = backoff_delay(
                    attempt, base=s.heartbeat_retry_base_s, cap=s.heartbeat_retry_cap_s
                )
                delay = min(self.heartbeat_interval_s, retry)
                if isinstance(exc, OrchestratorRejected):
                    log.error("orchestrator_rejected", status=exc.status, error=str(exc))
            if delay is None:
                delay = self.heartbeat_interval_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)

    async def heartbeat_once(self) -> None:
        reports = self.reports()
        req = HeartbeatRequest(streams=reports, metrics=self.metrics())
        reply = await self.client.heartbeat(self.worker_id, req)
        self._set_local(False, None)
        if reply.heartbeat_interval_s:
            self.heartbeat_interval_s = reply.heartbeat_interval_s
        if reply.recovery_mode != self.recovery_mode:
            self.recovery_mode = reply.recovery_mode
            log.warning("orchestrator_recovery_mode", on=reply.recovery_mode)
        if reply.catalog_version is not None and reply.catalog_version != self.catalog_version:
            self._schedule_catalog_refresh()
        reported = {r.stream_id: r.epoch for r in reports}
        if agrees(reported, reply.assignments):
            self.disagreements = 0
        else:
            self.disagreements += 1
            if self.disagreements > self.settings.reconcile_attempts:
                log.warning(
                    "reconcile_failed_reregistering",
                    attempts=self.settings.reconcile_attempts,
                    reported=reported,
                    desired={a.stream_id: a.epoch for a in reply.assignments},
                )
                await self.register()
                return
            log.info(
                "reconcile",
                attempt=self.disagreements,
                reported=reported,
                desired={a.stream_id: a.epoch for a in reply.assignments},
            )
        self.apply(reply.assignments)
        for wanted in reply.clip_requests or ():
            p = self.pipelines.get(wanted.stream_id)
            if p is not None and p.clips is not None:
                p.clips.request(wanted)

    def reports(self) -> list[RunningStream]:
        return [p.report() for _, p in sorted(self.pipelines.items())]

    def metrics(self) -> dict[str, float]:
        reports = self.reports()
        return {
            "streams": float(len(reports)),
            "streams_running": float(sum(r.status == "running" for r in reports)),
            "cpu_s": float(sum(r.cpu_s or 0.0 for r in reports)),
            "outbox_pending": self._outbox_pending(),
            "outbox_unsaved": float(self.outbox.unsaved),
            "archive_segments": float(self.archive_stats.segments),
            "archive_thinned_pairs": float(self.archive_stats.thinned_pairs),
            "archive_dropped_segments": float(self.outbox.archive.dropped),
            "plays_acked": float(self.sender.plays_acked),
            "local_mode": 1.0 if self.local_mode else 0.0,
            "titles_limited": float(TitleChanges.dropped_total),
            **(self.clips.metrics() if self.clips is not None else {}),
        }

    def _outbox_pending(self) -> float:
        """Plays queued; -1 when the outbox cannot be read (a failing disk: logged)."""
        try:
            return float(len(self.outbox))
        except Exception:
            return -1.0

    def _set_local(self, on: bool, reason: str | None) -> None:
        if on != self.local_mode:
            self.local_mode = on
            if on:
                log.warning("local_mode", on=True, reason=reason, streams=len(self.pipelines))
            else:
                log.info("local_mode", on=False, outbox_pending=self._outbox_pending())
                self.sender.wake()  # the orchestrator is back: what waited goes now

    # --- desired vs running ---------------------------------------------------

    def running(self) -> dict[int, RunningInfo]:
        return {
            sid: RunningInfo(
                sid, p.assignment.epoch, p.assignment.url, tuple(p.assignment.backup_urls)
            )
            for sid, p in self.pipelines.items()
        }

    def apply(self, assignments: Iterable[Assignment], *, save: bool = True) -> None:
        """Start, stop and restart pipelines so that they match ``assignments``."""
        desired = list(assignments)
        for act in reconcile(desired, self.running()):
            old = self.pipelines.pop(act.stream_id, None)
            if old is not None:
                old.stop()
                log.info(
                    "stream_stop",
                    stream_id=act.stream_id,
                    epoch=old.assignment.epoch,
                    reason=act.kind,
                )
            if act.assignment is not None:
                self._start(act.assignment)
        if save:
            self._assignments.save(desired)

    def _start(self, a: Assignment) -> None:
        rate = self.pipeline_config.capture.sample_rate
        p = StreamPipeline(
            a,
            self,
            self.matcher_factory,
            self.pipeline_config,
            archive_stats=self.archive_stats,
            clips=self.clips.cutter(a.stream_id, a.epoch, rate) if self.clips else None,
        )
        self.pipelines[a.stream_id] = p
        log.info("stream_start", stream_id=a.stream_id, epoch=a.epoch, name=a.name, url=a.url)
        p.start()

    # --- catalog ----------------------------------------------------------------

    async def _load_cached_catalog(self) -> None:
        if self.segments and (seg := await asyncio.to_thread(self.segments.load_cached)):
            self._use_catalog(*seg)
            return
        cur = self.catalog.current()
        if cur is None:
            return
        version, etag, path = cur
        try:
            factory = await asyncio.to_thread(self.matcher_builder, path)
        except Exception as exc:
            log.warning("catalog_cache_unusable", path=str(path), error=str(exc))
            return
        self._use_catalog(version, etag, factory)

    def _schedule_catalog_refresh(self) -> None:
        if self._catalog_task is None or self._catalog_task.done():
            self._catalog_task = asyncio.create_task(self.refresh_catalog(), name="catalog")

    async def refresh_catalog(self) -> bool:
        """Fetch the catalog if its version changed and hot-swap it; True if swapped."""
        try:
            got = await self.segments.refresh(self.catalog_etag) if self.segments else ABSENT
            if got == ABSENT:  # an orchestrator without segments: the whole snapshot
                got = await self.catalog.fetch(self.client, self.catalog_etag, self.matcher_builder)
        except (OrchestratorUnavailable, OrchestratorRejected) as exc:
            log.warning("catalog_download_failed", error=str(exc))
            return False
        if not isinstance(got, tuple):
            return False
        self._use_catalog(*got)
        return True

    def _use_catalog(self, version: str, etag: str, factory: MatcherFactory) -> None:
        self.catalog_version, self.catalog_etag = version, etag
        self.matcher_factory = factory
        for p in self.pipelines.values():
            p.set_matcher_factory(factory)

    # --- shutdown -----------------------------------------------------------------

    async def shutdown(self) -> None:
        """Stop pipelines, flush the outbox, deregister — all within the shutdown budget.

        The flush is tried even with the breaker open (one probe, ``worker_stop_flush_s``);
        what stays queued is logged with the outbox's path (:mod:`.stop_flush`).

        Plays and titles are flushed *before* deregistering: deregistration moves the
        streams at once (new epochs), after which they would be refused as stale.  So
        when some are still queued after the flush, the worker does not deregister: back
        with the same id it keeps its streams and epochs and delivers them; if it does
        not come back, its lease expires and the streams move then.
        """
        deadline = time.monotonic() + self.shutdown_timeout_s
        if self._catalog_task is not None:
            self._catalog_task.cancel()
        pipes = list(self.pipelines.values())
        self.pipelines.clear()
        for p in pipes:
            p.stop()
        budget = max(0.1, (deadline - time.monotonic()) * 0.4)
        await asyncio.to_thread(_join_all, pipes, budget)
        if self.clips is not None:  # spooled now, uploaded at the next start
            await asyncio.to_thread(self.clips.close, max(0.1, deadline - time.monotonic()) * 0.2)
        flushed = await flush_on_stop(self.sender, self.client, self.settings, deadline)
        queued = queued_at_stop(self.outbox)
        left = queued.get("plays", 1), queued.get("titles", 1)  # unreadable: assume some
        # acks the disk would not delete: their rows go out again at the next start,
        # refused as stale if the streams had moved on (deregistered)
        unsaved = self.outbox.unsaved
        if any(n != 0 for n in left) or unsaved:
            log.warning("deregister_skipped", plays=left[0], titles=left[1], unsaved=unsaved)
        else:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self.client.deregister(self.worker_id, retries=1),
                    max(0.1, deadline - time.monotonic()),
                )
        await self.client.aclose()
        log_queued(queued)
        if all(not p.alive for p in pipes):
            self.outbox.close()
        log.info(
            "worker_stopped",
            flushed=flushed,
            outbox_pending=queued.get("plays", -1),
            titles_pending=queued.get("titles", -1),
        )


def _join_all(pipes: list[StreamPipeline], budget: float) -> None:
    end = time.monotonic() + budget
    for p in pipes:
        p.join(max(0.0, end - time.monotonic()))
