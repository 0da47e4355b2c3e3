"""Small seeded synthetic 'songs' for fingerprint tests (notes with harmonics + percussion)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from airtrack.fingerprint import SAMPLE_RATE

SCALE = 220.0 * 2 ** (np.array([0, 2, 3, 5, 7, 8, 10, 12, 14, 15, 17, 19, 20, 22, 24]) / 12)


def song(seed: int, seconds: float = 40.0, rate: int = SAMPLE_RATE) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    out = np.zeros(n, np.float64)
    scale = SCALE * rng.uniform(0.7, 1.5)  # each song its own key and tempo
    tempo = rng.uniform(0.7, 1.4)
    t = 0.0
    while t < seconds:
        dur = float(rng.choice([0.15, 0.25, 0.35, 0.5])) * tempo
        i0, i1 = int(t * rate), min(n, int((t + dur * 1.5) * rate))
        tt = np.arange(i1 - i0) / rate
        env = np.exp(-tt * rng.uniform(3, 8))
        for _ in range(int(rng.integers(1, 3))):  # chords of 1–2 notes
            f0 = float(rng.choice(scale)) * (2 if rng.random() < 0.3 else 1)
            for h, amp in enumerate((1.0, 0.5, 0.3, 0.15), start=1):
                if f0 * h < rate / 2 - 100:
                    out[i0:i1] += amp * env * np.sin(2 * np.pi * f0 * h * tt + rng.uniform(0, 6))
        if rng.random() < 0.5:  # percussive noise burst
            m = min(n - i0, int(0.08 * rate))
            out[i0 : i0 + m] += 0.6 * rng.standard_normal(m) * np.exp(-np.arange(m) / (0.02 * rate))
        t += dur
    out /= np.sqrt(np.mean(out**2)) * 10
    return out.astype(np.float32)


def noise(x: npt.NDArray[np.float32], snr_db: float, seed: int) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    level = np.sqrt(np.mean(x.astype(np.float64) ** 2)) / 10 ** (snr_db / 20)
    return (x + rng.standard_normal(x.shape[0]) * level).astype(np.float32)


def resample_speed(x: npt.NDArray[np.float32], speed: float) -> npt.NDArray[np.float32]:
    """Played ``speed`` times fast (pitch and tempo together)."""
    import scipy.signal

    y = scipy.signal.resample_poly(x, 1000, round(1000 * speed))
    return y.astype(np.float32)
