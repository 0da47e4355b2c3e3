"""Why a stream connection failed: every way a server can go wrong, as one failure kind.

:func:`check_status` (an HTTP status), :func:`sniff` (a playlist, an HTML page, text
served as audio), :func:`ffmpeg_failure` (what the decoder said) turn what happened
into a :class:`StreamFailure`; ``permanent`` kinds need an operator, the others are
retried by the stream's pipeline.
"""

from __future__ import annotations

from typing import Literal

import av
import httpx

from airtrack.errors import AudioError

FailureKind = Literal[
    "http_status",
    "not_found",
    "html",
    "not_audio",
    "stall",
    "connect",
    "ended",
    "silence",
    "decode",
    "starved",
    "redirects",
]

_PERMANENT: frozenset[str] = frozenset({"not_found", "html", "not_audio", "silence", "redirects"})


class StreamFailure(AudioError):
    """Why a stream connection failed or ended; ``permanent`` ones need an operator."""

    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.permanent = kind in _PERMANENT


_HLS_TYPES = ("mpegurl", "vnd.apple.mpegurl")


def check_status(resp: httpx.Response) -> None:
    code = resp.status_code
    if code < 400:
        return
    reason = resp.reason_phrase or ""
    if code in (404, 410):
        raise StreamFailure("not_found", f"HTTP {code} {reason}".strip())
    if code in (401, 403):
        raise StreamFailure("not_found", f"HTTP {code} {reason} (access refused)".strip())
    raise StreamFailure("http_status", f"HTTP {code} {reason}".strip())


def sniff(content_type: str, first: bytes, url: str) -> Literal["hls", "audio"]:
    head = first[:512].lstrip().lower()
    if head.startswith(b"#extm3u") or any(t in content_type for t in _HLS_TYPES):
        return "hls"
    if (
        content_type in ("text/html", "application/xhtml+xml")
        or head.startswith(b"<!doctype html")
        or head.startswith(b"<html")
    ):
        raise StreamFailure(
            "html", f"not audio: the server sent an HTML page (Content-Type {content_type or '?'})"
        )
    if content_type.startswith(("text/", "application/json")):
        raise StreamFailure("not_audio", f"not audio: Content-Type {content_type}")
    if looks_like_text(first):
        raise text_failure(content_type)
    return "audio"


def text_failure(content_type: str) -> StreamFailure:
    return StreamFailure(
        "not_audio",
        f"not audio: the body is text although its Content-Type is {content_type or '?'}",
    )


#: Bytes of plain text (printable ASCII and line breaks); every audio container starts
#: with a binary header or frame sync (ID3, 0xFF.., OggS\0, fLaC\0, RIFF + size).
_TEXT_BYTES = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0D}
TEXT_SNIFF = 64  # bytes looked at before a body is judged text


def looks_like_text(first: bytes) -> bool:
    """True when the first bytes are plain text; too few bytes to tell is not text."""
    head = first[:512]
    return len(head) >= TEXT_SNIFF and all(b in _TEXT_BYTES for b in head)


def ffmpeg_failure(exc: Exception) -> StreamFailure:
    msg = str(exc)
    if isinstance(exc, TimeoutError) or "timed out" in msg.lower():
        return StreamFailure("stall", f"stream stalled: {msg}")
    if isinstance(exc, av.error.HTTPNotFoundError):
        return StreamFailure("not_found", "HTTP 404 Not Found")
    if isinstance(exc, av.error.InvalidDataError):
        return StreamFailure("decode", f"corrupt audio data: {msg}")
    return StreamFailure("decode", f"decoder error: {msg}")
