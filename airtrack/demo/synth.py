"""Synthesis primitives for the demo audio: wavetables, envelopes, notes, drums, reverb.

Everything is vectorised numpy; callers own the random generators so results are
deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt
from scipy import signal

Audio = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

FA = TypeVar("FA", npt.NDArray[np.float64], npt.NDArray[np.float32])

TABLE_SIZE = 2048


def midi_hz(note: float | F64) -> F64:
    """Frequency of a MIDI note number (A4 = 69 = 440 Hz)."""
    return np.asarray(440.0 * 2.0 ** ((np.asarray(note, dtype=np.float64) - 69.0) / 12.0))


def wavetable(harmonics: F64) -> F64:
    """One cycle of a waveform whose k-th harmonic has amplitude ``harmonics[k-1]``."""
    phase = np.arange(TABLE_SIZE) / TABLE_SIZE
    k = np.arange(1, len(harmonics) + 1)[:, None]
    table = (harmonics[:, None] * np.sin(2 * np.pi * k * phase[None, :])).sum(axis=0)
    peak = float(np.max(np.abs(table))) or 1.0
    return np.asarray(table / peak)


@dataclass(frozen=True)
class Timbre:
    """An instrument: a bright and a dull wavetable, an envelope and a detune."""

    bright: F64
    dull: F64
    attack_s: float
    decay_s: float
    sustain: float
    release_s: float
    brightness_decay_s: float
    detune_cents: float
    vibrato_hz: float
    vibrato_cents: float


def random_timbre(
    rng: np.random.Generator,
    *,
    n_harm: int = 12,
    attack: tuple[float, float] = (0.003, 0.03),
    sustain: tuple[float, float] = (0.2, 0.8),
    release: tuple[float, float] = (0.05, 0.3),
    vibrato: bool = False,
) -> Timbre:
    """A random instrument; different draws sound (and look in a spectrogram) different."""
    k = np.arange(1, n_harm + 1, dtype=np.float64)
    rolloff = rng.uniform(0.7, 2.0)
    amps = k**-rolloff * rng.uniform(0.4, 1.0, n_harm)
    style = rng.integers(0, 3)
    if style == 1:  # hollow, clarinet-like: odd harmonics dominate
        amps[1::2] *= rng.uniform(0.05, 0.3)
    elif style == 2:  # nasal: a formant bump among the harmonics
        centre = rng.uniform(2, min(8, n_harm))
        amps *= 1.0 + 2.5 * np.exp(-0.5 * ((k - centre) / 1.2) ** 2)
    dull = amps * np.exp(-(k - 1) * rng.uniform(0.4, 1.2))
    return Timbre(
        bright=wavetable(amps),
        dull=wavetable(dull),
        attack_s=float(rng.uniform(*attack)),
        decay_s=float(rng.uniform(0.05, 0.4)),
        sustain=float(rng.uniform(*sustain)),
        release_s=float(rng.uniform(*release)),
        brightness_decay_s=float(rng.uniform(0.05, 0.6)),
        detune_cents=float(rng.uniform(0.0, 12.0)),
        vibrato_hz=float(rng.uniform(4.5, 6.5)) if vibrato else 0.0,
        vibrato_cents=float(rng.uniform(8.0, 25.0)) if vibrato else 0.0,
    )


def adsr(n_on: int, n_total: int, timbre: Timbre, sr: int) -> F64:
    """Attack-decay-sustain envelope for ``n_on`` samples, then release up to ``n_total``."""
    env = np.full(n_total, timbre.sustain)
    n_a = min(max(1, int(timbre.attack_s * sr)), n_total)
    env[:n_a] = np.arange(n_a) / n_a
    n_d = min(int(6 * timbre.decay_s * sr), n_total - n_a)
    if n_d > 0:
        td = np.arange(n_d) / (timbre.decay_s * sr)
        env[n_a : n_a + n_d] += (1 - timbre.sustain) * np.exp(-td)
    if n_total > n_on:
        level = env[n_on - 1] if n_on > 0 else 0.0
        tr = np.arange(1, n_total - n_on + 1) / (max(timbre.release_s / 4, 1e-3) * sr)
        env[n_on:] = level * np.exp(-tr)
    return env


def render_note(
    out: Audio,
    start: int,
    n_on: int,
    freq: float,
    amp: float,
    timbre: Timbre,
    sr: int,
    phase0: float = 0.0,
) -> None:
    """Add one note (two slightly detuned oscillators, bright→dull) into ``out``."""
    n_total = min(n_on + int(timbre.release_s * sr), len(out) - start)
    if n_total <= 0 or start < 0:
        return
    if timbre.vibrato_hz > 0:
        t = np.arange(n_total) / sr
        depth = np.minimum(t / 0.3, 1.0) * timbre.vibrato_cents / 1200.0
        cyc: F64 = np.cumsum(freq * 2.0 ** (depth * np.sin(2 * np.pi * timbre.vibrato_hz * t)))
        cyc /= sr
    else:
        cyc = np.arange(n_total, dtype=np.float64) * float(freq / sr)
    det = 2.0 ** (timbre.detune_cents / 1200.0)
    mask = TABLE_SIZE - 1
    idx1 = ((cyc + phase0) * TABLE_SIZE).astype(np.int64) & mask
    idx2 = ((cyc * det + phase0 + 0.31) * TABLE_SIZE).astype(np.int64) & mask
    sig = timbre.dull[idx1] + timbre.dull[idx2]
    # The bright part fades out; only compute it where it is audible.
    n_b = min(n_total, int(5 * timbre.brightness_decay_s * sr))
    if n_b > 0:
        diff = timbre.bright - timbre.dull
        mix = np.exp(-np.arange(n_b) / (timbre.brightness_decay_s * sr))
        sig[:n_b] += mix * (diff[idx1[:n_b]] + diff[idx2[:n_b]])
    sig *= adsr(min(n_on, n_total), n_total, timbre, sr)
    out[start : start + n_total] += (0.5 * amp) * sig


def one_pole_lowpass(x: F64 | Audio, cutoff_hz: float, sr: int) -> F64:
    """Cheap first-order low-pass."""
    a = float(np.exp(-2 * np.pi * cutoff_hz / sr))
    return np.asarray(signal.lfilter([1 - a], [1, -a], x))


def bandpass(x: F64, lo_hz: float, hi_hz: float, sr: int, order: int = 2) -> F64:
    """Butterworth band-pass (second-order sections)."""
    hi = min(hi_hz, 0.45 * sr)
    sos = signal.butter(order, [lo_hz, hi], btype="bandpass", fs=sr, output="sos")
    return np.asarray(signal.sosfilt(sos, x))


def highpass(x: F64, cutoff_hz: float, sr: int, order: int = 2) -> F64:
    sos = signal.butter(order, min(cutoff_hz, 0.45 * sr), btype="highpass", fs=sr, output="sos")
    return np.asarray(signal.sosfilt(sos, x))


@dataclass(frozen=True)
class DrumKit:
    kick: F64
    snare: F64
    hat: F64
    open_hat: F64
    crash: F64


def drum_kit(rng: np.random.Generator, sr: int) -> DrumKit:
    """Kick, snare, hats and crash from swept sines and shaped noise; a different kit per draw."""

    def decay(n_s: float, tau: float) -> tuple[F64, F64]:
        t = np.arange(int(n_s * sr)) / sr
        return t, np.exp(-t / tau)

    t, e = decay(0.45, rng.uniform(0.06, 0.14))
    f_hi, f_lo = rng.uniform(90, 160), rng.uniform(40, 60)
    sweep = f_lo + (f_hi - f_lo) * np.exp(-t / rng.uniform(0.02, 0.05))
    kick = np.sin(2 * np.pi * np.cumsum(sweep) / sr) * e
    kick[: int(0.004 * sr)] += rng.uniform(0.2, 0.5) * rng.standard_normal(int(0.004 * sr))

    t, e = decay(0.3, rng.uniform(0.05, 0.11))
    body = np.sin(2 * np.pi * rng.uniform(160, 240) * t) * np.exp(-t / 0.04)
    snap = bandpass(rng.standard_normal(len(t)), rng.uniform(1200, 2500), 7500, sr) * e
    snare = 0.8 * body + 0.8 * snap

    t, e = decay(0.08, rng.uniform(0.012, 0.03))
    hat = highpass(rng.standard_normal(len(t)), rng.uniform(5000, 7500), sr, 4) * e
    t, e = decay(0.4, rng.uniform(0.1, 0.2))
    open_hat = highpass(rng.standard_normal(len(t)), rng.uniform(4500, 6500), sr, 4) * e
    t, e = decay(1.6, rng.uniform(0.4, 0.8))
    crash = highpass(rng.standard_normal(len(t)), rng.uniform(3000, 5000), sr, 2) * e
    return DrumKit(kick, snare, 0.6 * hat, 0.5 * open_hat, 0.5 * crash)


def place(out: Audio, sample: F64, positions: npt.NDArray[np.intp], gains: F64) -> None:
    """Add ``sample`` at each position (scaled by its gain) into ``out``."""
    n = len(out)
    for pos, gain in zip(positions.tolist(), gains.tolist(), strict=True):
        if 0 <= pos < n:
            m = min(len(sample), n - pos)
            out[pos : pos + m] += gain * sample[:m]


def reverb(x: Audio, rng: np.random.Generator, sr: int, seconds: float, wet: float) -> Audio:
    """A cheap diffuse 'room': two cascaded sets of decaying taps (144 echoes), low-passed."""
    n = len(x)
    y = x
    for stage, span in enumerate((seconds * 0.15, seconds)):
        delays = np.sort(rng.uniform(0.005 if stage == 0 else 0.02, span, 12))
        gains = np.exp(-3.0 * delays / seconds) * rng.choice([-1.0, 1.0], 12)
        acc = np.zeros(n, dtype=np.float32)
        for d, g in zip((delays * sr).astype(int).tolist(), gains.tolist(), strict=True):
            if d < n:
                acc[d:] += g * y[: n - d]
        acc /= np.float32(np.sqrt(np.sum(gains**2)))
        y = acc
    wet_sig = one_pole_lowpass(y, float(rng.uniform(2500, 5000)), sr)
    x += (wet * wet_sig).astype(np.float32)
    return x


def normalise(x: F64 | Audio, peak: float = 0.89) -> Audio:
    """Scale to ``peak`` and return float32 in [-1, 1]."""
    m = float(np.max(np.abs(x))) if len(x) else 0.0
    y = x * (peak / m) if m > 0 else x
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def fade(x: FA, sr: int, fade_in_s: float, fade_out_s: float) -> FA:
    """Linear fade in/out, in place; returns ``x``."""
    n_in, n_out = min(int(fade_in_s * sr), len(x)), min(int(fade_out_s * sr), len(x))
    if n_in:
        x[:n_in] *= np.linspace(0.0, 1.0, n_in)
    if n_out:
        x[len(x) - n_out :] *= np.linspace(1.0, 0.0, n_out)
    return x
