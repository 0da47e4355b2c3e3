"""One stream's pipeline: capture → streaming matcher → plays in the outbox.

Each pipeline runs in its own thread, so a slow or broken stream never stalls
the others nor the supervisor's event loop (PyAV decodes and numpy matches with
the GIL released for most of the work). Failures are classified by
:mod:`airtrack.worker.capture`; the pipeline reconnects with exponential
backoff and jitter, and reports its status, lag and CPU time for heartbeats.

Matcher times (seconds from the first sample fed) become wall-clock plays via
the *origin* of each connection: the wall time at which its first sample was
live. Servers send a burst of buffered audio at connect, so the origin is the
earliest ``arrival − audio position`` seen, which converges on the live edge.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

import numpy as np

from airtrack.logging import get_logger
from airtrack.protocol import Assignment, PlayIn, RunningStream, StreamStatus
from airtrack.resilience import backoff_delay
from airtrack.settings import Settings
from airtrack.worker.archive import ArchiveRecorder, ArchiveSink, ArchiveStats
from airtrack.worker.capture import CaptureOptions, StreamInfo, capture
from airtrack.worker.clips import ClipCutter
from airtrack.worker.failover import UrlRotation
from airtrack.worker.failures import StreamFailure
from airtrack.worker.outbox import play_key
from airtrack.worker.session import Matcher, Session
from airtrack.worker.titles import TitleChanges, TitleReporter

log = get_logger(__name__)


MatcherFactory = Callable[[], Matcher]


class PlaySink(Protocol):
    def put(self, play: PlayIn) -> None: ...


#: The settings' defaults (no environment): the one source of the config defaults below.
_DEFAULTS = Settings.model_construct()


def _setting(name: str) -> Any:
    """A config field that is the setting ``name``: its default, and where
    :meth:`PipelineConfig.from_settings` reads it."""
    return field(default=getattr(_DEFAULTS, name), metadata={"setting": name})


@dataclass(frozen=True)
class PipelineConfig:
    """A stream pipeline's policy; :meth:`from_settings` in production, defaults = settings'."""

    capture: CaptureOptions = field(default_factory=CaptureOptions)
    silence_fail_s: float = _setting("silence_fail_s")
    start_timeout_s: float = _setting("stream_start_timeout_s")
    silence_rms: float = _setting("silence_rms")
    reconnect_base_s: float = _setting("stream_reconnect_base_s")
    reconnect_cap_s: float = _setting("stream_reconnect_cap_s")
    fail_after: int = _setting("stream_fail_after")
    healthy_after_s: float = _setting("stream_healthy_after_s")
    failover_after: int = _setting("stream_failover_after")
    primary_retry_s: float = _setting("stream_primary_retry_s")
    title_changes_per_min: int = _setting("title_changes_per_min")
    archive: bool = _setting("archive")
    archive_segment_s: float = _setting("archive_segment_s")
    archive_max_bytes_per_s: int = _setting("archive_max_bytes_per_s")

    @classmethod
    def from_settings(cls, settings: Settings) -> PipelineConfig:
        values = {
            f.name: getattr(settings, f.metadata["setting"])
            for f in fields(cls)
            if "setting" in f.metadata
        }
        return cls(capture=CaptureOptions.from_settings(settings), **values)


@dataclass
class _OpenPlay:
    key: str
    started_at: datetime
    confidence: float
    song_origin: datetime | None = None


class StreamPipeline:
    """Runs one assignment until stopped; thread-safe status for the supervisor."""

    def __init__(
        self,
        assignment: Assignment,
        sink: PlaySink,
        matcher_factory: MatcherFactory | None,
        config: PipelineConfig | None = None,
        *,
        wall: Callable[[], float] = time.time,
        archive_stats: ArchiveStats | None = None,
        clips: ClipCutter | None = None,
    ) -> None:
        self.assignment = assignment
        #: Cuts proof clips from a rolling buffer of this stream's audio (None: off).
        self.clips = clips
        self._clip_failed = False
        self.archive_stats = archive_stats or ArchiveStats()
        self._recorder: ArchiveRecorder | None = None
        self.config = config or PipelineConfig()
        self._sink = sink
        self._factory = matcher_factory
        self._factory_gen = 0
        self._wall = wall
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._status: StreamStatus = "starting"
        self._error: str | None = None
        self._lag_s: float | None = None
        self._cpu_s = 0.0
        self._open: dict[int, _OpenPlay] = {}
        self.info = StreamInfo()
        # the stream's title changes, across its connections (a reconnect repeats the last)
        self.titles = TitleChanges(self.config.title_changes_per_min)
        self.plays_started = 0
        self.plays_ended = 0
        self.connections = 0
        self.audio_s = 0.0
        self._thread = threading.Thread(
            target=self._run, name=f"stream-{assignment.stream_id}", daemon=True
        )
        self.urls = UrlRotation(
            [assignment.url, *assignment.backup_urls],
            self.config.failover_after,
            self.config.primary_retry_s,
        )
        self._primary_answered = threading.Event()
        self._probe: threading.Thread | None = None
        self._log = log.bind(stream_id=assignment.stream_id, epoch=assignment.epoch)

    # --- control (any thread) -----------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; True if it finished."""
        if self._thread.ident is not None:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def set_matcher_factory(self, factory: MatcherFactory | None) -> None:
        """Hot-swap the catalog: the next block goes to a matcher built by ``factory``."""
        with self._lock:
            self._factory = factory
            self._factory_gen += 1

    def report(self) -> RunningStream:
        with self._lock:
            return RunningStream(
                stream_id=self.assignment.stream_id,
                epoch=self.assignment.epoch,
                status=self._status,
                error=self._error[:2000] if self._error else None,
                lag_s=round(self._lag_s, 3) if self._lag_s is not None else None,
                cpu_s=round(self._cpu_s, 3),
                url_in_use=self.urls.current,
            )

    @property
    def status(self) -> StreamStatus:
        return self._status

    @property
    def error(self) -> str | None:
        return self._error

    # --- the thread ---------------------------------------------------------

    def _set(self, status: StreamStatus, error: str | None) -> None:
        with self._lock:
            changed = (status, error) != (self._status, self._error)
            self._status, self._error = status, error
        if changed:
            level = "warning" if status in ("failed", "retrying") else "info"
            getattr(self._log, level)("stream_status", status=status, error=error)

    def _run(self) -> None:
        cfg = self.config
        attempt = 0
        consecutive = 0
        silent_s = 0.0
        cpu0 = time.thread_time()
        last_bug: str | None = None
        while not self._stop.is_set():
            self.connections += 1
            session = Session(self._wall)
            gen = -1
            failure: StreamFailure | None = None
            back_to_primary = False
            with self._lock:
                url = self.urls.current
            titles = TitleReporter(
                self.assignment.stream_id, self.assignment.epoch, self._sink, self.titles
            )
            self._clip("reset")
            blocks = capture(
                url,
                cfg.capture,
                self._stop,
                self.info,
                audio_timeout_s=cfg.start_timeout_s,
                on_title=titles.heard,
            )
            try:
                for block in blocks:
                    seconds = block.size / cfg.capture.sample_rate
                    lag = session.on_block(seconds)
                    titles.flush(session.origin)
                    self.audio_s += seconds
                    with self._lock:
                        factory, fgen = self._factory, self._factory_gen
                    if fgen != gen:
                        self._swap_matcher(session, factory, seconds)
                        gen = fgen
                    self._clip("heard", block)
                    if session.matcher is not None:
                        self._emit(session, session.matcher.feed(block))
                    self._clip("step", session.origin)
                    if session.audio_s >= cfg.healthy_after_s:
                        attempt = consecutive = 0
                        self.urls.healthy()
                    rms = float(np.sqrt(np.mean(np.square(block)))) if block.size else 0.0
                    silent_s = silent_s + seconds if rms < cfg.silence_rms else 0.0
                    with self._lock:
                        self._lag_s = lag
                        self._cpu_s = time.thread_time() - cpu0
                    if silent_s >= cfg.silence_fail_s:
                        self._set("failed", f"silence: no audio for {silent_s:.0f} s")
                    else:
                        self._set("running", None)
                    if self.urls.on_backup and self._primary_is_back():
                        back_to_primary = True
                        break
            except StreamFailure as exc:
                failure = exc
            except Exception as exc:  # a bug or an unexpected library error: keep going
                failure = StreamFailure("decode", f"internal error: {type(exc).__name__}: {exc}")
                if str(failure) != last_bug:  # a traceback per new error, not per retry
                    self._log.exception("pipeline_error")
                    last_bug = str(failure)
            finally:
                blocks.close()  # type: ignore[attr-defined]
                self._close_matcher(session)
            if self._stop.is_set():
                break
            if back_to_primary:
                with self._lock:
                    self.urls.back_to_primary()
                self._log.info("stream_url", url=self.urls.current, why="main URL answers again")
                continue
            assert failure is not None
            attempt += 1
            consecutive += 1
            n_urls = len(self.urls.urls)
            # with backups, "failed" means every URL has had its chances
            bad = (failure.permanent and n_urls == 1) or consecutive >= cfg.fail_after * n_urls
            self._set("failed" if bad else "retrying", str(failure))
            with self._lock:
                moved = self.urls.failed(time.monotonic(), permanent=failure.permanent)
            if moved:
                self._log.warning(
                    "stream_url", url=self.urls.current, previous=url, why=failure.kind
                )
                attempt = 1  # a fresh URL: no reason to wait long before trying it
            delay = backoff_delay(attempt, base=cfg.reconnect_base_s, cap=cfg.reconnect_cap_s)
            self._log.info(
                "stream_reconnect", kind=failure.kind, attempt=attempt, delay_s=round(delay, 2)
            )
            self._stop.wait(delay)
        self._clip("reset")  # what is still wanted: cut from what was heard
        with self._lock:
            self._cpu_s = time.thread_time() - cpu0
        self._set("stopped", None)

    def _clip(self, what: Literal["reset", "heard", "step", "play_started"], *args: Any) -> None:
        """Tell the clip cutter; its failure never reaches recognition (logged once)."""
        if self.clips is None:
            return
        try:
            getattr(self.clips, what)(*args)
        except Exception:
            if not self._clip_failed:
                self._clip_failed = True
                self._log.exception("clip_cutter_failed", step=what)

    def _primary_is_back(self) -> bool:
        """On a backup: whether a probe found the main URL answering (starts probes when
        due; a probe runs beside the backup connection, so monitoring never pauses)."""
        if self._primary_answered.is_set():
            self._primary_answered.clear()
            return True
        idle = self._probe is None or not self._probe.is_alive()
        if idle and self.urls.probe_due(time.monotonic()):
            self._probe = threading.Thread(
                target=self._probe_primary,
                name=f"probe-{self.assignment.stream_id}",
                daemon=True,
            )
            self._probe.start()
        return False

    def _probe_primary(self) -> None:
        blocks = capture(self.urls.urls[0], self.config.capture, self._stop, StreamInfo())
        try:
            for _ in blocks:
                self._primary_answered.set()
                break
        except StreamFailure as exc:
            self._log.info("stream_probe_failed", url=self.urls.urls[0], kind=exc.kind)
        except Exception:
            self._log.exception("stream_probe_error")
        finally:
            blocks.close()  # type: ignore[attr-defined]

    def _swap_matcher(
        self, session: Session, factory: MatcherFactory | None, block_s: float
    ) -> None:
        self._close_matcher(session)
        session.matcher = factory() if factory is not None else None
        # the block being processed (already counted) is the new matcher's first
        session.matcher_offset_s = session.audio_s - block_s
        self._attach_archive(session)

    def _attach_archive(self, session: Session) -> None:
        """The new matcher's prints go to the archive (when on and the sink takes them)."""
        self._recorder = None
        sink, matcher = self._sink, session.matcher
        if not self.config.archive or matcher is None or not isinstance(sink, ArchiveSink):
            return
        if not hasattr(matcher, "on_pairs"):
            return
        recorder = ArchiveRecorder(
            self.assignment.stream_id,
            self.assignment.epoch,
            sink,
            session.wall_of,  # matcher time → wall, as plays are dated
            segment_s=self.config.archive_segment_s,
            max_bytes_per_s=self.config.archive_max_bytes_per_s,
            stats=self.archive_stats,
        )
        setattr(matcher, "on_pairs", recorder.on_pairs)  # noqa: B010 (not in the protocol)
        self._recorder = recorder

    def _close_matcher(self, session: Session) -> None:
        if session.matcher is not None:
            try:
                self._emit(session, session.matcher.close())
            finally:
                recorder, self._recorder = self._recorder, None
                if recorder is not None:
                    frames = int(getattr(session.matcher, "frames", 0))
                    recorder.close(frames)
                session.matcher = None

    def _emit(self, session: Session, events: Sequence[Any]) -> None:
        a = self.assignment
        for ev in events:
            track = int(ev.track_id)
            conf = float(min(1.0, max(0.0, ev.confidence)))
            ended = hasattr(ev, "end_s")
            open_play = self._open.get(track)
            if open_play is None:
                started_at = session.wall_of(float(ev.start_s))
                speed = float(getattr(ev, "speed", 1.0) or 1.0)
                offset = float(getattr(ev, "offset_s", 0.0))
                open_play = _OpenPlay(
                    play_key(a.stream_id, a.epoch, track, started_at),
                    started_at,
                    conf,
                    started_at - timedelta(seconds=offset / speed),
                )
                if not ended:
                    self._open[track] = open_play
                    self.plays_started += 1
                audio_s = session.matcher_offset_s + float(ev.start_s)
                self._clip("play_started", open_play.key, started_at, audio_s)
            open_play.confidence = max(open_play.confidence, conf)
            ended_at = None
            if ended:
                self._open.pop(track, None)
                ended_at = max(open_play.started_at, session.wall_of(float(ev.end_s)))
                self.plays_ended += 1
            play = PlayIn(
                key=open_play.key,
                stream_id=a.stream_id,
                epoch=a.epoch,
                track_id=track,
                started_at=open_play.started_at,
                ended_at=ended_at,
                confidence=open_play.confidence,
                song_origin=open_play.song_origin,
            )
            try:
                self._sink.put(play)
            except Exception:
                self._log.exception("outbox_write_failed", key=play.key)
            else:
                self._log.info(
                    "play_ended" if ended else "play_started",
                    track_id=track,
                    key=play.key,
                    started_at=play.started_at.isoformat(),
                    ended_at=ended_at.isoformat() if ended_at else None,
                    confidence=round(play.confidence, 3),
                )
