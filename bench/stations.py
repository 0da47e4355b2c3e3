"""Benchmark material: a catalog cut from real Debian music and radio-like station recordings.

Real songs: fb-music-high (3 long tracks) and hyperrogue-music (14 readable tracks; 3 files of
that package are corrupt).  That is fewer than 20 songs, so the long tracks are cut into
distinct segments, each treated as its own catalog song.  Non-catalog material: 3 held-out
hyperrogue tracks, time-reversed catalog songs, a pitch-shifted "cover", jingles and speech.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bench import _audio as A

DATA = Path(__file__).resolve().parent / "data"
HR = A.MUSIC["hyperrogue-music"]
FB = A.MUSIC["fb-music-high"]
HELD_OUT = ("hr3-crossroads", "hr3-caves", "hr-domina-hunting")
FULL = ("hr-domina-mountain", "hr-savino-palace", "hr3-desert", "hr3-icyland", "hr3-jungle",
        "hr3-laboratory", "hr3-mirror", "hr3-motion", "hr3-hell", "hr3-rlyeh")  # fmt: skip
FB_FULL = ("frozen-mainzik-1p", "frozen-mainzik-2p", "introzik")
# Segments of one track count as distinct songs only when they share no material: the
# frozen-bubble tracks, introzik, hell and rlyeh repeat whole sections (checked by scanning
# each segment against the others), graveyard does not.
SPLIT = {HR / "hr3-graveyard.ogg": 2}
# Still short of 20: a few tracks transposed a fifth up (sox pitch +700 cents, same tempo)
# are added as distinct catalog "songs" — augmented material, said so in the output.
TRANSPOSED = ("hr-savino-palace", "hr3-icyland", "hr3-laboratory", "hr3-mirror", "hr3-jungle")
DJ_LINES = [
    "You are listening to airtrack radio, the best music all day long.",
    "That was a great one. Coming up next, something for the afternoon drive.",
    "Traffic is slow on the ring road this morning, take care out there.",
    "Call us now and win two tickets for the concert on Saturday night.",
    "The weather today: sunny spells, a light breeze, twenty two degrees.",
    "Stay tuned, the news is at the top of the hour, right after this song.",
]


@dataclass(frozen=True)
class Song:
    name: str
    path: str  # catalog file (flac) or source file
    catalog: bool


@dataclass(frozen=True)
class Airing:
    name: str  # song name; "" for speech/jingle
    catalog: bool
    start: float
    end: float
    offset: float  # seconds into the song at start
    speed: float
    kind: str  # song | speech | jingle


@dataclass(frozen=True)
class StationSpec:
    name: str
    minutes: float
    bitrate_k: int
    snr_db: float
    speed_range: tuple[float, float]  # |speed - 1| drawn from this range, sign random
    talk_prob: float
    seed: int


STATIONS = [
    StationSpec("A-fm128", 25, 128, 25.0, (0.0, 0.0), 0.3, 11),
    StationSpec("B-am64", 25, 64, 12.0, (0.0, 0.0), 0.4, 12),
    StationSpec("C-talk96", 25, 96, 10.0, (0.0, 0.0), 0.7, 13),
    StationSpec("D-speed96", 25, 96, 18.0, (0.02, 0.03), 0.4, 14),
]


def catalog_songs() -> list[Song]:
    """Cut/copy the catalog songs into bench/data/catalog (flac); cached."""
    out = DATA / "catalog"
    out.mkdir(parents=True, exist_ok=True)
    songs = [Song(n, str(HR / f"{n}.ogg"), True) for n in FULL]
    songs += [Song(n, str(FB / f"{n}.ogg"), True) for n in FB_FULL]
    for n in TRANSPOSED:
        dst = out / f"{n}-fifth-up.flac"
        if not dst.exists():
            subprocess.run(["sox", str(HR / f"{n}.ogg"), str(dst), "pitch", "700"], check=True)
        songs.append(Song(dst.stem, str(dst), True))
    for src, parts in SPLIT.items():
        x = A.load(src)
        seg = x.shape[0] // parts
        for i in range(parts):
            dst = out / f"{src.stem}-part{i + 1}.flac"
            if not dst.exists():
                wav = out / "_seg.wav"
                A.write_wav(wav, x[i * seg : (i + 1) * seg])
                A.encode(wav, dst)
                wav.unlink()
            songs.append(Song(dst.stem, str(dst), True))
    return songs


def other_songs() -> list[Song]:
    return [Song(n, str(HR / f"{n}.ogg"), False) for n in HELD_OUT]


def _normalise(x: A.Audio, target: float = 0.1) -> A.Audio:
    return (x * (target / A.rms(x))).astype(np.float32)


def build_station(spec: StationSpec, quick: bool = False) -> tuple[Path, list[Airing]]:
    """Mix, process and MP3-encode one station; returns (mp3 path, ground truth)."""
    minutes = 5.0 if quick else spec.minutes
    tag = f"{spec.name}-{minutes:g}min"
    mp3, truth_path = DATA / f"{tag}.mp3", DATA / f"{tag}.json"
    if mp3.exists() and truth_path.exists():
        return mp3, [Airing(**a) for a in json.loads(truth_path.read_text())]
    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    rate = A.RATE
    cat = [(s, _normalise(A.load(s.path))) for s in catalog_songs()]
    others = [(s, _normalise(A.load(s.path))) for s in other_songs()]
    # non-catalog variants of catalog songs: reversed, and a cover a minor third up
    others += [(Song(s.name + "-reversed", "", False), x[::-1].copy()) for s, x in cat[1:3]]
    others.append((Song(cat[4][0].name + "-cover", "", False), A.pitch_shift(cat[4][1], 300, DATA)))
    total = int(minutes * 60 * rate)
    mix = np.zeros(total + 200 * rate, np.float32)
    truth: list[Airing] = []
    t = 2.0
    prev_end = 0.0
    last_cat = -1
    while t < minutes * 60 - 20:
        roll = rng.random()
        if roll < 0.08:  # jingle: a chirp and a station id over it
            jingle = np.sin(2 * np.pi * np.cumsum(np.linspace(400, 1600, 2 * rate)) / rate)
            voice = A.speech("airtrack radio!", DATA, "en+f3", 180)
            n = max(jingle.shape[0], voice.shape[0])
            j = np.zeros(n, np.float32)
            j[: jingle.shape[0]] += 0.08 * jingle.astype(np.float32)
            j[: voice.shape[0]] += _normalise(voice, 0.1)
            i0 = int(t * rate)
            mix[i0 : i0 + n] += j
            truth.append(Airing("", False, t, t + n / rate, 0.0, 1.0, "jingle"))
            t += n / rate + 0.5
            prev_end = t
            continue
        catalog = roll < 0.78
        if catalog:
            choices = [i for i in range(len(cat)) if i != last_cat]
            ci = int(rng.choice(choices))
            last_cat = ci
            song, x = cat[ci]
        else:
            song, x = others[int(rng.integers(len(others)))]
        lo, hi = spec.speed_range
        speed = 1.0 + (float(rng.uniform(lo, hi) * rng.choice([-1, 1])) if hi > 0 else 0.0)
        offset = 0.0
        if rng.random() < 0.3 and x.shape[0] / rate > 60:
            offset = float(rng.uniform(20, min(60, x.shape[0] / rate / 2)))
        piece = x[int(offset * rate) :]
        piece = piece[: int(rng.uniform(70, 150) * rate)]
        if speed != 1.0:
            piece = A.change_speed(piece, speed)
        piece = piece.copy()
        talk = rng.random() < spec.talk_prob
        if talk:  # DJ between songs, or over the intro (music ducked under the voice)
            voice = _normalise(A.speech(str(rng.choice(DJ_LINES)), DATA), 0.1)
            v0 = max(t, prev_end)
            mix[int(v0 * rate) : int(v0 * rate) + voice.shape[0]] += voice
            truth.append(Airing("", False, v0, v0 + voice.shape[0] / rate, 0.0, 1.0, "speech"))
            if rng.random() < 0.5:
                start = v0 + 0.5
                duck = np.ones(piece.shape[0], np.float32)
                duck[: voice.shape[0]] = 0.35
                piece *= duck
            else:
                start = v0 + voice.shape[0] / rate + 0.3
        else:  # crossfade 2–3 s into the previous song's tail
            start = max(2.0, prev_end - float(rng.uniform(2.0, 3.0)))
        fade = int(2.5 * rate)
        ramp = np.linspace(0, 1, fade, dtype=np.float32)
        piece[:fade] *= ramp
        piece[-fade:] *= ramp[::-1]
        i0 = int(start * rate)
        if i0 + piece.shape[0] > mix.shape[0]:
            break
        mix[i0 : i0 + piece.shape[0]] += piece
        end = start + piece.shape[0] / rate
        truth.append(Airing(song.name, catalog, start, end, offset, speed, "song"))
        prev_end = end
        t = end
        if rng.random() < 0.1:  # a moment of dead air
            t += 2.0
            prev_end = t
    mix = mix[: int(min(prev_end + 1, mix.shape[0] / rate) * rate)]
    mix = A.compress(mix)
    mix = A.add_noise(mix, spec.snr_db, rng)
    wav = DATA / f"{tag}.wav"
    A.write_wav(wav, mix * 0.7)
    A.encode(wav, mp3, spec.bitrate_k)
    wav.unlink()
    truth_path.write_text(json.dumps([asdict(a) for a in truth], indent=1))
    return mp3, truth


def ffprobe_duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(out.stdout.strip())
