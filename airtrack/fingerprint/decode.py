"""Streamed audio decoding with PyAV: any file or URL FFmpeg reads → mono float32 blocks.

Decoding and resampling run in C (FFmpeg via PyAV); Python only moves blocks of a few
seconds, so an hour of audio never sits in memory.  Every failure is turned into
``AudioError`` with a one-line reason.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from airtrack.errors import AudioError, first_line
from airtrack.fingerprint.params import SAMPLE_RATE

__all__ = ["MIN_DURATION_S", "decode", "decode_ahead", "probe_duration", "read_tags"]

#: Inputs shorter than this are refused: too short to fingerprint.
MIN_DURATION_S = 2.0
_NETWORK_PREFIXES = ("http://", "https://", "rtmp://", "rtsp://", "icecast://", "hls+")
#: Blocks :func:`decode_ahead` decodes ahead of its consumer (16-s blocks for files).
_AHEAD = 2


def _is_url(source: str) -> bool:
    return source.lower().startswith(_NETWORK_PREFIXES)


def _open(
    source: str | os.PathLike[str], open_timeout_s: float, read_timeout_s: float
) -> av.container.InputContainer:
    name = os.fspath(source)
    if not _is_url(name):
        path = Path(name)
        if path.is_dir():
            raise AudioError(f"{name}: is a directory, not an audio file")
        if not path.exists():
            raise AudioError(f"{name}: no such file")
        if path.stat().st_size == 0:
            raise AudioError(f"{name}: empty file")
    options = {}
    if _is_url(name):
        # reconnect on dropped HTTP connections of live streams
        options = {"reconnect": "1", "reconnect_streamed": "1", "reconnect_delay_max": "5"}
    try:
        return av.open(name, timeout=(open_timeout_s, read_timeout_s), options=options)
    except av.error.FFmpegError as exc:
        raise AudioError(f"{name}: cannot open as audio ({_reason(exc)})") from exc
    except OSError as exc:
        raise AudioError(f"{name}: cannot open ({exc.strerror or exc})") from exc


def _reason(exc: BaseException) -> str:
    """FFmpeg's own short reason (``strerror``) when it gave one: the message repeats the path."""
    strerror = getattr(exc, "strerror", None)
    return str(strerror) if strerror else first_line(exc)


def decode(
    source: str | os.PathLike[str],
    *,
    rate: int = SAMPLE_RATE,
    block_s: float | None = None,
    open_timeout_s: float = 10.0,
    read_timeout_s: float = 10.0,
    min_duration_s: float = MIN_DURATION_S,
) -> Iterator[npt.NDArray[np.float32]]:
    """Yield mono float32 blocks (``block_s`` seconds, last one shorter) at ``rate`` Hz.

    ``block_s`` defaults to 4 s for URLs (live latency) and 16 s for files (throughput).

    ``source`` is a path or a URL (http/https, HLS ``.m3u8``).  A socket that stalls longer
    than ``read_timeout_s`` raises ``AudioError`` instead of hanging.  Corrupt data in the
    middle of a file is skipped by FFmpeg where it can resync; a file that yields less than
    ``min_duration_s`` of audio raises ``AudioError``.
    """
    name = os.fspath(source)
    if block_s is None:
        block_s = 4.0 if _is_url(name) else 16.0
    container = _open(source, open_timeout_s, read_timeout_s)
    if not _is_url(name) and container.streams.audio:
        fast = _open_graph(name, rate, block_s)
        if fast is not None:
            container.close()
            yield from _decode_graph(fast, name, rate, min_duration_s)
            return
    try:
        if not container.streams.audio:
            raise AudioError(f"{name}: no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        block_len = max(1, int(block_s * rate))
        pending: list[npt.NDArray[np.float32]] = []
        pending_len = 0
        total = 0
        frames = _frames(container, stream, name)
        for frame in frames:
            for out in resampler.resample(frame):
                chunk = np.frombuffer(memoryview(out.planes[0]), np.float32, out.samples)
                pending.append(chunk)
                pending_len += chunk.shape[0]
            while pending_len >= block_len:
                joined = np.concatenate(pending)
                yield joined[:block_len]
                total += block_len
                rest = joined[block_len:]
                pending = [rest] if rest.size else []
                pending_len = rest.shape[0]
        for out in resampler.resample(None):
            pending.append(np.frombuffer(memoryview(out.planes[0]), np.float32, out.samples))
            pending_len += pending[-1].shape[0]
        total += pending_len
        if total < min_duration_s * rate:
            raise AudioError(
                f"{name}: only {total / rate:.1f} s of audio decoded "
                f"(need at least {min_duration_s:.0f} s)"
            )
        if pending_len:
            yield np.concatenate(pending)
    finally:
        container.close()


def decode_ahead(
    source: str | os.PathLike[str], **options: Any
) -> Iterator[npt.NDArray[np.float32]]:
    """:func:`decode` run in a thread ``_AHEAD`` blocks ahead of the caller: the same
    blocks, and the same ``AudioError`` after the same blocks.

    FFmpeg decodes without holding the GIL, so a scan decodes the next block while the
    matcher works on this one: with a core to spare, the wall-clock time of a file scan
    is about the longer of the two instead of their sum (the CPU time is the same).
    Closing the iterator early stops the thread (the file is closed).
    """
    ahead: queue.Queue[tuple[str, Any]] = queue.Queue(_AHEAD)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for block in decode(source, **options):
                if not put(("block", block)):
                    return  # the consumer stopped: leaving the loop closes the file
            put(("end", None))
        except BaseException as exc:  # handed to the consumer, raised there
            put(("error", exc))

    thread = threading.Thread(target=produce, name="airtrack-decode-ahead", daemon=True)
    thread.start()
    try:
        while True:
            kind, item = ahead.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def _graph_escape(path: str) -> str:
    """``path`` as an option value inside a filtergraph (FFmpeg's two quoting levels)."""
    level1 = "".join("\\" + c if c in "\\':" else c for c in path)
    return "".join("\\" + c if c in "\\'[],;" else c for c in level1)


def _open_graph(name: str, rate: int, block_s: float) -> av.container.InputContainer | None:
    """A local file decoded, downmixed and resampled inside FFmpeg (lavfi ``amovie``).

    One Python step per output block instead of one per codec frame (~25 ms): resampling
    then costs next to nothing beside decoding.  ``None`` when the graph will not open (the
    caller falls back to decoding frame by frame, which words the errors).
    """
    graph = (
        f"amovie=filename={_graph_escape(os.path.abspath(name))},"
        # downmix before resampling (half the work on stereo); a 16-tap sinc (default 32):
        # its wider transition band lies above F_HI (3.8 kHz), where no peak is picked
        f"aformat=channel_layouts=mono,aresample={rate}:filter_size=16,"
        f"aformat=sample_fmts=flt:channel_layouts=mono,"
        f"asetnsamples=n={max(1, int(block_s * rate))}:p=0"
    )
    try:
        return av.open(graph, format="lavfi")
    except (av.error.FFmpegError, OSError, ValueError):
        return None


def _decode_graph(
    container: av.container.InputContainer, name: str, rate: int, min_duration_s: float
) -> Iterator[npt.NDArray[np.float32]]:
    """Blocks from an ``_open_graph`` container; the last block waits for the length check."""
    total = 0
    held: npt.NDArray[np.float32] | None = None
    try:
        blocks = container.decode(container.streams.audio[0])
        while True:
            try:
                frame = next(blocks)
            except StopIteration:
                break
            except av.error.FFmpegError as exc:
                if total == 0:
                    raise AudioError(f"{name}: cannot decode audio ({_reason(exc)})") from exc
                raise AudioError(
                    f"{name}: stream broke after {total / rate:.1f} s ({_reason(exc)})"
                ) from exc
            chunk = np.frombuffer(memoryview(frame.planes[0]), np.float32, frame.samples)
            total += chunk.shape[0]
            if held is not None:
                yield held
            held = chunk.copy()
        if total < min_duration_s * rate:
            raise AudioError(
                f"{name}: only {total / rate:.1f} s of audio decoded "
                f"(need at least {min_duration_s:.0f} s)"
            )
        if held is not None:
            yield held
    finally:
        container.close()


def _frames(
    container: av.container.InputContainer, stream: av.audio.stream.AudioStream, name: str
) -> Iterator[av.AudioFrame]:
    """Decoded frames; a decode error after good audio ends the stream (truncated file)."""
    decoded = 0
    try:
        for packet in container.demux(stream):
            try:
                for frame in packet.decode():
                    decoded += 1
                    yield frame
            except av.error.InvalidDataError:
                # a damaged packet: skip it like ffmpeg does, keep going
                continue
    except av.error.ExitError as exc:
        raise AudioError(f"{name}: read timed out or was interrupted ({_reason(exc)})") from exc
    except av.error.FFmpegError as exc:
        if decoded == 0:
            raise AudioError(f"{name}: cannot decode audio ({_reason(exc)})") from exc
        raise AudioError(f"{name}: stream broke after {decoded} frames ({_reason(exc)})") from exc
    except OSError as exc:
        raise AudioError(f"{name}: read failed ({_reason(exc)})") from exc


def probe_duration(source: str | os.PathLike[str], *, timeout_s: float = 10.0) -> float | None:
    """Duration in seconds from the container header, or ``None`` when it does not say."""
    container = _open(source, timeout_s, timeout_s)
    try:
        if not container.streams.audio:
            raise AudioError(f"{os.fspath(source)}: no audio stream")
        stream = container.streams.audio[0]
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        if container.duration is not None:
            return float(container.duration) / 1_000_000.0
        return None
    finally:
        container.close()


def read_tags(source: str | os.PathLike[str]) -> tuple[str | None, str | None]:
    """``(title, artist)`` from container or stream metadata; ``None`` where absent."""
    container = _open(source, 10.0, 10.0)
    try:
        meta: dict[str, str] = {}
        for stream in container.streams.audio[:1]:
            meta.update({k.lower(): v for k, v in stream.metadata.items()})
        meta.update({k.lower(): v for k, v in container.metadata.items()})
        title = (meta.get("title") or "").strip() or None
        artist = (meta.get("artist") or meta.get("album_artist") or "").strip() or None
        return title, artist
    finally:
        container.close()
