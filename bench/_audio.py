"""Audio helpers for the recognition benchmark: decode, write, effects (numpy + ffmpeg/sox)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import scipy.signal

from airtrack.fingerprint.decode import decode

RATE = 22050
Audio = npt.NDArray[np.float32]

TOOLS = {"espeak-ng": "espeak-ng", "sox": "sox", "ffmpeg": "ffmpeg"}
MUSIC = {
    "fb-music-high": Path("/usr/share/games/frozen-bubble/snd"),
    "hyperrogue-music": Path("/usr/share/hyperrogue/music"),
}


def ensure_tools() -> None:
    """apt-get install whatever the benchmark needs and is missing (says so)."""
    missing = [pkg for exe, pkg in TOOLS.items() if shutil.which(exe) is None]
    missing += [pkg for pkg, folder in MUSIC.items() if not any(folder.glob("*.ogg"))]
    if missing:
        print(f"installing missing packages: {' '.join(missing)}", file=sys.stderr)
        sudo = [] if shutil.which("sudo") is None else ["sudo"]
        subprocess.run([*sudo, "apt-get", "install", "-y", *missing], check=True)


def load(path: str | Path, rate: int = RATE) -> Audio:
    return np.concatenate(list(decode(path, rate=rate, min_duration_s=0.0)))


def write_wav(path: Path, x: Audio, rate: int = RATE) -> None:
    pcm = (np.clip(x, -1.0, 1.0) * 32767).astype("<i2")
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def encode(src: Path, dst: Path, bitrate_k: int | None = None) -> None:
    args = ["ffmpeg", "-v", "error", "-y", "-i", str(src)]
    if bitrate_k:
        args += ["-b:a", f"{bitrate_k}k"]
    subprocess.run([*args, str(dst)], check=True)


def speech(text: str, work: Path, voice: str = "en", speed_wpm: int = 165) -> Audio:
    wav = work / "_speech.wav"
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed_wpm), "-w", str(wav), text], check=True
    )
    return load(wav)


def pitch_shift(x: Audio, cents: int, work: Path) -> Audio:
    """A 'cover': same tempo, other key (sox pitch)."""
    a, b = work / "_p_in.wav", work / "_p_out.wav"
    write_wav(a, x)
    subprocess.run(["sox", str(a), str(b), "pitch", str(cents)], check=True)
    return load(b)


def change_speed(x: Audio, speed: float) -> Audio:
    """Played ``speed`` times fast: pitch and tempo together (plain resampling)."""
    n = round(x.shape[0] / speed)
    up, down = 1000, round(1000 * speed)
    y = scipy.signal.resample_poly(x, up, down).astype(np.float32)
    return y[:n]


def rms(x: Audio) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-12))


def compress(
    x: Audio, threshold_db: float = -20.0, ratio: float = 4.0, makeup_db: float = 8.0
) -> Audio:
    """Broadcast-style compressor: RMS envelope (10 ms attack, 300 ms release) + limiter."""
    env = np.sqrt(
        scipy.signal.lfilter(
            [1 - np.exp(-1 / (0.05 * RATE))], [1, -np.exp(-1 / (0.05 * RATE))], x * x
        )
    )
    level = 20 * np.log10(env + 1e-6)
    over = np.maximum(0.0, level - threshold_db)
    gain_db = -over * (1 - 1 / ratio) + makeup_db
    gain = 10 ** (gain_db / 20)
    gain = scipy.signal.lfilter(
        [1 - np.exp(-1 / (0.3 * RATE))], [1, -np.exp(-1 / (0.3 * RATE))], gain
    )
    return np.tanh(x * gain).astype(np.float32)


def add_noise(x: Audio, snr_db: float, rng: np.random.Generator) -> Audio:
    """Pinkish noise at ``snr_db`` below the programme's RMS."""
    white = rng.standard_normal(x.shape[0]).astype(np.float32)
    pink = scipy.signal.lfilter(
        [0.049922, -0.095993, 0.050612, -0.004408], [1, -2.494956, 2.017265, -0.522189], white
    )
    pink = pink.astype(np.float32) * (rms(x) / rms(pink) / 10 ** (snr_db / 20))
    return (x + pink).astype(np.float32)
