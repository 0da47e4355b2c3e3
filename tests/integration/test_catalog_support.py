"""Generated audio for the catalog tests (real songs from ``airtrack.demo``, real encoders).

Catalog songs are the demo catalog's songs (seeds that do not resemble each other); the
"other" songs are never in the catalog.  Everything is rendered at 22.05 kHz and encoded
with PyAV, so the tests exercise the real decoders.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from airtrack.demo.catalog import AudioFormat, demo_catalog, encode_audio, other_song
from airtrack.demo.music import render_song

SR = 22050
F32 = npt.NDArray[np.float32]


@lru_cache(maxsize=16)
def catalog_song(i: int, seconds: float) -> F32:
    audio = render_song(demo_catalog(i + 1)[i].seed, seconds, SR)
    audio.flags.writeable = False
    return audio


@lru_cache(maxsize=4)
def other(i: int, seconds: float) -> F32:
    audio = render_song(other_song(i).seed, seconds, SR)
    audio.flags.writeable = False
    return audio


def write(
    path: Path, audio: F32, fmt: AudioFormat | None = None, *, title: str = "", artist: str = ""
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    kind: AudioFormat = fmt or path.suffix.lstrip(".")  # type: ignore[assignment]
    return encode_audio(path, np.asarray(audio), SR, kind, title=title, artist=artist)


def crossfade(parts: list[F32], fade_s: float, lead_s: float = 1.0) -> tuple[F32, list[float]]:
    """Parts mixed back to back, each overlapping the previous by ``fade_s`` (linear fades);
    returns the mix and each part's start (seconds)."""
    fade = int(fade_s * SR)
    starts: list[int] = []
    pos = int(lead_s * SR)
    for part in parts:
        starts.append(pos)
        pos += len(part) - fade
    mix = np.zeros(pos + fade + SR, np.float32)
    ramp_in = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    for start, part in zip(starts, parts, strict=True):
        p = np.array(part, dtype=np.float32)
        p[:fade] *= ramp_in
        p[-fade:] *= ramp_in[::-1]
        mix[start : start + len(p)] += p
    return mix * np.float32(0.8), [s / SR for s in starts]
