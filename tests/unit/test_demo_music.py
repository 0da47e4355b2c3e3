"""Demo audio: songs are deterministic, distinct, music-like and fast; talk looks like speech."""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from airtrack.demo.music import render_jingle, render_song, render_talk, song_style

SR = 22050


def chroma(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """Per-frame pitch-class energy (12 × frames), each frame normalised."""
    f, _, z = signal.stft(x, fs=SR, nperseg=4096, noverlap=2048)
    p = np.abs(z) ** 2
    ok = (f > 60) & (f < 2000)
    pc = (np.round(12 * np.log2(f[ok] / 440.0)) % 12).astype(int)
    c = np.zeros((12, p.shape[1]))
    np.add.at(c, pc, p[ok])
    return c / (c.sum(axis=0, keepdims=True) + 1e-12)


@pytest.fixture(scope="module")
def songs() -> dict[int, npt.NDArray[np.float32]]:
    return {seed: render_song(seed, 30.0) for seed in range(6)}


def test_same_seed_gives_identical_samples(songs: dict[int, npt.NDArray[np.float32]]) -> None:
    again = render_song(3, 30.0)
    assert np.array_equal(again, songs[3])


def test_different_seeds_are_different_songs(songs: dict[int, npt.NDArray[np.float32]]) -> None:
    chromas = {s: chroma(x) for s, x in songs.items()}
    for a in songs:
        for b in songs:
            if a < b:
                r = np.corrcoef(chromas[a].ravel(), chromas[b].ravel())[0, 1]
                assert r < 0.5, (a, b, r)
    # Same song, same chroma: the measure can tell.
    assert np.corrcoef(chromas[1].ravel(), chroma(render_song(1, 30.0)).ravel())[0, 1] > 0.99


def test_songs_differ_in_key_tempo_and_form() -> None:
    styles = [song_style(np.random.default_rng([s, 0x50_4E_47]), SR) for s in range(20)]
    assert len({s.root for s in styles}) >= 6
    assert len({tuple(s.scale) for s in styles}) >= 3
    assert all(80 <= s.bpm <= 150 for s in styles)
    assert len({round(s.bpm) for s in styles}) >= 15
    assert len({tuple(s.progressions["chorus"]) for s in styles}) >= 6


def test_song_looks_like_music_not_a_tone(songs: dict[int, npt.NDArray[np.float32]]) -> None:
    x = songs[2]
    c = chroma(x)
    # Several pitch classes in use and the dominant one changes over time (melody, chords).
    assert (c.mean(axis=1) > 0.03).sum() >= 6
    assert len(set(np.argmax(c, axis=0).tolist())) >= 5
    # Rhythm: many onsets (spectral flux peaks) per second.
    _, _, z = signal.stft(x, fs=SR, nperseg=1024, noverlap=512)
    flux = np.maximum(np.diff(np.abs(z), axis=1), 0).sum(axis=0)
    peaks, _ = signal.find_peaks(flux, height=np.median(flux) * 2, distance=4)
    assert len(peaks) / 30.0 > 1.5
    # Broadband: energy in bass, mid and treble bands.
    f, p = signal.welch(x, fs=SR, nperseg=4096)
    for lo, hi in ((40, 250), (250, 2000), (2000, 8000)):
        assert p[(f >= lo) & (f < hi)].sum() / p.sum() > 0.005, (lo, hi)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31), duration=st.floats(0.05, 3.0))
def test_render_contract(seed: int, duration: float) -> None:
    for render in (render_song, render_talk, render_jingle):
        x = render(seed, duration, SR)
        assert x.dtype == np.float32
        assert len(x) == max(1, int(duration * SR))
        assert np.all(np.isfinite(x))
        assert np.max(np.abs(x)) <= 1.0


def test_three_minute_song_renders_fast() -> None:
    render_song(99, 1.0)  # warm caches and imports
    t = time.process_time()  # CPU time: other processes on the machine do not count
    x = render_song(7, 180.0)
    cpu = time.process_time() - t
    assert len(x) == 180 * SR
    assert cpu < 2.0, f"3-minute song took {cpu:.2f} s CPU"


def test_talk_is_speech_like() -> None:
    x = render_talk(5, 20.0).astype(np.float64)
    frame = SR // 100
    env = np.sqrt(np.mean(x[: len(x) // frame * frame].reshape(-1, frame) ** 2, axis=1))
    # Syllable-rate amplitude modulation: the envelope spectrum peaks at 2–8 Hz.
    spec = np.abs(np.fft.rfft(env - env.mean()))
    freqs = np.fft.rfftfreq(len(env), 1 / 100)
    band = (freqs > 0.5) & (freqs < 20)
    peak = freqs[band][np.argmax(spec[band])]
    assert 2.0 <= peak <= 8.0, peak
    # Pauses between phrases.
    assert np.mean(env < 0.05 * env.max()) > 0.08
    # Voice pitch: autocorrelation peak of a voiced stretch in 70–300 Hz.
    loud = int(np.argmax(env)) * frame
    seg = x[loud : loud + 2048]
    ac = np.correlate(seg, seg, "full")[len(seg) - 1 :]
    lag = np.argmax(ac[SR // 300 : SR // 70]) + SR // 300
    assert 70 <= SR / lag <= 300
    # Most energy below 4 kHz, as in speech.
    f, p = signal.welch(x, fs=SR, nperseg=2048)
    assert p[f < 4000].sum() / p.sum() > 0.8


def test_talk_and_jingles_differ_by_seed() -> None:
    assert not np.array_equal(render_talk(1, 3.0), render_talk(2, 3.0))
    assert np.array_equal(render_talk(1, 3.0), render_talk(1, 3.0))
    j1, j2 = render_jingle(1, 4.0), render_jingle(2, 4.0)
    assert not np.array_equal(j1, j2)
    assert np.sqrt(np.mean(j1**2)) > 0.02
