"""A song's style and melodic material: key, scale, tempo, progressions, timbres, motifs.

Every choice is drawn from the generator it is given, so one seed gives one style.
:mod:`airtrack.demo.parts` renders the parts from it; :mod:`airtrack.demo.music` arranges them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from airtrack.demo.synth import DrumKit, Timbre, drum_kit, midi_hz, random_timbre

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
class Style:
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


def hz(st: Style, note: float) -> float:
    return float(midi_hz(note + st.tune))


def song_style(rng: np.random.Generator, sr: int) -> Style:
    scale_name = str(rng.choice(list(SCALES)))
    picks = rng.choice(len(PROGRESSIONS), 3, replace=False)
    lead_verse = random_timbre(rng, attack=(0.005, 0.06), vibrato=bool(rng.random() < 0.6))
    lead_chorus = random_timbre(rng, attack=(0.003, 0.04), vibrato=bool(rng.random() < 0.5))
    styles = ["pad", "stabs", "arp"]
    return Style(
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


def pitch(style: Style, degree: int, octave: int = 0) -> int:
    """MIDI note of a scale degree (any integer) relative to the song's root."""
    o, d = divmod(degree, 7)
    return style.root + 12 * (o + octave) + style.scale[d]


def chord(style: Style, degree: int, sevenths: bool) -> list[int]:
    tones = [degree, degree + 2, degree + 4] + ([degree + 6] if sevenths else [])
    return [pitch(style, t) for t in tones]


def motif(rng: np.random.Generator, style: Style, chords: list[int]) -> list[tuple[int, int, int]]:
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


def vary(
    rng: np.random.Generator, motif: list[tuple[int, int, int]], amount: float
) -> list[tuple[int, int, int]]:
    return [
        (s, ln, d + int(rng.choice([-1, 1])) if rng.random() < amount else d) for s, ln, d in motif
    ]
