"""The demo catalog: named songs generated from seeds, written as tagged audio files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np

from airtrack.demo.synth import Audio

AudioFormat = Literal["mp3", "ogg", "flac", "wav"]

# codec, container format, sample format, sample rate (None = keep)
_ENCODERS: dict[str, tuple[str, str, str, int | None]] = {
    "mp3": ("libmp3lame", "mp3", "s16p", None),
    "ogg": ("libopus", "ogg", "flt", 48000),
    "flac": ("flac", "flac", "s16", None),
    "wav": ("pcm_s16le", "wav", "s16", None),
}

_ADJECTIVES = [
    "Silver",
    "Midnight",
    "Electric",
    "Golden",
    "Quiet",
    "Broken",
    "Neon",
    "Distant",
    "Paper",
    "Velvet",
    "Crimson",
    "Hollow",
    "Wild",
    "Frozen",
    "Lazy",
    "Burning",
    "Secret",
    "Blue",
]
_NOUNS = [
    "River",
    "Highway",
    "Garden",
    "Signal",
    "Harbour",
    "Summer",
    "Mirror",
    "Lantern",
    "Orbit",
    "Avenue",
    "Meadow",
    "Engine",
    "Skyline",
    "Tide",
    "Echo",
    "Parade",
    "Window",
    "Compass",
]
_ARTISTS = [
    "The Static Pines",
    "Mara Lindqvist",
    "Low Orbit Club",
    "Dario Festa",
    "Paper Lanterns",
    "Kite & Kettle",
    "June Okafor",
    "The Night Ferry",
    "Ostrava Sound",
    "Ines Calder",
    "Hollow Creek Band",
    "Yuki Tamura",
    "The Radiowaves",
    "Felix Moreau",
    "Saltwater Choir",
]

# Seeds of catalog songs and of songs that are deliberately NOT in the catalog never meet.
CATALOG_SEED_BASE = 1_000
OTHER_SEED_BASE = 50_000_000


@dataclass(frozen=True)
class SongSpec:
    """One demo song: ``name`` is its stable id and file stem; audio comes from ``seed``."""

    name: str
    title: str
    artist: str
    seed: int
    duration_s: float
    path: str | None = None  # a user's file (``airtrack demo --music DIR``) instead of a seed

    def render(self, sr: int = 22050) -> Audio:
        if self.path is not None:
            return decode_file(self.path, sr)
        from airtrack.demo.music import render_song

        return render_song(self.seed, self.duration_s, sr)


def decode_file(path: str, sr: int) -> Audio:
    """A whole (song-length) file as mono float32 at ``sr``."""
    from airtrack.fingerprint.decode import decode

    blocks = list(decode(path, rate=sr, block_s=30.0))
    return np.concatenate(blocks).astype(np.float32) if blocks else np.zeros(0, np.float32)


AUDIO_SUFFIXES = (".mp3", ".ogg", ".opus", ".flac", ".wav", ".m4a", ".aac")


def music_catalog(folder: Path | str) -> list[SongSpec]:
    """Songs from a user's folder (recursive), for stations that play real music.

    Names are ``file-NNN`` in path order; title and artist come from the tags, else
    from the file name. Files that cannot be read are skipped.
    """
    from airtrack.fingerprint.decode import probe_duration, read_tags

    specs = []
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    for i, p in enumerate(files):
        try:
            duration = probe_duration(p)
            title, artist = read_tags(p)
        except Exception:  # unreadable: the catalog add reports it; the station skips it
            continue
        if not duration or duration < 20:
            continue
        specs.append(SongSpec(f"file-{i:03d}", title or p.stem, artist or "", i, duration, str(p)))
    return specs


def song_spec(seed: int, name: str, duration_s: float) -> SongSpec:
    """A song with a title and artist drawn from its seed."""
    rng = np.random.default_rng([seed, 0x4E_41_4D_45])
    title = f"{_ADJECTIVES[rng.integers(len(_ADJECTIVES))]} {_NOUNS[rng.integers(len(_NOUNS))]}"
    artist = _ARTISTS[int(rng.integers(len(_ARTISTS)))]
    return SongSpec(name=name, title=title, artist=artist, seed=seed, duration_s=duration_s)


def demo_catalog(n: int, *, min_s: float = 90.0, max_s: float = 150.0) -> list[SongSpec]:
    """The first ``n`` demo catalog songs (the same list every time; a prefix of longer lists)."""
    specs = []
    for i in range(n):
        seed = CATALOG_SEED_BASE + i
        rng = np.random.default_rng([seed, 0x44_55_52])
        duration = round(float(rng.uniform(min_s, max_s)), 1)
        specs.append(song_spec(seed, f"demo-{i + 1:03d}", duration))
    return specs


def other_song(index: int, *, min_s: float = 60.0, max_s: float = 150.0) -> SongSpec:
    """The ``index``-th song that is not in the demo catalog (for stations to play)."""
    seed = OTHER_SEED_BASE + index
    rng = np.random.default_rng([seed, 0x44_55_52])
    return song_spec(seed, f"other-{index:06d}", round(float(rng.uniform(min_s, max_s)), 1))


def encode_audio(
    path: Path,
    audio: Audio,
    sr: int,
    fmt: AudioFormat,
    *,
    title: str = "",
    artist: str = "",
    bitrate: int = 128_000,
) -> Path:
    """Write mono float audio to ``path`` with PyAV, with title/artist tags."""
    codec, container_fmt, sample_fmt, out_rate = _ENCODERS[fmt]
    rate = out_rate or sr
    tags = {k: v for k, v in (("title", title), ("artist", artist)) if v}
    with av.open(str(path), "w", format=container_fmt) as out:
        out.metadata.update(tags)
        stream: Any = out.add_stream(codec, rate=rate, layout="mono")
        stream.format = sample_fmt
        if fmt in ("mp3", "ogg"):
            stream.bit_rate = bitrate
        stream.metadata.update(tags)
        resampler = av.AudioResampler(format=sample_fmt, layout="mono", rate=rate)
        pcm = np.clip(audio, -1.0, 1.0).astype(np.float32)
        hop = 1 << 15
        for i in range(0, len(pcm), hop):
            frame = av.AudioFrame.from_ndarray(pcm[None, i : i + hop], format="flt", layout="mono")
            frame.sample_rate = sr
            for f in resampler.resample(frame):
                out.mux(stream.encode(f))
        for f in resampler.resample(None):
            out.mux(stream.encode(f))
        out.mux(stream.encode(None))
    return path


def write_catalog(
    directory: Path | str, n: int, fmt: AudioFormat = "mp3", sr: int = 22050
) -> list[Path]:
    """Render the first ``n`` demo songs into ``directory`` as tagged ``fmt`` files."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in demo_catalog(n):
        path = folder / f"{spec.name}.{fmt}"
        encode_audio(path, spec.render(sr), sr, fmt, title=spec.title, artist=spec.artist)
        paths.append(path)
    return paths
