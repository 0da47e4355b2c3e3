"""Deterministic demo music: distinct songs, jingles (and talk, from :mod:`speech`) from a seed.

A song has a key and mode, a tempo (80–150 BPM), a verse/chorus/bridge form with its own
chord progressions, a melody built from motifs with rhythmic variety, a bass line, a
comping part (pads, stabs or arpeggios), a drum kit from shaped noise and a light room
reverb. Every choice is drawn from ``numpy.random.default_rng(seed)``, so the same seed
gives identical samples and different seeds give different songs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from airtrack.demo.catalog import SongSpec, demo_catalog, write_catalog
from airtrack.demo.speech import render_talk
from airtrack.demo.synth import (
    Audio,
    DrumKit,
    Timbre,
    drum_kit,
    fade,
    highpass,
    midi_hz,
    normalise,
    place,
    random_timbre,
    render_note,
    reverb,
)

__all__ = [
    "SongSpec",
    "demo_catalog",
    "render_jingle",
    "render_song",
    "render_talk",
    "write_catalog",
]

SCALES: dict[str, list[int]] = {
    "major": [0, 2, 4, 5, 7, 9, 11],
    "minor": [0, 2, 3, 5, 7, 8, 10],
    "dorian": [0, 2, 3, 5, 7, 9, 10],
    "mixolydian": [0, 2, 4, 5, 7, 9, 10],
    "harmonic minor": [0, 2, 3, 5, 7, 8, 11],
}
# Progressions as 0-based scale degrees.
PROGRESSIONS: list[list[int]] = [
    [0, 4, 5, 3],
    [0, 5, 3, 4],
    [5, 3, 0, 4],
    [0, 3, 4, 4],
    [0, 3, 5, 4],
    [1, 4, 0, 0],
    [0, 6, 5, 4],
    [0, 2, 3, 4],
    [3, 4, 2, 5],
    [0, 0, 3, 4],
    [5, 4, 3, 4],
    [0, 4, 1, 3],
]
# 16th-step drum patterns over one bar: (kick, snare, hat) strings.
DRUM_PATTERNS: list[tuple[str, str, str]] = [
    ("x.......x.......", "....x.......x...", "x.x.x.x.x.x.x.x."),
    ("x.....x...x.....", "....x.......x...", "x.x.x.x.x.x.x.x."),
    ("x..x....x.x.....", "....x.......x..x", "xxxxxxxxxxxxxxxx"),
    ("x.......x..x....", "....x.......x...", "..x...x...x...x."),
    ("x...x...x...x...", "....x.......x...", "x.xxx.xxx.xxx.xx"),
    ("x.....x.x.......", "....x..x....x...", "x.x.x.x.x.x.x.x."),
]
FORM = ["intro", "verse", "chorus", "verse", "chorus", "bridge", "chorus", "chorus", "outro"]
SECTION_BARS = {"intro": 4, "verse": 8, "chorus": 8, "bridge": 4, "outro": 4}


@dataclass(frozen=True)
class _Style:
    root: int
    scale: list[int]
    bpm: float
    progressions: dict[str, list[int]]
    lead: dict[str, Timbre]
    comp: Timbre
    comp_style: dict[str, str]
    bass: Timbre
    bass_pattern: str
    kit: DrumKit
    drum_pattern: tuple[str, str, str]
    density: float
    swing: float
    tune: float  # semitones off A440: each song sits in its own frequency bins


def _hz(st: _Style, note: float) -> float:
    return float(midi_hz(note + st.tune))


def _style(rng: np.random.Generator, sr: int) -> _Style:
    scale_name = str(rng.choice(list(SCALES)))
    picks = rng.choice(len(PROGRESSIONS), 3, replace=False)
    lead_verse = random_timbre(rng, attack=(0.005, 0.06), vibrato=bool(rng.random() < 0.6))
    lead_chorus = random_timbre(rng, attack=(0.003, 0.04), vibrato=bool(rng.random() < 0.5))
    styles = ["pad", "stabs", "arp"]
    return _Style(
        root=int(rng.integers(50, 62)),
        scale=SCALES[scale_name],
        bpm=float(rng.uniform(80, 150)),
        progressions={
            "verse": PROGRESSIONS[picks[0]],
            "chorus": PROGRESSIONS[picks[1]],
            "bridge": PROGRESSIONS[picks[2]],
        },
        lead={"verse": lead_verse, "chorus": lead_chorus, "bridge": lead_verse},
        comp=random_timbre(rng, n_harm=10, attack=(0.01, 0.2), sustain=(0.4, 0.9)),
        comp_style={
            "verse": str(rng.choice(styles)),
            "chorus": str(rng.choice(styles)),
            "bridge": str(rng.choice(styles)),
        },
        bass=random_timbre(rng, n_harm=6, attack=(0.003, 0.02), release=(0.03, 0.1)),
        bass_pattern=str(
            rng.choice(
                [
                    "x...x...x...x...",
                    "x.....x.x.......",
                    "x..x..x...x.x...",
                    "x.x.x.x.x.x.x.x.",
                    "x.......x...x.x.",
                ]
            )
        ),
        kit=drum_kit(rng, sr),
        drum_pattern=DRUM_PATTERNS[int(rng.integers(len(DRUM_PATTERNS)))],
        density=float(rng.uniform(0.35, 0.75)),
        swing=float(rng.choice([0.0, 0.0, 0.08, 0.15])),
        tune=float(rng.uniform(-0.45, 0.45)),
    )


def _pitch(style: _Style, degree: int, octave: int = 0) -> int:
    """MIDI note of a scale degree (any integer) relative to the song's root."""
    o, d = divmod(degree, 7)
    return style.root + 12 * (o + octave) + style.scale[d]


def _chord(style: _Style, degree: int, sevenths: bool) -> list[int]:
    tones = [degree, degree + 2, degree + 4] + ([degree + 6] if sevenths else [])
    return [_pitch(style, t) for t in tones]


def _motif(
    rng: np.random.Generator, style: _Style, chords: list[int]
) -> list[tuple[int, int, int]]:
    """A 2-bar melodic phrase on an 8th-note grid: (step, length in 8ths, scale degree)."""
    onsets = [0] + [s for s in range(1, 16) if rng.random() < style.density]
    notes: list[tuple[int, int, int]] = []
    degree = int(rng.choice([0, 2, 4])) + 7
    for i, step in enumerate(onsets):
        nxt = onsets[i + 1] if i + 1 < len(onsets) else 16
        length = max(1, nxt - step - int(rng.random() < 0.25))
        move = int(
            rng.choice(
                [-2, -1, -1, 0, 1, 1, 2, 3, -3, 4, -4],
                p=[0.1, 0.17, 0.17, 0.08, 0.17, 0.17, 0.06, 0.03, 0.03, 0.01, 0.01],
            )
        )
        degree = int(np.clip(degree + move, 3, 14))
        if step % 4 == 0:  # strong beats land on a chord tone
            root = chords[(step // 8) % len(chords)]
            tones = [root + k + 7 * o for k in (0, 2, 4) for o in (0, 1, 2)]
            degree = min(tones, key=lambda t: abs(t - degree))
        notes.append((step, length, degree))
    return notes


def _vary(
    rng: np.random.Generator, motif: list[tuple[int, int, int]], amount: float
) -> list[tuple[int, int, int]]:
    return [
        (s, ln, d + int(rng.choice([-1, 1])) if rng.random() < amount else d) for s, ln, d in motif
    ]


def render_song(seed: int, duration_s: float, sr: int = 22050) -> Audio:
    """A complete song of ``duration_s`` seconds (float32 mono in [-1, 1]) for ``seed``."""
    rng = np.random.default_rng([seed, 0x50_4E_47])
    st = _style(rng, sr)
    n = max(1, int(duration_s * sr))
    beat = 60.0 / st.bpm
    bar = 4 * beat
    lead, comp, bass = (np.zeros(n, dtype=np.float32) for _ in range(3))
    kicks: list[tuple[float, float]] = []
    snares: list[tuple[float, float]] = []
    hats: list[tuple[float, float]] = []
    crashes: list[tuple[float, float]] = []
    motifs: dict[str, list[tuple[int, int, int]]] = {}
    sevenths = bool(rng.random() < 0.4)
    t0, form_i = 0.0, 0
    while t0 < duration_s:
        name = FORM[form_i] if form_i < len(FORM) else ["verse", "chorus"][form_i % 2]
        form_i += 1
        prog = st.progressions.get(name, st.progressions["verse"])
        key = name if name in st.progressions else "verse"
        if key not in motifs:
            motifs[key] = _motif(rng, st, prog[:2])
            motifs[key + "b"] = _motif(rng, st, prog[2:])
        energy = {"intro": 0.5, "verse": 0.7, "chorus": 1.0, "bridge": 0.6, "outro": 0.5}[name]
        crashes.append((t0, energy))
        for b in range(SECTION_BARS[name]):
            tb = t0 + b * bar
            if tb >= duration_s:
                break
            chord_deg = prog[b % len(prog)]
            _comp_bar(
                comp,
                rng,
                st,
                st.comp_style.get(key, "pad"),
                chord_deg,
                tb,
                bar,
                sevenths,
                energy,
                sr,
            )
            _bass_bar(bass, rng, st, chord_deg, tb, beat, sr)
            _drum_bar(rng, st, tb, beat, energy, b == SECTION_BARS[name] - 1, kicks, snares, hats)
            if name in ("intro", "outro"):
                continue
            if b % 2 == 0:
                phrase = (b // 2) % 4
                base = motifs[key + ("b" if phrase == 2 else "")]
                m = _vary(rng, base, 0.15 * (phrase % 2) + 0.05)
                _melody(
                    lead,
                    st,
                    st.lead[key],
                    m,
                    tb,
                    beat,
                    1.0 if name == "chorus" else 0.8,
                    12 if name == "chorus" and st.root < 56 else 0,
                    sr,
                )
        t0 += SECTION_BARS[name] * bar
    drums = _drums(st.kit, kicks, snares, hats, crashes, n, sr)
    # In place, in float32: a 3-minute song must not cost hundreds of MB while rendering.
    mix = lead
    mix *= 0.9
    mix += 0.45 * comp
    del comp
    mix += 0.7 * bass
    del bass
    mix += 0.4 * drums
    del drums
    mix = reverb(mix, rng, sr, float(rng.uniform(0.25, 0.6)), float(rng.uniform(0.08, 0.25)))
    return normalise(fade(mix, sr, 0.02, min(2.0, duration_s / 4)))


def _comp_bar(
    out: Audio,
    rng: np.random.Generator,
    st: _Style,
    style: str,
    deg: int,
    tb: float,
    bar: float,
    sevenths: bool,
    energy: float,
    sr: int,
) -> None:
    notes = _chord(st, deg, sevenths)
    if style == "pad":
        for p in notes:
            render_note(
                out,
                int(tb * sr),
                int(bar * sr),
                _hz(st, p),
                0.35 * energy,
                st.comp,
                sr,
                float(rng.random()),
            )
    elif style == "stabs":
        for s in (0, 3, 6, 10, 12):
            for p in notes:
                render_note(
                    out,
                    int((tb + s * bar / 16) * sr),
                    int(bar / 16 * sr * 1.5),
                    _hz(st, p),
                    0.4 * energy,
                    st.comp,
                    sr,
                )
    else:  # arpeggio in 16ths over two octaves
        seq = notes + [p + 12 for p in notes]
        for s in range(16):
            p = seq[s % len(seq)] if (s // len(seq)) % 2 == 0 else seq[-1 - s % len(seq)]
            render_note(
                out,
                int((tb + s * bar / 16) * sr),
                int(bar / 16 * sr),
                _hz(st, p),
                0.4 * energy,
                st.comp,
                sr,
            )


def _bass_bar(
    out: Audio, rng: np.random.Generator, st: _Style, deg: int, tb: float, beat: float, sr: int
) -> None:
    root = _pitch(st, deg, -2 if st.root > 55 else -1)
    steps = [i for i, c in enumerate(st.bass_pattern) if c == "x"]
    for j, s in enumerate(steps):
        nxt = steps[j + 1] if j + 1 < len(steps) else 16
        p = (
            root
            + (7 if j % 4 == 3 and rng.random() < 0.5 else 0)
            + (12 if rng.random() < 0.1 else 0)
        )
        render_note(
            out,
            int((tb + s * beat / 4) * sr),
            int((nxt - s) * beat / 4 * sr * 0.9),
            _hz(st, p),
            0.8,
            st.bass,
            sr,
        )


def _drum_bar(
    rng: np.random.Generator,
    st: _Style,
    tb: float,
    beat: float,
    energy: float,
    fill: bool,
    kicks: list[tuple[float, float]],
    snares: list[tuple[float, float]],
    hats: list[tuple[float, float]],
) -> None:
    k, s, h = st.drum_pattern
    if fill:
        s = s[:12] + "".join("x" if rng.random() < 0.6 else "." for _ in range(4))
    for i in range(16):
        t = tb + i * beat / 4 + (st.swing * beat / 4 if i % 2 else 0.0) + rng.normal(0, 0.003)
        vel = float(rng.uniform(0.8, 1.0))
        if k[i] == "x" and energy > 0.55:
            kicks.append((t, vel))
        if s[i] == "x" and energy > 0.55:
            snares.append((t, vel * (0.7 if fill and i >= 12 else 1.0)))
        if h[i] == "x" and (energy >= 0.7 or i % 4 == 0):
            hats.append((t, vel * (1.0 if i % 4 == 0 else 0.6)))


def _drums(
    kit: DrumKit,
    kicks: list[tuple[float, float]],
    snares: list[tuple[float, float]],
    hats: list[tuple[float, float]],
    crashes: list[tuple[float, float]],
    n: int,
    sr: int,
) -> Audio:
    out = np.zeros(n, dtype=np.float32)
    for sample, hits, gain in (
        (kit.kick, kicks, 1.0),
        (kit.snare, snares, 0.8),
        (kit.hat, hats, 0.5),
        (kit.crash, crashes, 0.4),
    ):
        if hits:
            arr = np.array(hits)
            place(out, sample * gain, (arr[:, 0] * sr).astype(np.intp), arr[:, 1])
    return out


def _melody(
    out: Audio,
    st: _Style,
    timbre: Timbre,
    motif: list[tuple[int, int, int]],
    tb: float,
    beat: float,
    amp: float,
    octave_shift: int,
    sr: int,
) -> None:
    eighth = beat / 2
    for step, length, degree in motif:
        t = tb + step * eighth + (st.swing * eighth if step % 2 else 0.0)
        p = _pitch(st, degree) + octave_shift
        render_note(
            out,
            int(t * sr),
            int(length * eighth * sr),
            _hz(st, p),
            amp * (1.0 if step % 4 == 0 else 0.8),
            timbre,
            sr,
        )


def render_jingle(seed: int, duration_s: float, sr: int = 22050) -> Audio:
    """A station ident: whoosh, rising arpeggio, drum hit and a final chord with reverb."""
    rng = np.random.default_rng([seed, 0x4A_49_4E])
    st = _style(rng, sr)
    n = max(1, int(duration_s * sr))
    out = np.zeros(n, dtype=np.float32)
    whoosh_n = min(n, int(rng.uniform(0.6, 1.2) * sr))
    w = highpass(rng.standard_normal(whoosh_n), 1500, sr) * np.linspace(0, 1, whoosh_n) ** 2
    out[:whoosh_n] += 0.3 * w
    chord = _chord(st, 0, bool(rng.random() < 0.5))
    arp = [p + 12 * o for o in (0, 1) for p in chord] + [chord[0] + 24]
    step = min(0.12, 0.5 * duration_s / len(arp))
    lead = random_timbre(rng, attack=(0.002, 0.01))
    for i, p in enumerate(arp):
        render_note(
            out,
            int((whoosh_n / sr + i * step) * sr),
            int(step * sr),
            _hz(st, p),
            0.6,
            lead,
            sr,
        )
    t_hit = whoosh_n / sr + len(arp) * step
    stab_len = max(0.1, duration_s - t_hit)
    for p in chord:
        render_note(
            out, int(t_hit * sr), int(stab_len * 0.7 * sr), _hz(st, p + 12), 0.5, st.comp, sr
        )
    kit = drum_kit(rng, sr)
    hits = np.array([int(t_hit * sr)], dtype=np.intp)
    place(out, kit.kick + kit.crash[: len(kit.kick)], hits, np.ones(1))
    out = reverb(out, rng, sr, 0.8, 0.35)
    return normalise(fade(out, sr, 0.01, min(0.5, duration_s / 4)))
