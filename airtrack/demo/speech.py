"""Speech-like audio without a speech synthesiser.

Glottal pulses follow a pitch contour (declination per phrase, accents per syllable); each
syllable is a vowel (three formant resonators) with an amplitude envelope, often preceded
by a consonant (filtered noise burst). Syllables group into words and phrases separated by
pauses. It is not intelligible, but it has the spectral and temporal shape of a DJ talking.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from airtrack.demo.synth import F64, Audio, bandpass, fade, normalise

# (F1, F2, F3) in Hz for an adult male voice.
VOWELS: list[tuple[float, float, float]] = [
    (730, 1090, 2440),  # a
    (270, 2290, 3010),  # i
    (300, 870, 2240),  # u
    (530, 1840, 2480),  # e
    (570, 840, 2410),  # o
    (660, 1720, 2410),  # ae
    (500, 1500, 2500),  # schwa
    (440, 1020, 2240),  # oo
]
CONSONANTS: list[tuple[float, float, float]] = [  # (low Hz, high Hz, seconds)
    (3500, 8000, 0.09),  # s
    (1800, 5000, 0.08),  # sh
    (1200, 4000, 0.03),  # t/k burst
    (300, 1500, 0.03),  # b/d/g burst
    (700, 3500, 0.06),  # f/h
]


def _resonator(freq: float, bw: float, sr: int) -> tuple[F64, F64]:
    r = np.exp(-np.pi * bw / sr)
    theta = 2 * np.pi * freq / sr
    a = np.array([1.0, -2 * r * np.cos(theta), r * r])
    return np.array([1.0 - r]), a


def _glottal(f0: F64, sr: int) -> F64:
    """Glottal-flow-derivative-like pulse train following the contour ``f0`` (Hz per sample)."""
    phase = np.cumsum(f0) / sr % 1.0
    open_q = 0.6
    flow = np.where(phase < open_q, 0.5 * (1 - np.cos(np.pi * phase / open_q)), 0.0)
    flow = np.where(
        (phase >= open_q) & (phase < 0.8), np.cos(0.5 * np.pi * (phase - open_q) / 0.2), flow
    )
    return np.asarray(np.diff(flow, prepend=0.0))


def render_talk(seed: int, duration_s: float, sr: int = 22050) -> Audio:
    """``duration_s`` seconds of speech-like audio (float32 mono) from one voice per seed."""
    rng = np.random.default_rng([seed, 0x54_41_4C_4B])
    n = max(1, int(duration_s * sr))
    female = bool(rng.random() < 0.5)
    f0_base = rng.uniform(170, 230) if female else rng.uniform(90, 140)
    formant_scale = rng.uniform(1.1, 1.2) if female else rng.uniform(0.95, 1.05)
    rate = rng.uniform(3.5, 5.5)  # syllables per second
    out = np.zeros(n)
    t = float(rng.uniform(0.05, 0.3))
    while t < duration_s:
        phrase_s = float(rng.uniform(1.2, 3.5))
        t_end = min(t + phrase_s, duration_s)
        rise = bool(rng.random() < 0.25)  # a question-like ending
        while t < t_end:
            syl = float(rng.uniform(0.6, 1.4) / rate)
            start, length = int(t * sr), int(syl * sr)
            if start + length > n:
                break
            progress = (t - (t_end - phrase_s)) / phrase_s
            f0 = f0_base * (1.15 - 0.3 * progress + (0.35 * progress**3 if rise else 0.0))
            f0 *= 1.0 + 0.12 * (rng.random() < 0.3)  # accent
            pos = 0
            if rng.random() < 0.6:
                lo, hi, cs = CONSONANTS[int(rng.integers(len(CONSONANTS)))]
                cn = min(int(cs * sr), length // 2)
                burst = bandpass(rng.standard_normal(cn), lo, hi, sr) * np.hanning(cn)
                burst *= 0.04 / (float(np.sqrt(np.mean(burst**2))) + 1e-9)
                out[start : start + cn] += burst
                pos = cn
            vn = length - pos
            contour = f0 * np.linspace(1.0, rng.uniform(0.9, 1.08), vn)
            contour *= 1.0 + 0.01 * rng.standard_normal(vn).cumsum() / np.sqrt(np.arange(1, vn + 1))
            src = _glottal(contour, sr) + 0.002 * rng.standard_normal(vn)
            v1, v2 = VOWELS[int(rng.integers(len(VOWELS)))], VOWELS[int(rng.integers(len(VOWELS)))]
            glide = np.linspace(0.0, 1.0, vn)  # a diphthong: formants move from v1 to v2
            voiced = np.zeros(vn)
            for weight, vowel in ((1.0 - glide, v1), (glide, v2)):
                for f, bw, g in zip(vowel, (80, 100, 140), (1.0, 0.9, 0.45), strict=True):
                    b, a = _resonator(f * formant_scale * rng.uniform(0.95, 1.05), bw, sr)
                    voiced += weight * g * signal.lfilter(b, a, src)
            voiced *= 0.15 / (float(np.sqrt(np.mean(voiced**2))) + 1e-9)
            env = np.sin(np.pi * np.linspace(0, 1, vn)) ** 0.6
            out[start + pos : start + length] += voiced * env * rng.uniform(0.7, 1.0)
            t += syl + (rng.uniform(0.03, 0.12) if rng.random() < 0.3 else 0.0)  # word gaps
        t = t_end + float(rng.uniform(0.2, 0.7))
    return normalise(fade(out, sr, 0.01, 0.05), peak=0.7)
