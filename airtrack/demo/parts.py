"""The parts of a demo song, one bar or phrase at a time: comping, bass, drums, melody."""

from __future__ import annotations

import numpy as np

from airtrack.demo.style import Style, chord, hz, pitch
from airtrack.demo.synth import Audio, DrumKit, Timbre, place, render_note


def comp_bar(
    out: Audio,
    rng: np.random.Generator,
    st: Style,
    style: str,
    deg: int,
    tb: float,
    bar: float,
    sevenths: bool,
    energy: float,
    sr: int,
) -> None:
    notes = chord(st, deg, sevenths)
    if style == "pad":
        for p in notes:
            render_note(
                out,
                int(tb * sr),
                int(bar * sr),
                hz(st, p),
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
                    hz(st, p),
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
                hz(st, p),
                0.4 * energy,
                st.comp,
                sr,
            )


def bass_bar(
    out: Audio, rng: np.random.Generator, st: Style, deg: int, tb: float, beat: float, sr: int
) -> None:
    root = pitch(st, deg, -2 if st.root > 55 else -1)
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
            hz(st, p),
            0.8,
            st.bass,
            sr,
        )


def drum_bar(
    rng: np.random.Generator,
    st: Style,
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


def drum_track(
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


def melody(
    out: Audio,
    st: Style,
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
        p = pitch(st, degree) + octave_shift
        render_note(
            out,
            int(t * sr),
            int(length * eighth * sr),
            hz(st, p),
            amp * (1.0 if step % 4 == 0 else 0.8),
            timbre,
            sr,
        )
