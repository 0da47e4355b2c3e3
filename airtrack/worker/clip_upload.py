"""Proof clips, the worker's side: encode off the matching path, spool, upload.

* :class:`ClipEncoder`: one thread per worker, fed through a bounded queue that never
  blocks the stream threads (``clip_encode_queue``; a clip offered to a full queue is
  dropped and counted). It encodes each clip to Ogg Opus at ``clip_bitrate`` with PyAV
  and writes it to the spool.
* :class:`ClipSpool`: encoded clips on disk under the worker's home (``clips/``), one
  file each, at most ``clip_spool_max`` (the oldest beyond are dropped, counted), so a
  worker offline for a while uploads them later. Not the play outbox: a clip never
  stands in the way of a play.
* :class:`ClipUploader`: the supervisor's task that sends the spool to ``POST /clips``
  (a fenced batch, like plays: only the streams the worker owns, at their epochs).
  Every answer but "unreachable" ends a clip's life in the spool.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

from airtrack.errors import OrchestratorRejected, OrchestratorUnavailable, StaleEpoch
from airtrack.logging import get_logger
from airtrack.protocol import ClipIn
from airtrack.settings import Settings
from airtrack.worker.client import OrchestratorClient
from airtrack.worker.clips import ClipCutter, ClipJob, ClipStats

log = get_logger(__name__)

MEDIA_TYPE = "audio/ogg"
#: Clips sent per request (each is small: ~20 kB at 16 kbit/s for 10 s).
_BATCH = 5


def encode_opus(pcm: np.ndarray, rate: int, bitrate: int) -> bytes:
    """Mono int16 samples at ``rate`` → an Ogg Opus file at ``bitrate`` bits/s."""
    out = io.BytesIO()
    with av.open(out, "w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=rate)
        stream.bit_rate = bitrate
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(pcm, np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


class ClipSpool:
    """Encoded clips waiting for upload, one JSON file each (the :class:`ClipIn` body)."""

    def __init__(self, folder: Path, max_clips: int, stats: ClipStats) -> None:
        self.folder = folder
        self.max_clips = max_clips
        self.stats = stats
        self._lock = threading.Lock()
        folder.mkdir(parents=True, exist_ok=True)
        for stray in folder.glob("*.tmp"):  # a write cut short by a crash
            stray.unlink(missing_ok=True)

    def put(self, clip: ClipIn) -> None:
        name = f"{time.time_ns():020d}-{clip.key}.json"
        tmp = self.folder / (name + ".tmp")
        tmp.write_text(clip.model_dump_json())
        os.replace(tmp, self.folder / name)
        with self._lock:
            files = self.names()
            excess = len(files) - self.max_clips
            for old in files[: max(0, excess)]:
                (self.folder / old).unlink(missing_ok=True)
                self.stats.add(dropped=1)
                log.warning("clip_dropped", file=old, why="spool full")

    def names(self) -> list[str]:
        """Oldest first."""
        return sorted(p.name for p in self.folder.glob("*.json"))

    def load(self, name: str) -> ClipIn | None:
        try:
            return ClipIn.model_validate_json((self.folder / name).read_bytes())
        except FileNotFoundError:
            return None
        except ValueError:  # damaged: never sendable
            log.warning("clip_unreadable", file=name)
            self.remove(name)
            return None

    def remove(self, name: str) -> None:
        (self.folder / name).unlink(missing_ok=True)

    def __len__(self) -> int:
        return len(self.names())


class ClipEncoder:
    """The worker's encoder thread (see the module docstring)."""

    def __init__(self, spool: ClipSpool, *, bitrate: int, queue_max: int, stats: ClipStats) -> None:
        self.spool = spool
        self.bitrate = bitrate
        self.stats = stats
        self.cpu_s = 0.0
        self._queue: queue.Queue[ClipJob | None] = queue.Queue(queue_max)
        self._thread = threading.Thread(target=self._run, name="clip-encoder", daemon=True)
        #: Called (in the encoder thread) after each clip is spooled: wakes the uploader.
        self.on_spooled: Callable[[], None] | None = None
        self._thread.start()

    def offer(self, job: ClipJob) -> bool:
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            return False
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Encode what is queued (within ``timeout``), then stop the thread."""
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            cpu0 = time.thread_time()
            try:
                data = encode_opus(job.pcm, job.rate, self.bitrate)
                clip = ClipIn(
                    key=job.key,
                    stream_id=job.stream_id,
                    epoch=job.epoch,
                    started_at=job.started_at,
                    duration_s=round(job.pcm.size / job.rate, 3),
                    play_key=job.play_key,
                    request_id=job.request_id,
                    media_type=MEDIA_TYPE,
                    data=base64.b64encode(data).decode(),
                )
                self.spool.put(clip)
            except Exception:  # a full disk or an encoder error: no clip, nothing else hurt
                self.stats.add(dropped=1)
                log.exception("clip_encode_failed", key=job.key, stream_id=job.stream_id)
            else:
                self.stats.add(encoded=1)
                if self.on_spooled is not None:
                    self.on_spooled()
                log.info(
                    "clip_encoded",
                    key=job.key,
                    stream_id=job.stream_id,
                    bytes=len(data),
                    play_key=job.play_key,
                    request_id=job.request_id,
                )
            finally:
                self.cpu_s += time.thread_time() - cpu0


class ClipUploader:
    """Sends the spool to the orchestrator whenever it is reachable (see the module
    docstring); ``wake`` after a clip was spooled, else every ``interval_s``."""

    def __init__(
        self, spool: ClipSpool, client: OrchestratorClient, stats: ClipStats, interval_s: float
    ) -> None:
        self.spool = spool
        self.client = client
        self.stats = stats
        self.interval_s = interval_s
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.upload_once()
            except OrchestratorUnavailable as exc:
                log.info("clips_upload_waiting", error=str(exc), spooled=len(self.spool))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval_s)

    async def upload_once(self) -> int:
        """Send every spooled clip (batches of a few); how many left the spool."""
        done = 0
        names = await asyncio.to_thread(self.spool.names)
        for i in range(0, len(names), _BATCH):
            batch = [(n, c) for n in names[i : i + _BATCH] if (c := self.spool.load(n))]
            if not batch:
                continue
            try:
                results = await self.client.send_fenced("clip", [c for _, c in batch])
                statuses: dict[str, str] = {r.key: r.status for r in results}
            except StaleEpoch:
                statuses = {c.key: "stale" for _, c in batch}
            except OrchestratorRejected as exc:  # 413/422: this batch will never be taken
                log.warning("clips_refused", status=exc.status, error=str(exc), clips=len(batch))
                statuses = {c.key: "refused" for _, c in batch}
            for name, clip in batch:
                status = statuses.get(clip.key, "missing")
                self.spool.remove(name)
                done += 1
                if status in ("stored", "duplicate"):
                    self.stats.add(uploaded=1)
                else:
                    self.stats.add(dropped=1)
                log.info(
                    "clip_uploaded" if status == "stored" else "clip_not_stored",
                    key=clip.key,
                    stream_id=clip.stream_id,
                    status=status,
                )
        return done


class ClipWorkshop:
    """A worker's clip machinery in one object: the spool, the encoder, the uploader and
    their counters; :meth:`cutter` makes each stream's :class:`ClipCutter`."""

    def __init__(self, settings: Settings, client: OrchestratorClient, home: Path) -> None:
        self.settings = settings
        self.stats = ClipStats()
        self.spool = ClipSpool(home / "clips", settings.clip_spool_max, self.stats)
        self.encoder = ClipEncoder(
            self.spool,
            bitrate=settings.clip_bitrate,
            queue_max=settings.clip_encode_queue,
            stats=self.stats,
        )
        self.uploader = ClipUploader(
            self.spool, client, self.stats, interval_s=settings.heartbeat_interval_s
        )

    def cutter(self, stream_id: int, epoch: int, rate: int) -> ClipCutter:
        s = self.settings
        return ClipCutter(
            stream_id,
            epoch,
            self.encoder,
            rate=rate,
            clip_s=s.clip_s,
            buffer_s=s.clip_buffer_s,
            request_max_s=s.clip_request_max_s,
            stats=self.stats,
        )

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()

        def wake() -> None:
            loop.call_soon_threadsafe(self.uploader.wake)

        self.encoder.on_spooled = wake
        await self.uploader.run(stop)

    def metrics(self) -> dict[str, float]:
        st = self.stats
        return {
            "clips_cut": float(st.cut),
            "clips_missed": float(st.missed),
            "clips_dropped": float(st.dropped),
            "clips_uploaded": float(st.uploaded),
            "clips_spooled": float(len(self.spool)),
        }

    def close(self, timeout_s: float) -> None:
        """Spool what is being encoded (it is uploaded at the next start)."""
        self.encoder.on_spooled = None
        self.encoder.close(timeout_s)
