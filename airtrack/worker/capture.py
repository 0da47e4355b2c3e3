"""Capture one live stream: HTTP/Icecast (MP3, AAC, Ogg) or HLS → mono float32 blocks.

Plain HTTP streams are fetched with httpx (redirects followed, connect and read
timeouts; ICY titles asked for and stripped before decoding, see worker/titles.py) and
fed to PyAV through a file-like object, so every failure is classified by what actually
happened: an HTTP status, an HTML page, bytes that are not audio, a socket that went quiet (read
timeout: a stall is an error, never a hang), bytes that never decode to audio
(a trickle: "starved"), a redirect loop, or the end of the body. HLS playlists
are checked the same way, then handed to FFmpeg's HLS demuxer with a read/write
timeout.

Everything here is blocking and runs in the stream's own thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import av
import httpx
import numpy as np

from airtrack.fingerprint.params import SAMPLE_RATE
from airtrack.settings import Settings
from airtrack.worker.failures import (
    TEXT_SNIFF,
    StreamFailure,
    check_status,
    ffmpeg_failure,
    looks_like_text,
    sniff,
    text_failure,
)
from airtrack.worker.titles import TitleCallback, TitleClock, metaint_of, strip_icy

__all__ = ["CaptureOptions", "StreamFailure", "StreamInfo", "capture"]

_FORMAT_BY_TYPE = {
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/aac": "aac",
    "audio/aacp": "aac",
    "audio/x-aac": "aac",
    "audio/ogg": "ogg",
    "application/ogg": "ogg",
    "audio/opus": "ogg",
    "audio/flac": "flac",
    "audio/x-flac": "flac",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
}
_MAX_BAD_PACKETS = 50


#: The settings' defaults (no environment): the one source of the option defaults below.
_DEFAULTS = Settings.model_construct()


def _connect_timeout_s(settings: Settings) -> float:
    # a connect slower than the stall limit would be a stall that nobody reports as one
    return min(settings.http_timeout_s, settings.stream_read_timeout_s)


@dataclass(frozen=True)
class CaptureOptions:
    """How a stream is captured; :meth:`from_settings` in production, defaults = settings'."""

    # the engine's rate (a constant of the prints, not a setting): resample once, here
    sample_rate: int = SAMPLE_RATE
    block_s: float = _DEFAULTS.capture_block_s
    connect_timeout_s: float = _connect_timeout_s(_DEFAULTS)
    read_timeout_s: float = _DEFAULTS.stream_read_timeout_s
    user_agent: str = "airtrack-worker"
    icy_metadata: bool = _DEFAULTS.icy_metadata

    @classmethod
    def from_settings(cls, settings: Settings) -> CaptureOptions:
        return cls(
            block_s=settings.capture_block_s,
            connect_timeout_s=_connect_timeout_s(settings),
            read_timeout_s=settings.stream_read_timeout_s,
            icy_metadata=settings.icy_metadata,
        )


@dataclass
class StreamInfo:
    """What the server told us about the stream (for logs and diagnostics)."""

    final_url: str = ""
    content_type: str = ""
    icy_name: str | None = None
    codec: str | None = None
    hls: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class _AudioWatch:
    """Fails a connection that delivers bytes but no decoded audio for ``timeout_s``.

    The read timeout only sees a quiet socket: one byte a second, or endless junk as
    ``audio/mpeg``, keeps FFmpeg waiting for a frame, and the stream "starting" for ever.
    """

    def __init__(self, timeout_s: float | None) -> None:
        self.timeout_s = timeout_s
        self.audio = False
        self.failure: StreamFailure | None = None
        self._deadline = time.monotonic() + timeout_s if timeout_s else None

    def fed(self) -> None:
        """A block of audio was decoded: the clock starts again."""
        self.audio = True
        if self.timeout_s:
            self._deadline = time.monotonic() + self.timeout_s

    def check(self) -> None:
        if self._deadline is not None and time.monotonic() > self._deadline:
            # The same text every time, so a stream that keeps starving logs it once.
            when = "for" if self.audio else "within"
            self.failure = StreamFailure(
                "starved",
                f"no audio decoded {when} {self.timeout_s:g} s although the connection is "
                "open (a trickle of bytes, or a body that is not audio)",
            )
            raise self.failure

    def raise_if_failed(self, exc: BaseException) -> None:
        """FFmpeg may turn the failure raised in a read into its own error: undo that."""
        if self.failure is not None:
            raise self.failure from exc


class _Body:
    """Read-only file object over an httpx body iterator (what PyAV reads from)."""

    def __init__(
        self,
        first: bytes,
        chunks: Iterator[bytes],
        stop: threading.Event,
        watch: _AudioWatch,
        content_type: str,
    ) -> None:
        self._buf = bytearray(first)
        self._chunks = chunks
        self._stop = stop
        self._watch = watch
        self._head = bytearray(first[:TEXT_SNIFF])
        self.content_type = content_type
        self.bytes_read = 0

    def read(self, n: int = -1) -> bytes:
        # FFmpeg calls this for every buffer it wants, however few frames come out:
        # the one place that sees a trickle, so the audio deadline is checked here.
        if self._watch.failure is not None:
            return b""  # raised once already; FFmpeg may read again while unwinding
        self._watch.check()
        # Return what has arrived rather than waiting for n bytes: a live stream
        # trickles in, and FFmpeg asks for a whole buffer at a time.
        if not self._buf and not self._stop.is_set():
            chunk = next(self._chunks, None)
            if chunk is not None:
                self._buf += chunk
                self._sniff_text(chunk)
        if n < 0:
            n = len(self._buf)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        self.bytes_read += len(out)
        return out

    def _sniff_text(self, chunk: bytes) -> None:
        # The first chunk may be a single line: look again until enough has arrived.
        if len(self._head) >= TEXT_SNIFF:
            return
        self._head += chunk[: TEXT_SNIFF - len(self._head)]
        if looks_like_text(bytes(self._head)):
            self._watch.failure = text_failure(self.content_type)
            raise self._watch.failure


def capture(
    url: str,
    options: CaptureOptions,
    stop: threading.Event,
    info: StreamInfo | None = None,
    *,
    audio_timeout_s: float | None = None,
    on_title: TitleCallback | None = None,
) -> Iterator[np.ndarray]:
    """Yield mono float32 blocks (``block_s`` long, at ``sample_rate``) until the stream ends.

    Returns normally only when ``stop`` is set; the end of the stream raises
    ``StreamFailure("ended")`` and every other problem a classified
    :class:`StreamFailure`. With ``audio_timeout_s``, a connection that decodes no
    block for that long (from the request on, or since the last block) is
    ``StreamFailure("starved")``. ``on_title(stream_s, event)`` hears each ICY title
    (before the block holding its audio is yielded).
    """
    info = info if info is not None else StreamInfo()
    watch = _AudioWatch(audio_timeout_s)
    timeout = httpx.Timeout(
        options.read_timeout_s, connect=options.connect_timeout_s, pool=options.connect_timeout_s
    )
    icy = "1" if options.icy_metadata else "0"
    headers = {"User-Agent": options.user_agent, "Icy-MetaData": icy}
    titles = TitleClock(on_title)
    try:
        with (
            httpx.Client(follow_redirects=True, timeout=timeout, headers=headers) as http,
            http.stream("GET", url) as resp,
        ):
            info.final_url = str(resp.url)
            info.content_type = resp.headers.get("content-type", "").split(";")[0].strip().lower()
            info.icy_name = resp.headers.get("icy-name")
            check_status(resp)
            chunks = resp.iter_bytes()
            metaint = metaint_of(resp.headers.get("icy-metaint"))
            if metaint is not None:  # whether asked or not: never decode a metadata byte
                chunks = strip_icy(chunks, metaint, titles)
            first = next(chunks, b"")
            if not first:
                raise StreamFailure("ended", "stream ended before any data")
            kind = sniff(info.content_type, first, info.final_url)
            if kind == "hls":
                info.hls = True
                resp.close()
                yield from _decode_hls(info.final_url, options, stop, info, watch, titles)
                return
            body = _Body(first, chunks, stop, watch, info.content_type)
            fmt = _FORMAT_BY_TYPE.get(info.content_type)
            yield from _decode(body, fmt, options, stop, info, watch, titles=titles)
    except httpx.TimeoutException as exc:
        if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
            raise StreamFailure(
                "connect", f"connect timeout after {options.connect_timeout_s:g} s"
            ) from exc
        raise StreamFailure(
            "stall", f"stream stalled: no data for {options.read_timeout_s:g} s (read timeout)"
        ) from exc
    except httpx.TransportError as exc:
        raise StreamFailure("connect", f"connection failed: {type(exc).__name__}: {exc}") from exc
    except httpx.InvalidURL as exc:
        raise StreamFailure("not_found", f"invalid URL: {exc}") from exc
    except httpx.TooManyRedirects as exc:
        # Not a transport error: left alone it surfaced as "internal error" with a
        # traceback on every retry. A loop is the server's configuration: permanent.
        raise StreamFailure("redirects", f"too many redirects (a redirect loop?): {exc}") from exc


def _decode(
    source: Any,
    fmt: str | None,
    options: CaptureOptions,
    stop: threading.Event,
    info: StreamInfo,
    watch: _AudioWatch,
    container_options: dict[str, str] | None = None,
    *,
    titles: TitleClock | None = None,
) -> Iterator[np.ndarray]:
    opts = {"probesize": "65536", "analyzeduration": "500000", **(container_options or {})}
    try:
        container = av.open(source, mode="r", format=fmt, options=opts)
    except StreamFailure:
        raise
    except (av.error.InvalidDataError, av.error.EOFError) as exc:
        watch.raise_if_failed(exc)
        reason = getattr(exc, "strerror", None) or str(exc)
        raise StreamFailure("not_audio", f"not audio: FFmpeg found no audio ({reason})") from exc
    except av.error.HTTPNotFoundError as exc:
        raise StreamFailure("not_found", "HTTP 404 Not Found") from exc
    except av.error.FFmpegError as exc:
        watch.raise_if_failed(exc)
        raise ffmpeg_failure(exc) from exc
    try:
        if not container.streams.audio:
            raise StreamFailure("not_audio", "not audio: the stream has no audio track")
        stream = container.streams.audio[0]
        info.codec = stream.codec_context.name
        resampler = av.AudioResampler(format="flt", layout="mono", rate=options.sample_rate)
        block = max(1, round(options.block_s * options.sample_rate))
        pending: list[np.ndarray] = []
        have = 0
        done = 0  # samples yielded: with ``have``, the stream time of the next packet
        bad = 0
        try:
            id3s = [s for s in container.streams.data if s.name == "timed_id3"]
            for pos, frame, tag in _frames(container, stream, id3s):
                watch.check()
                if titles is not None:
                    if tag is not None:  # HLS timed ID3: pts-timed, not byte-timed
                        titles.timed_tag(tag[0], tag[1], (done + have) / options.sample_rate)
                        continue
                    titles.reached(pos, (done + have) / options.sample_rate)
                    if frame is not None:
                        titles.audio_pts(frame.time)
                elif tag is not None:
                    continue
                if frame is None:  # a corrupt packet: radio streams have them; skip a few
                    bad += 1
                    if bad > _MAX_BAD_PACKETS:
                        raise StreamFailure(
                            "decode", f"corrupt audio: {bad} undecodable packets in a row"
                        )
                    continue
                bad = 0
                for out in resampler.resample(frame):
                    arr = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                    pending.append(arr)
                    have += arr.size
                while have >= block:
                    joined = np.concatenate(pending)
                    yield joined[:block]
                    done += block
                    watch.fed()  # after the yield: the consumer's time is not the stream's
                    rest = joined[block:]
                    pending, have = [rest], rest.size
                if stop.is_set():
                    return
        except StreamFailure:
            raise
        except av.error.FFmpegError as exc:
            if stop.is_set():
                return
            watch.raise_if_failed(exc)
            raise ffmpeg_failure(exc) from exc
        if stop.is_set():
            return
        if have:
            yield np.concatenate(pending)
        if watch.failure is not None:  # the read that failed ended the demuxer quietly
            raise watch.failure
        raise StreamFailure("ended", "stream ended (server closed the connection)")
    finally:
        container.close()


def _frames(
    container: Any, stream: Any, id3s: list[Any]
) -> Iterator[tuple[int | None, Any, tuple[bytes, float | None] | None]]:
    """(byte position of the packet, decoded frame, None) of ``stream``, frame None for
    each packet the decoder refused; (None, None, (tag, pts s)) for a timed ID3 packet."""
    for packet in container.demux(stream, *id3s):
        if packet.stream is not stream:
            if packet.size:
                pts = float(packet.pts * packet.time_base) if packet.pts is not None else None
                yield None, None, (bytes(packet), pts)
            continue
        pos = packet.pos if packet.pos is not None and packet.pos >= 0 else None
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            yield pos, None, None
            continue
        for frame in frames:
            yield pos, frame, None


def _decode_hls(
    url: str,
    options: CaptureOptions,
    stop: threading.Event,
    info: StreamInfo,
    watch: _AudioWatch,
    titles: TitleClock | None = None,
) -> Iterator[np.ndarray]:
    rw = str(int(options.read_timeout_s * 1_000_000))
    yield from _decode(
        url,
        "hls",
        options,
        stop,
        info,
        watch,
        {"rw_timeout": rw, "user_agent": options.user_agent, "probesize": "500000"},
        titles=titles,
    )
