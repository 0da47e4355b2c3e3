"""Benchmark material: a catalog cut from real Debian music and radio-like station recordings.

Real songs: fb-music-high (3 long tracks) and hyperrogue-music (14 readable tracks; 3 files of
that package are corrupt).  That is fewer than 20 songs, so the long tracks are cut into
distinct segments, each treated as its own catalog song.  Non-catalog material: 3 held-out
hyperrogue tracks, time-reversed catalog songs, a pitch-shifted "cover", jingles and speech.

Short catalog items: six 10–30 s "ads"/station IDs, each a held-out track's
excerpt transposed away from it (so it cannot match that track's airings) under a synthetic
voice.  Station E airs the royalty cases: back-to-back repeats, DJ rewinds, radio edits that
jump forward, songs cut short, talk over a fading outro, and the short items alone or under
talk (one 30-s ad three times).

Every airing's ``audible_end`` is where the item falls below the other audio: the last
0.25-s frame whose 1-s RMS of the item alone is at least that of everything else on air
(the other items, speech, and the station's noise floor).  Every engine is scored against it.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass, replace
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
    kind: str  # song | speech | jingle | ad (a short catalog item)
    audible_end: float = -1.0  # where it falls below the other audio (see module doc)


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
    StationSpec("E-edits96", 25, 96, 18.0, (0.0, 0.0), 0.5, 15),
]
AD_LINES = [
    "Fresh bread every morning at the corner bakery. Open seven days.",
    "Airtrack radio. Your station.",
    "Need a new car? Visit the big garage on the north road this weekend.",
    "Save twenty percent on all garden furniture, this week only, at home and yard.",
    "Airtrack radio. Number one for music.",
    "The city library is open late on Thursdays. Books, films and free wifi for all.",
]
#: (duration s, held-out bed, bed offset s, transposition cents) per short item
SHORT = [(10, 0, 5, 500), (15, 1, 10, -400), (20, 2, 15, 500), (30, 0, 15, -400),
         (12, 1, 40, 500), (25, 2, 40, -400)]  # fmt: skip


def catalog_songs() -> list[Song]:
    """Every catalog item: the songs, then the short items."""
    return song_catalog() + short_items()


def song_catalog() -> list[Song]:
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


def short_items() -> list[Song]:
    """The 10–30 s catalog items (ads, station IDs): a transposed held-out excerpt + voice."""
    out = DATA / "catalog"
    out.mkdir(parents=True, exist_ok=True)
    items = []
    for i, (dur, bed, off, cents) in enumerate(SHORT):
        dst = out / f"ad{i + 1}-{dur}s.flac"
        if not dst.exists():
            x = A.load(HR / f"{HELD_OUT[bed]}.ogg")[int(off * A.RATE) : int((off + dur) * A.RATE)]
            x = _normalise(A.pitch_shift(x, cents, DATA), 0.06)[: dur * A.RATE]
            voice = _normalise(A.speech(AD_LINES[i], DATA, "en+m3", 170), 0.1)
            voice = voice[: x.shape[0] - A.RATE // 2]
            x[A.RATE // 4 : A.RATE // 4 + voice.shape[0]] += voice
            ramp = np.linspace(0, 1, A.RATE // 5, dtype=np.float32)
            x[: ramp.shape[0]] *= ramp
            x[-ramp.shape[0] :] *= ramp[::-1]
            wav = out / "_ad.wav"
            A.write_wav(wav, x)
            A.encode(wav, dst)
            wav.unlink()
        items.append(Song(dst.stem, str(dst), True))
    return items


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
    if spec.name.startswith("E-"):
        mix, truth, parts = _edits_programme(minutes, rng)
    else:
        mix, truth, parts = _music_programme(spec, minutes, rng)
    noise_floor = A.rms(mix) / 10 ** (spec.snr_db / 20)
    truth = [
        replace(a, audible_end=_audible_end(mix, parts[i], noise_floor) if i in parts else a.end)
        for i, a in enumerate(truth)
    ]
    mix = A.compress(mix)
    mix = A.add_noise(mix, spec.snr_db, rng)
    wav = DATA / f"{tag}.wav"
    A.write_wav(wav, mix * 0.7)
    A.encode(wav, mp3, spec.bitrate_k)
    wav.unlink()
    truth_path.write_text(json.dumps([asdict(a) for a in truth], indent=1))
    return mp3, truth


Parts = dict[int, tuple[int, A.Audio]]  # truth index -> (first sample, the item's own signal)


def _audible_end(mix: A.Audio, part: tuple[int, A.Audio], floor: float) -> float:
    """Where the item falls below the other audio (1-s RMS, 0.25-s frames; module doc)."""
    i0, own = part
    rest = mix[i0 : i0 + own.shape[0]] - own
    hop, win = A.RATE // 4, A.RATE
    n = max(1, (own.shape[0] - win) // hop + 1)
    own_rms = np.array([A.rms(own[j * hop : j * hop + win]) for j in range(n)])
    rest_rms = np.array([A.rms(rest[j * hop : j * hop + win]) for j in range(n)])
    loud = np.flatnonzero(own_rms >= np.maximum(rest_rms, floor))
    if loud.size == 0:
        return (i0 + own.shape[0]) / A.RATE
    return (i0 + int(loud[-1]) * hop + win / 2 + hop / 2) / A.RATE


def _music_programme(
    spec: StationSpec, minutes: float, rng: np.random.Generator
) -> tuple[A.Audio, list[Airing], Parts]:
    """Stations A-D: songs, jingles and DJ speech, as first generated."""
    rate = A.RATE
    parts: Parts = {}
    cat = [(s, _normalise(A.load(s.path))) for s in song_catalog()]
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
            parts[len(truth)] = (i0, j)
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
            parts[len(truth)] = (int(v0 * rate), voice)
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
        parts[len(truth)] = (i0, piece)
        truth.append(Airing(song.name, catalog, start, end, offset, speed, "song"))
        prev_end = end
        t = end
        if rng.random() < 0.1:  # a moment of dead air
            t += 2.0
            prev_end = t
    mix = mix[: int(min(prev_end + 1, mix.shape[0] / rate) * rate)]
    return mix, truth, parts


def _edits_programme(
    minutes: float, rng: np.random.Generator
) -> tuple[A.Audio, list[Airing], Parts]:
    """Station E: the royalty cases one after another, short items between.

    A back-to-back repeat and a DJ rewind are two airings; a radio edit that jumps forward
    is one airing; a song cut short (hard cut to talk or dead air) ends at the cut; talk
    over a song's outro fades the song out under the voice.  Short items air alone or under
    talk; the 30-s ad airs three times.
    """
    rate = A.RATE
    songs = [(s, _normalise(A.load(s.path))) for s in song_catalog()]
    songs = [(s, x) for s, x in songs if x.shape[0] > 150 * rate]
    shorts = [(s, _normalise(A.load(s.path))) for s in short_items()]
    mix = np.zeros(int((minutes * 60 + 200) * rate), np.float32)
    truth: list[Airing] = []
    parts: Parts = {}

    def put(name: str, catalog: bool, kind: str, at: float, sig: A.Audio, offset: float = 0.0
            ) -> float:  # fmt: skip
        i0 = int(at * rate)
        mix[i0 : i0 + sig.shape[0]] += sig
        end = at + sig.shape[0] / rate
        if kind in ("song", "ad"):
            parts[len(truth)] = (i0, sig)
        truth.append(Airing(name, catalog, at, end, offset, 1.0, kind))
        return end

    def cut(x: A.Audio, a: float, b: float, fade_in: float = 2.5, fade_out: float = 2.5
            ) -> A.Audio:  # fmt: skip
        y = x[int(a * rate) : int(b * rate)].copy()
        for n, sl in ((int(fade_in * rate), slice(None, None)), (int(fade_out * rate), None)):
            if n <= 0:
                continue
            ramp = np.linspace(0, 1, n, dtype=np.float32)
            if sl is not None:
                y[:n] *= ramp
            else:
                y[-n:] *= ramp[::-1]
        return y

    def voice_at(at: float, level: float = 0.1) -> float:
        v = _normalise(A.speech(str(rng.choice(DJ_LINES)), DATA), level)
        i0 = int(at * rate)
        mix[i0 : i0 + v.shape[0]] += v
        truth.append(Airing("", False, at, at + v.shape[0] / rate, 0.0, 1.0, "speech"))
        parts[len(truth) - 1] = (i0, v)
        return at + v.shape[0] / rate

    scenarios = ["repeat", "rewind", "edit", "cut", "outro", "plain"]
    t, block, ad30 = 2.0, 0, 3
    last = -1
    while t < minutes * 60 - 200:
        kind = scenarios[block % len(scenarios)]
        si = int(rng.choice([i for i in range(len(songs)) if i != last]))
        last = si
        song, x = songs[si]
        dur = x.shape[0] / rate
        if kind == "repeat":  # the same song again from its start, right after itself
            n1 = float(rng.uniform(60, 90))
            t = put(song.name, True, "song", t, cut(x, 0, n1)) - 2.0
            t = put(song.name, True, "song", t, cut(x, 0, float(rng.uniform(50, 80))))
        elif kind == "rewind":  # DJ cuts and restarts it from an earlier point
            o1 = float(rng.uniform(10, 40))
            n1 = float(rng.uniform(40, 60))
            t = put(song.name, True, "song", t, cut(x, o1, o1 + n1, fade_out=0.02), o1)
            o2 = o1 + float(rng.uniform(5, n1 - 20))
            t = put(song.name, True, "song", t, cut(x, o2, o2 + 60, fade_in=0.02), o2)
        elif kind == "edit":  # a radio edit: one airing that jumps forward inside the song
            a = float(rng.uniform(35, 55))
            b = a + float(rng.uniform(25, min(60, dur - a - 60)))
            first = cut(x, 0, a, fade_out=0.05)
            second = cut(x, b, b + float(rng.uniform(40, 55)), fade_in=0.05)
            put(song.name, True, "song", t, np.concatenate([first, second]))
            t = truth[-1].end
        elif kind == "cut":  # the station cuts away: dead air (an outage) or talk at once
            o = float(rng.choice([0.0, float(rng.uniform(20, 60))]))
            t = put(song.name, True, "song", t, cut(x, o, o + float(rng.uniform(25, 45)),
                                                    fade_out=0.02), o)  # fmt: skip
            if rng.random() < 0.5:
                t += 3.0
            else:
                t = voice_at(t)
        elif kind == "outro":  # DJ talks over the outro; the song fades out under the voice
            y = cut(x, 0, float(rng.uniform(70, 110)), fade_out=0.0)
            v = _normalise(A.speech(str(rng.choice(DJ_LINES)), DATA), 0.1)
            nv = v.shape[0]
            y[-nv:] *= np.linspace(1, 0, nv, dtype=np.float32)
            end = put(song.name, True, "song", t, y)
            t = voice_at(end - nv / rate)
        else:  # plain, crossfaded into what follows
            o = float(rng.choice([0.0, float(rng.uniform(20, 60))]))
            t = put(song.name, True, "song", t, cut(x, o, o + float(rng.uniform(70, 110))), o)
            t -= 2.0
        # short items after each block: alone, or under talk (the DJ over the ad's bed)
        for j in range(int(rng.integers(1, 3))):
            others = [i for i in range(len(shorts)) if i != ad30]
            k = ad30 if j == 0 and block in (1, 4, 7) else int(rng.choice(others))
            item, y = shorts[k]
            t += 0.5
            if rng.random() < 0.4:
                voice_at(t + 1.0, 0.05)
                t = put(item.name, True, "ad", t, y)
                t = max(t, truth[-2].end)
            else:
                t = put(item.name, True, "ad", t, y)
        t += 0.5
        block += 1
    mix = mix[: int((t + 1) * rate)]
    return mix, truth, parts


def ffprobe_duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(out.stdout.strip())
